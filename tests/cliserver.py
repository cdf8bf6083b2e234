"""The CLI as a real process without paying the interpreter's start-up each time: a fork server.

Most of a ``python -m malnu_tui …`` run in the tests was spent starting Python and importing the
CLI, psycopg, httpx and sqlglot (0.2–0.6 s of CPU a run, over a thousand runs a suite). One server
per test process (``python -m tests.cliserver``, started on first use) imports them once and
never runs anything itself; for each run it forks a child that takes the caller's stdin, stdout
and stderr (passed over a unix socket), environment, working directory and arguments, and runs
``malnu_tui``'s ``__main__`` as ``python -m`` would: ``SystemExit``, an uncaught exception's
traceback, non-daemon threads and ``atexit`` handlers at the end, the exit status as
``subprocess`` reports it (``-N`` for a signal). The child is a process of its own (its pid,
its file descriptors, signals, its own lock holder); only the imports are done before it starts.

Used by :func:`tests.fixtures_core.run_cli` (a run to its end) and ``popen_cli`` (a run left
running, that tests signal or kill: :class:`Started`; every test signals it after a point it
waits for, never during its start-up). Runs whose start-up itself is under test get a fresh
interpreter: a call whose environment changes how Python starts (``PYTHON*``, the locale), and
every run when ``MALNU_TEST_FRESH_CLI=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import locale
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# What a CLI run imports anyway, imported once in the server. Packages only, as the CLI imports
# them: what they register on import (the lint rules…) is registered in the same order.
PRELOAD = (
    "malnu_tui.cli",
    "malnu_tui.cli.backup",
    "malnu_tui.cli.data",
    "malnu_tui.cli.d1",
    "malnu_tui.cli.migrate",
    "malnu_tui.cli.monitor",
    "malnu_tui.cli.output",
    "malnu_tui.cli.parity",
    "malnu_tui.cli.safety",
    "malnu_tui.cli.sync",
    "malnu_tui.engine.migrate",
    "malnu_tui.engine.lint.core",
    "malnu_tui.engine.plan_diff",
    "malnu_tui.engine.backends.postgresql",
    "malnu_tui.engine.backends.d1.backend",
    "psycopg",
    "httpx",
    "sqlglot",
    "rich.console",
    "rich.table",
    # Imported by most runs after their arguments are read (a run's target, its lock, its
    # history, a D1 client's transport): ~0.1-0.2 s of a child's CPU each under load. Their
    # import reads nothing of the run (environment, directory, clock, umask); the data
    # package stays out (csvsource sets csv.field_size_limit on import, which a run that
    # never imports it must not inherit).
    "malnu_tui.engine.config",
    "malnu_tui.engine.recover_state",
    "malnu_tui.engine.backends.sqlite",
    "malnu_tui.engine.backends.other_runners",
    "malnu_tui.engine.preflight",
    "malnu_tui.engine.safety",
    "malnu_tui.engine.histories",
    "malnu_tui.engine.backends.d1.wrangler",
    "malnu_tui.engine.lint.target",
    "malnu_tui.engine.backup.core",
    "malnu_tui.cli.paced",
    "malnu_tui.engine.config_sections",
    "malnu_tui.engine.interrupts",
    "malnu_tui.engine.backends.d1.timetravel",
    "malnu_tui.engine.backends.d1.dumpfile",
    # What sync, import, check/doctor, parity, test/rehearse and recover import after their
    # arguments are read: 0.1-0.3 s of a child's CPU per run under load (a failing `sync` paid
    # its whole engine's import before its first connect). The data package's modules without
    # csvsource (its csv.field_size_limit stays the run's own); none reads the environment,
    # the clock, the directory or the umask on import, none starts a thread.
    "malnu_tui.engine.sync.whole_run",
    "malnu_tui.engine.sync.destnames",
    "malnu_tui.engine.sync.references",
    "malnu_tui.engine.sync.copyrows",
    "malnu_tui.engine.sync.compare",
    "malnu_tui.engine.sync.watermark",
    "malnu_tui.engine.sync.problems",
    "malnu_tui.engine.sync.pairs",
    "malnu_tui.engine.sync.relations",
    "malnu_tui.engine.again",
    "malnu_tui.engine.data.writers",
    "malnu_tui.engine.data.report",
    "malnu_tui.engine.data.tablesource",
    "malnu_tui.engine.data.rejects",
    "malnu_tui.engine.monitor.reading",
    "malnu_tui.engine.monitor.checks",
    "malnu_tui.engine.monitor.doctor",
    "malnu_tui.engine.monitor.health",
    "malnu_tui.engine.parity.check",
    "malnu_tui.engine.scratch_pg",
    "malnu_tui.engine.stairway",
    "malnu_tui.engine.rehearse",
    "malnu_tui.engine.backup.restore",
    "malnu_tui.engine.backup.recover_trail",
    # What every run imports (its entry, its switches, the rerun hint, pwd), a debug log
    # (logging.handlers), a BOM-aware read (utf_8_sig), PostgreSQL backups (pg_dump/pg_restore
    # and the dump's reading), the sync's sides and its run, the alerts of `check --alert`, a
    # recover: all without import-time effects. left_behind stays out (it hashes the host
    # name on import).
    "malnu_tui.entry",
    "malnu_tui.engine.switches",
    "malnu_tui.engine.rerun",
    "pwd",
    "logging.handlers",
    "encodings.utf_8_sig",
    "malnu_tui.engine.backends.pg_concurrent",
    "malnu_tui.engine.backends.supabase_history",
    "malnu_tui.engine.backup.postgresql",
    "malnu_tui.engine.backup.pg_restore",
    "malnu_tui.engine.backup.pg_check",
    "malnu_tui.engine.backup.pg_listing",
    "malnu_tui.engine.backup.pg_needs",
    "malnu_tui.engine.backup.recover",
    "malnu_tui.engine.backup.native_recover",
    "malnu_tui.engine.backup.retention",
    "malnu_tui.engine.backends.d1.backup",
    "malnu_tui.engine.sync.run",
    "malnu_tui.engine.sync.side_sqlite",
    "malnu_tui.engine.sync.side_postgres",
    "malnu_tui.engine.sync.side_d1",
    "malnu_tui.engine.sync.left_open",
    "malnu_tui.engine.sync.readonly",
    "malnu_tui.engine.data.pgcopy",
    "malnu_tui.engine.monitor.incidents",
    "malnu_tui.engine.monitor.alerts",
    "malnu_tui.engine.live_guard",
    "platformdirs",
    "tomllib",
    "httpcore",
    "encodings.idna",
)

PACKAGE = Path(__file__).resolve().parent.parent / "malnu_tui"

# Read by Python itself as it starts (SQLITE_TMPDIR: by SQLite, once, as it initialises in
# the server): a run that sets one of these differently gets its own interpreter.
STARTUP_KEYS = ("PYTHON", "LC_", "LANG", "SQLITE_TMPDIR")


def _startup_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(STARTUP_KEYS)}


# ---------------------------------------------------------------------------------------------
# The server (``python -m tests.cliserver SOCKET``)


def _child(request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become ``python -m malnu_tui ARGS`` and never return."""
    code = 1
    interrupted = False
    try:
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        time.tzset()
        os.chdir(str(request["cwd"]))
        umask = request.get("umask")
        if isinstance(umask, int):  # the caller's, as a process it started would inherit
            os.umask(umask)
        args = request["args"]
        assert isinstance(args, list)
        import runpy

        sys.argv = ["-m", *args]  # runpy puts __main__.py's path first, as python -m does
        try:
            runpy.run_module("malnu_tui", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException as exc:
            import traceback

            traceback.print_exc()
            code = 1
            interrupted = isinstance(exc, KeyboardInterrupt)
        threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads, as at exit
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                code = 120  # what Python exits with when flushing stdout fails
        if interrupted:  # as Python ends on an uncaught KeyboardInterrupt: killed by SIGINT
            import signal

            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        os._exit(code)


def serve(path: str) -> None:
    """Accept runs on the unix socket ``path`` until stdin (the test process) closes."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin, selectors.EVENT_READ, "parent")
    print("ready", flush=True)
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    while True:
        for key, _ in sel.select():
            if key.data == "parent":
                return  # the test process is gone: children finish on their own
            if key.data == "accept":
                conn, _ = listener.accept()
                msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
                while not msg.endswith(b"\n"):
                    msg += conn.recv(1 << 20)
                request = json.loads(msg)
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    for _, other in running.values():
                        other.close()
                    _child(request, fds)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, conn)
                sel.register(pidfd, selectors.EVENT_READ, "child")
                conn.sendall(f"{pid}\n".encode())
            else:
                pidfd = key.fd
                pid, conn = running.pop(pidfd)
                sel.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):
                    conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                conn.close()


# ---------------------------------------------------------------------------------------------
# The client (in the test process)


class _Server:
    def __init__(self, prefix: Sequence[str] = ()) -> None:
        self.dir = tempfile.mkdtemp(prefix="malnu-cliserver-")
        self.path = str(Path(self.dir) / "s")
        repo = Path(__file__).resolve().parent.parent
        self.env = dict(os.environ)
        self.owner = os.getpid()  # a forked test process starts its own
        self.sources = _sources()  # taken before the imports: an edit during them counts
        log = Path(self.dir) / "log"
        with log.open("wb") as errors:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "tests.cliserver", self.path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                cwd=repo,
                env=self.env,
            )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != b"ready\n":
            self.proc.wait()
            said = log.read_text(errors="replace")
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError(f"the CLI fork server did not start:\n{said}")
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_server: _Server | None = None
_server_lock = threading.Lock()


def _sources() -> tuple[int, int]:
    """(how many, newest change) of the package's files: a fresh process imports them as
    they are now, so a server that imported older ones is replaced (an edit or a `git merge`
    during a test session would otherwise mix old preloaded modules with new lazy ones)."""
    stamps = [
        os.stat(os.path.join(folder, name)).st_mtime_ns
        for folder, _dirs, names in os.walk(PACKAGE)
        if os.path.basename(folder) != "__pycache__"  # (bytecode, and its writers' temp files)
        for name in names
        if not name.endswith(".pyc")
    ]
    return len(stamps), max(stamps, default=0)


def _get_server() -> _Server:
    global _server
    with _server_lock:
        if (
            _server is None
            or _server.owner != os.getpid()
            or _server.proc.poll() is not None
            or _server.sources != _sources()
        ):
            if _server is not None and _server.owner == os.getpid():
                _server.close()
            _server = _Server()
        return _server


@contextlib.contextmanager
def behind(prefix: Sequence[str]) -> Iterator[_Server]:
    """A fork server of the caller's own, started behind ``prefix`` (a command that starts it:
    ``setpriv`` without the capabilities that override file modes): ``run(…, server=)`` forks
    its runs from it, each as that command would start a fresh one, without paying the
    interpreter's start-up each time; stopped at the end of the block."""
    server = _Server(prefix)
    try:
        yield server
    finally:
        server.close()


def usable(env: dict[str, str]) -> bool:
    """Whether a run with environment ``env`` can be forked from the server."""
    if os.environ.get("MALNU_TEST_FRESH_CLI") == "1":
        return False
    server = _server
    base = server.env if server is not None else os.environ
    return _startup_env(env) == _startup_env(dict(base))


def _umask() -> int:
    """This process's umask, read without setting it (another thread may be making a file)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise RuntimeError("no Umask line in /proc/self/status")


def run(
    args: list[str],
    env: dict[str, str],
    input: str,
    timeout: float,
    cwd: Path,
    server: _Server | None = None,
) -> tuple[int, str, str]:
    """``python -m malnu_tui ARGS`` forked from the server (``server``: one of :func:`behind`):
    (exit code, stdout, stderr), text decoded as ``subprocess.run(text=True)`` does. Raises
    ``subprocess.TimeoutExpired`` (the child killed) as it does."""
    server = server or _get_server()
    if _startup_env(env) != _startup_env(server.env):
        raise ValueError("this environment needs a fresh interpreter")
    deadline = time.monotonic() + timeout
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(server.path)
        request = {"args": args, "env": env, "cwd": str(cwd), "umask": _umask()}
        request_line = json.dumps(request).encode() + b"\n"
        socket.send_fds(sock, [request_line], [in_r, out_w, err_w])
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    answers = sock.makefile("rb")
    pid = int(answers.readline())
    writer = threading.Thread(target=_feed, args=(in_w, input.encode()), daemon=True)
    writer.start()
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    sel = selectors.DefaultSelector()
    for fd in chunks:
        sel.register(fd, selectors.EVENT_READ)
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            ready = sel.select(max(left, 0)) if left > 0 else []
            if not ready:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
                raise subprocess.TimeoutExpired(["malnu_tui", *args], timeout)
            for key, _ in ready:
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            code = int(answers.readline())
        except (TimeoutError, ValueError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            raise subprocess.TimeoutExpired(["malnu_tui", *args], timeout) from None
    finally:
        sel.close()
        answers.close()
        sock.close()
        os.close(out_r)
        os.close(err_r)
        writer.join(timeout=5)
    encoding = locale.getpreferredencoding(False)
    return code, _text(b"".join(chunks[out_r]), encoding), _text(b"".join(chunks[err_r]), encoding)


class Started:
    """``python -m malnu_tui ARGS`` forked from the server and left running, stdin on
    ``/dev/null``, stdout and stderr piped: what tests use of a ``subprocess.Popen(text=True)``
    (``pid``, ``stdout``, ``stderr``, ``poll``, ``wait``, ``communicate``, ``send_signal``,
    ``terminate``, ``kill``, ``returncode``). The child is a process of its own: signals sent
    to ``pid`` reach it, its exit status is the server's ``waitpid``'s (``-N`` for a signal)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        server = _get_server()
        if _startup_env(env) != _startup_env(server.env):
            raise ValueError("this environment needs a fresh interpreter")
        self.args = ["malnu_tui", *args]
        self.returncode: int | None = None
        self.stdin = None
        self._answers = b""
        self._readers: list[threading.Thread] = []
        self._read: dict[str, str] = {}
        devnull = os.open(os.devnull, os.O_RDONLY)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(server.path)
            request = {"args": args, "env": env, "cwd": str(cwd), "umask": _umask()}
            line = json.dumps(request).encode() + b"\n"
            socket.send_fds(self._sock, [line], [devnull, out_w, err_w])
        finally:
            for fd in (devnull, out_w, err_w):
                os.close(fd)
        encoding = locale.getpreferredencoding(False)
        # Text with universal newlines, as subprocess.Popen(text=True) gives it.
        self.stdout = open(out_r, encoding=encoding)  # noqa: SIM115 (closed by communicate)
        self.stderr = open(err_r, encoding=encoding)  # noqa: SIM115
        pid = self._line(None)
        assert pid is not None
        self.pid = int(pid)

    def _line(self, timeout: float | None) -> str | None:
        """The server's next answer line, or None when none came within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._answers:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            ready, _, _ = select.select([self._sock], [], [], left)
            if not ready:
                return None
            data = self._sock.recv(64)
            if not data:
                raise RuntimeError("the CLI fork server went away")
            self._answers += data
        line, self._answers = self._answers.split(b"\n", 1)
        return line.decode()

    def poll(self) -> int | None:
        if self.returncode is None:
            line = self._line(0)
            if line is not None:
                self.returncode = int(line)
                self._sock.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            line = self._line(timeout)
            if line is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.returncode = int(line)
            self._sock.close()
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # as Popen: never a pid the server has reaped
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """The rest of stdout and stderr (read to their end) and the exit status; on
        ``TimeoutExpired`` a later call goes on where this one stopped, as Popen's does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._readers:
            for name, stream in (("out", self.stdout), ("err", self.stderr)):
                reader = threading.Thread(target=self._read_all, args=(name, stream), daemon=True)
                reader.start()
                self._readers.append(reader)
        for reader in self._readers:
            reader.join(None if deadline is None else max(deadline - time.monotonic(), 0))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(deadline - time.monotonic(), 0))
        for stream in (self.stdout, self.stderr):
            stream.close()
        return self._read.get("out", ""), self._read.get("err", "")

    def _read_all(self, name: str, stream: io.TextIOWrapper) -> None:
        self._read[name] = stream.read()


def start(args: list[str], env: dict[str, str], cwd: Path) -> Started:
    """``python -m malnu_tui ARGS`` forked from the server, running in the background."""
    return Started(args, env, cwd)


def _feed(fd: int, data: bytes) -> None:
    try:
        with contextlib.suppress(BrokenPipeError):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _text(data: bytes, encoding: str) -> str:
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":
    try:
        serve(sys.argv[1])
    finally:  # also when the test process died without closing it
        shutil.rmtree(Path(sys.argv[1]).parent, ignore_errors=True)
