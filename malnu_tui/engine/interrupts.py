"""Ctrl-C, SIGTERM and SIGHUP held back while a request that cannot be taken back is in flight.

A D1 Time Travel restore or import, once sent, runs on D1 whoever stops listening; it replaces
the tool's own tables too, which the tool then puts back (the audit trail written since the
restore point, the lock row). Ended half way by a signal, the command said "terminated" while
D1 went on and rewound the audit trail, with nothing left to put it back. Within
:func:`interrupts_held` the signals are only noted until the request has been answered and its
aftermath settled; then they are reported, not raised: the work they came too late to stop is
done. (Handlers, not a signal mask: a mask is per thread, and a signal sent to the process is
delivered to any thread not blocking it, such as the lock's lease renewer.)

The console runs the engine in worker threads, where no signal handler runs: its SIGHUP and
SIGTERM reach the work through :func:`stop_workers`, which raises in every thread within
:func:`stoppable` what the signal raises in the CLI's main thread (:class:`HungUp`,
:class:`Terminated`), so the same clean-up runs (a migration or restore rolled back, the run
recorded as interrupted, the lock released); a thread within :func:`interrupts_held` gets it
when the block ends, as the CLI does. A thread waiting where no Python line runs has that wait
ended too (:func:`on_stop`): its PostgreSQL statement cancelled, its SQLite one interrupted
(in the CLI as well: :func:`statements_interruptible`).
The console killed outright on SIGHUP left the run unrecorded and its lock row behind (on D1
blocking every host for the lease's 10 minutes).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import stat
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

__all__ = [
    "HeldInterrupts",
    "HungUp",
    "Terminated",
    "hurried",
    "ignored",
    "interrupts_held",
    "mute_gone_terminal",
    "statements_interruptible",
    "stop_for",
    "stop_workers",
    "stoppable",
    "watch_for_hangup",
]

# SIGHUP too: an SSH session dropped while D1 restores is the likeliest of the three.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, CI timeout, ``kill``) while a command runs: ended as Ctrl-C
    ends it (a running migration or restore rolled back, a scratch database dropped, the lock
    released, the run row written), then exit 143."""


class HungUp(Terminated):
    """SIGHUP: the operator's SSH session or terminal went away mid-command. Ended as SIGTERM
    ends it (it killed the process outright: a D1 restore in flight then lost the audit trail
    it would have put back), with nothing more said to the terminal that is gone; exit 129."""


def stop_for(signum: int) -> KeyboardInterrupt:
    """What ``signum`` raises where the work runs: Ctrl-C's KeyboardInterrupt, or its kin."""
    if signum == signal.SIGHUP:
        return HungUp()
    if signum == signal.SIGTERM:
        return Terminated()
    return KeyboardInterrupt()


def mute_gone_terminal(*, keys: bool = False) -> int | None:
    """After SIGHUP: what would still be written to the terminal that is gone (a clean-up's
    lines, the console's last frames) goes to /dev/null, where it failed half way (EIO).
    ``keys`` (the console's key reader): a terminal stdin is given a pipe without data, where
    the hung-up terminal reads as endless end-of-file, which the reader spins on; returned is
    the pipe's write end, to be closed as the reader is stopped (its read then ends)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    # (sys.__stdout__ too: the console's sys.stdout is Textual's capture, with no fileno)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is None:
            continue
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if _terminal(stream.fileno()):
                with contextlib.suppress(OSError):
                    stream.flush()
                os.dup2(devnull, stream.fileno())
    os.close(devnull)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if keys and sys.__stdin__ is not None and _terminal(sys.__stdin__.fileno()):
            quiet, end = os.pipe()
            os.dup2(quiet, sys.__stdin__.fileno())
            os.close(quiet)
            return end
    return None


def watch_for_hangup(fd: int, hung_up: Callable[[], object]) -> None:
    """Call ``hung_up`` (in a thread of its own) when the terminal on ``fd`` goes away, with or
    without the SIGHUP: an SSH client killed, its pty closed, while the console runs in a
    session of its own (``setsid``, a service's wrapper), gets no signal; its writes fail
    (EIO), its reads end (end-of-file), and the console spun on them for ever. A terminal
    that is gone is said at once by ``poll`` (its hangup); the watcher waits for nothing else
    (the keys are the key reader's)."""
    import select

    def watch() -> None:
        poller = select.poll()
        poller.register(fd, 0)  # (no event asked for: a hangup or an error is said anyway)
        while True:
            with contextlib.suppress(InterruptedError):
                if poller.poll():
                    break
        hung_up()

    threading.Thread(target=watch, name="malnu-hangup", daemon=True).start()


def ignored(signum: int) -> bool:
    """``signum`` is ignored: the operator asked for it (``nohup``: a long sync or backup that
    is to outlive the SSH session), which no handler of ours is to undo."""
    return signal.getsignal(signum) is signal.SIG_IGN


def _terminal(fd: int) -> bool:
    """``fd`` is a terminal, or was one: a hung-up terminal is no tty to ``isatty`` (its
    attributes cannot be read), but it is still the character device it was."""
    return os.isatty(fd) or stat.S_ISCHR(os.fstat(fd).st_mode)


@dataclass
class HeldInterrupts:
    """The interrupts that came while held (``came``: any)."""

    signals: list[int] = field(default_factory=list)

    @property
    def came(self) -> bool:
        return bool(self.signals)


@contextlib.contextmanager
def interrupts_held(
    *, second_ends: bool = False, hurries: bool = False
) -> Iterator[HeldInterrupts]:
    """Note SIGINT, SIGTERM and SIGHUP during the block instead of acting on them (main thread
    only: elsewhere Python runs no handler anyway). A block that ends normally has them
    reported in ``came``; a block that raises gets the first one re-raised once the usual
    handlers are back, so it ends the command as usual. ``second_ends``: a second one is
    raised where it lands (a block of clean-up after the work is done, which may wait on a
    network that no longer answers: an import's run row and lock release to a D1 gone
    silent sat through minutes of retries with every Ctrl-C held). ``hurries``: once one is
    held, :func:`hurried` says so until the block ends (D1's client then tries each request
    once, briefly: an import's clean-up after its COMMIT sat through each request's six tries
    of up to 60 s on one SIGTERM, and systemd's SIGKILL came first). Not Time Travel's hold:
    the restore's aftermath is to be settled, however long it takes."""
    held = HeldInterrupts()
    if threading.current_thread() is not threading.main_thread():
        with _holding(held):
            yield held
        return
    raised = [False]

    def note(signum: int, _frame: FrameType | None) -> None:
        if second_ends and held.signals and not raised[0]:
            raised[0] = True  # (raised here: not again as the block ends)
            raise stop_for(signum)
        held.signals.append(signum)
        if _MAIN_HURRY[0]:
            _MAIN_HURRY[1] = True

    # (one ignored stays so: `nohup`'s SIGHUP, a background job's SIGINT)
    before = {s: signal.signal(s, note) for s in _INTERRUPTS if not ignored(s)}
    ok = False
    _MAIN_HELD[0] += 1  # (no SQLite statement of it interrupted: statements_interruptible)
    _MAIN_HURRY[0] += hurries
    try:
        yield held
        ok = True
    finally:
        _MAIN_HELD[0] -= 1
        _MAIN_HURRY[0] -= hurries
        if not _MAIN_HURRY[0]:
            _MAIN_HURRY[1] = False
        for s, handler in before.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        if not ok and held.signals and not raised[0]:
            signal.raise_signal(held.signals[0])


# The main thread's holds that hurry (how deep), and whether one of them has held a signal.
_MAIN_HURRY: list[int] = [0, False]


def hurried() -> bool:
    """A signal is held by a hold that ``hurries`` (:func:`interrupts_held`): the command is to
    end as soon as its clean-up is done, each request of it tried once, briefly."""
    return bool(_MAIN_HURRY[1])


@dataclass
class _Work:
    """A thread within :func:`stoppable`: the :func:`interrupts_held` block it is in, if any,
    and whether a stop was delivered (once: a second one would cut its clean-up short)."""

    held: HeldInterrupts | None = None
    stopped: bool = False
    owner: object = None  # whose work it is (the console's screen): stopped alone by its key
    cancels: list[Callable[[], Callable[[], object] | None]] = field(default_factory=list)
    at_once: list[Callable[[], Callable[[], object] | None]] = field(default_factory=list)


# The threads within stoppable(), by ident; changed under _LOCK, with each stop delivered.
_STOPPABLE: dict[int, _Work] = {}
_LOCK = threading.Lock()
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


@contextlib.contextmanager
def stoppable(owner: object = None) -> Iterator[None]:
    """Engine work in a thread that :func:`stop_workers` may stop (the console's workers);
    ``owner``: the one it is stopped with alone (the console's stop key, its screen's run)."""
    ident = threading.get_ident()
    with _LOCK:
        _STOPPABLE[ident] = _Work(owner=owner)
    try:
        yield
    finally:
        with _LOCK:
            _STOPPABLE.pop(ident, None)
            _set_async_exc(ident, ctypes.py_object())  # one that came too late: dropped


def stops_done() -> None:
    """Within :func:`stoppable`: the work is done (the console's run: every migration in, the
    outcome to show). A stop delivered before is raised here at the latest; none is after:
    one confirmed as the run ended was raised after its run row and said "rolled back" of a
    run wholly applied, or lost its result for a bare "stopped"."""
    with _LOCK:
        work = _STOPPABLE.get(threading.get_ident())
        if work is not None:
            work.stopped = True


@contextlib.contextmanager
def _holding(held: HeldInterrupts) -> Iterator[None]:
    """:func:`interrupts_held` in a worker: stops are noted in ``held`` during the block."""
    with _LOCK:
        work = _STOPPABLE.get(threading.get_ident())
        if work is not None:
            work.held = held
    ok = False
    try:
        yield
        ok = True
    finally:
        if work is not None:
            with _LOCK:
                work.held = None
        if not ok and held.signals:
            raise stop_for(held.signals[0])


def on_stop(cancel: Callable[[], Callable[[], object] | None], *, at_once: bool = False) -> None:
    """Within :func:`stoppable`: when the work is stopped, ``cancel`` is asked (at once, before
    the stop is raised: no server asked) for what waits where no Python line runs to take the
    stop: a PostgreSQL statement in flight (``pg_sleep``, a long UPDATE), which the callable
    it returns asks the server to cancel (from another thread), as psycopg asks it on the
    CLI's Ctrl-C; None when nothing waits (sent anyway, the cancel hit the clean-up's own
    statement: the run row or the lock's release). ``at_once``: the callable returned takes
    no time (SQLite's ``interrupt``) and is called in the stopping thread right after the stop
    is raised there, before that thread can run a line of its clean-up (it is called holding
    the GIL): a SQLite statement ended by it is one that ran as the stop came, never one of
    the clean-up's. Elsewhere (the CLI) nothing."""
    with _LOCK:
        work = _STOPPABLE.get(threading.get_ident())
        if work is not None:
            (work.at_once if at_once else work.cancels).append(cancel)
        elif at_once and _MAIN is not None and threading.current_thread() is _MAIN[0]:
            # (weakly: a command that runs for days, `monitor`, opens connections by the 1000)
            _MAIN[1][:] = [ref for ref in _MAIN[1] if ref() is not None]
            _MAIN[1].append(weakref.WeakMethod(cancel))  # type: ignore[arg-type]


# The CLI's main thread within statements_interruptible(): its SQLite connections' at-once
# cancels; and how deep it is in interrupts_held() blocks.
_MAIN: (
    tuple[threading.Thread, list[weakref.WeakMethod[Callable[[], Callable[[], object] | None]]]]
    | None
) = None
_MAIN_HELD = [0]


@contextlib.contextmanager
def statements_interruptible(stopping: Callable[[], bool]) -> Iterator[None]:
    """The CLI's command (main thread, its signal handlers set): a signal that comes while it
    runs a SQLite statement ends the statement, where the handler would run only at the next
    Python line, once the statement was done (Ctrl-C and SIGTERM waited minutes for a big
    UPDATE). Python's wakeup fd tells a thread of the signal at once, which interrupts the
    statement running then, unless the main thread is within :func:`interrupts_held` or
    already ``stopping()`` (a second signal: the clean-up's statement is left be)."""
    global _MAIN
    main = threading.current_thread()
    if main is not threading.main_thread() or _MAIN is not None:
        yield
        return
    told, tell = os.pipe()
    os.set_blocking(tell, False)
    try:
        before = signal.set_wakeup_fd(tell, warn_on_full_buffer=False)
    except ValueError:  # (not the main interpreter)
        os.close(told)
        os.close(tell)
        yield
        return
    cancels: list[weakref.WeakMethod[Callable[[], Callable[[], object] | None]]] = []

    def watch() -> None:
        try:
            while came := os.read(told, 64):
                with _LOCK:
                    # (another signal a handler takes, an alarm, stops nothing)
                    if stopping() or _MAIN_HELD[0] or not set(came) & set(_INTERRUPTS):
                        continue
                    _cancel(_in_flight([c for ref in cancels if (c := ref()) is not None]))
        finally:
            os.close(told)

    with _LOCK:
        _MAIN = (main, cancels)
    threading.Thread(target=watch, name="malnu-signals", daemon=True).start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(before)
        with _LOCK:
            _MAIN = None
        os.close(tell)  # (the watcher's read ends)


def _in_flight(
    cancels: list[Callable[[], Callable[[], object] | None]],
) -> list[Callable[[], object]]:
    sends: list[Callable[[], object]] = []
    for cancel in cancels:
        with contextlib.suppress(Exception):
            send = cancel()
            if send is not None:
                sends.append(send)
    return sends


def _cancel(cancels: list[Callable[[], object]]) -> None:
    for cancel in cancels:
        with contextlib.suppress(Exception):
            cancel()


def stop_workers(signum: int, owner: object = None) -> int:
    """Stop the work of every thread within :func:`stoppable` as ``signum`` stops the CLI's
    command: the exception it raises there is raised in each, once, at its next Python line
    (a database call in progress ends first, as in the CLI); one within
    :func:`interrupts_held` has it noted instead. ``owner``: only its work (the console's
    stop key: SIGINT, Ctrl-C's KeyboardInterrupt). Returns how many threads still work (the
    ones stopped earlier included: their clean-up may still run)."""
    with _LOCK:
        mine = {i: w for i, w in _STOPPABLE.items() if owner is None or w.owner is owner}
        for ident, work in mine.items():
            if work.stopped:
                continue
            work.stopped = True
            if work.held is not None:
                work.held.signals.append(signum)
                continue
            sends = _in_flight(work.cancels)  # (before the stop: its clean-up's not among them)
            now = _in_flight(work.at_once)
            _set_async_exc(ident, ctypes.py_object(type(stop_for(signum))))
            # A SQLite statement ends at once, and the worker, waiting for the GIL held here,
            # then meets the stop at its first Python line: it was stopped only once the
            # statement had run to its end (a big UPDATE: minutes).
            _cancel(now)
            if sends:  # (a cancel waits on the server: not in the caller's thread)
                threading.Thread(target=_cancel, args=(sends,), daemon=True).start()
        return len(mine)
