"""The incident state file of ``check --alert`` (``incidents.json`` in the user state dir): read
(a damaged one said, not fatal), held under a lock that a run waits for a few seconds at most
(naming the process that holds it), written back atomically and readable by its owner only.
Incidents are keyed by the problem (target|check|object) and, where known, its database; the
file keeps them as every version wrote them. What is sent, when, is :mod:`.alerts`'s."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from malnu_tui.engine.private import hand_over, make_dirs, replacing

__all__ = [
    "STATE_VERSION",
    "STATE_WAIT_RUNNING_S",
    "STATE_WAIT_S",
    "locked_state",
    "read_state",
    "state_key",
    "state_path",
]

STATE_FILE = "incidents.json"
STATE_VERSION = 1
STATE_WAIT_S = 5.0  # how long a run waits for a hold on the incident state by a stopped run
# ... and by one that runs (sending to a slow or dead webhook: 5 s × 3 tries each, by default)
STATE_WAIT_RUNNING_S = 40.0


def state_path() -> Path:
    """``incidents.json`` in the platformdirs user state dir."""
    import platformdirs

    from malnu_tui.engine.config import APP_NAME

    return Path(platformdirs.user_state_dir(APP_NAME)) / STATE_FILE


@contextlib.contextmanager
def locked_state(path: Path, more: int = 0) -> Iterator[dict[str, Any]]:
    """The state file read under an exclusive lock, written back atomically at the end. The
    room to write it back (twice its size now, ``more`` bytes, and a margin) is taken before
    the caller sends anything: on a disk with less, OSError, and nothing is sent (sent, then
    not recorded, an alert went out again with every cron run)."""
    make_dirs(path.parent)
    lock_fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):
        os.fchmod(lock_fd, 0o600)  # one made by an earlier release got the umask's mode
        hand_over(lock_fd, path.parent)
    with open(lock_fd, "a+") as lockf:
        _hold(lockf.fileno())
        state = read_state(path)
        room = 2 * len(_text(state)) + more + 4096
        with replacing(path, room=room) as put:
            try:
                yield state
            except KeyboardInterrupt:  # SIGTERM, Ctrl-C while sending: what was sent is kept
                with contextlib.suppress(OSError):
                    put(_text(state))
                raise
            put(_text(state))


def _hold(fd: int) -> None:
    """Take the state's lock, then write this process's id in the lock file for the next run
    to name. Another run's hold is waited for :data:`STATE_WAIT_RUNNING_S` at most while that
    run is running (sending to a slow webhook), :data:`STATE_WAIT_S` when it is stopped or
    cannot be seen. A run stopped with Ctrl-Z (or stuck on its disk) held every later `check
    --alert` for ever, silent; and one that waited 5 s for any run gave up every minute
    behind another config's (or `--target`'s) cron run whose dead webhook took 15 s a run:
    that config's alerts were never sent while the webhook stayed dead."""
    from malnu_tui.engine.backends.lease import pid_state

    started = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            state = pid_state(int(holder)) if holder.isdigit() else None
            running = state is not None and state not in "TtZX"
            limit = STATE_WAIT_RUNNING_S if running else STATE_WAIT_S
            if time.monotonic() - started >= limit:
                why = "still sending, or stuck" if running else "stopped with Ctrl-Z, or stuck"
                raise TimeoutError(
                    0,
                    f"another `malnu-tui check --alert` (pid {holder or '?'}) has held it for "
                    f"over {limit:g} s ({why}): alerts wait for the next run",
                ) from None
            time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())


def _text(state: dict[str, Any]) -> str:
    """The state file's text. Readable by its owner only (:func:`replacing`), as backups and
    the debug log are: its messages quote databases' errors, and whoever may write it could
    silence an alert."""
    written = {**state, "incidents": _as_filed(state.get("incidents", {}))}
    return json.dumps(written, indent=1, sort_keys=True)


def _problem_key(inc: dict[str, Any]) -> str:
    """The incident's problem key (:attr:`Problem.key`: target|check|object)."""
    return f"{inc.get('target')}|{inc.get('check')}|{inc.get('object', '')}"


def _as_filed(incidents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The incidents as the file keeps them: by their problem key, as every version wrote it
    (the database is a field of the incident), ``key@database`` only where two databases
    have the same problem. A version from before session 9 put back (a downgrade, or an old
    copy still in cron) found none of its incidents under ``key@database``: it sent
    "resolved", then the problem again, for each open one."""
    shared = Counter(_problem_key(inc) for inc in incidents.values())
    return {
        _problem_key(inc) if shared[_problem_key(inc)] == 1 else key: inc
        for key, inc in incidents.items()
    }


def _as_kept(incidents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The incidents of the file keyed as this version keys them (:func:`state_key`)."""
    return {
        state_key(_problem_key(inc), str(inc["database"])) if inc.get("database") else key: inc
        for key, inc in incidents.items()
    }


def _is_incident(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(value.get(k), str) for k in ("target", "check", "severity", "message")
    )


def read_state(path: Path) -> dict[str, Any]:
    """The state file; a fresh one when missing or unreadable (``"damaged"`` then says why).
    Entries that are not incidents are dropped."""
    fresh: dict[str, Any] = {"version": STATE_VERSION, "incidents": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return fresh
    except (OSError, ValueError, RecursionError) as exc:
        # RecursionError: nested too deep to be one (a foreign file under its name): it was a
        # traceback from every `check --alert`, exit 1, and no alert was sent until mended
        return {**fresh, "damaged": str(exc) or type(exc).__name__}
    if not isinstance(data, dict) or not isinstance(data.get("incidents"), dict):
        return {**fresh, "damaged": "not an incident state file"}
    data["incidents"] = _as_kept(
        {k: _told(v) for k, v in data["incidents"].items() if _is_incident(v)}
    )
    return data


def _told(inc: dict[str, Any]) -> dict[str, Any]:
    """``inc`` with its ``sent`` (the webhooks told) a list of their ids: one edited by hand
    into something else (null, a number) was a TypeError traceback from every run, and no
    alert was sent until the file was mended; read as none told, it is sent again."""
    for field in ("sent", "told"):  # (told: the webhooks told of the problem)
        ids = inc.get(field, [])
        inc[field] = [s for s in ids if isinstance(s, str)] if isinstance(ids, list) else []
    return inc


def state_key(problem_key: str, database: str) -> str:
    """An incident's key in the state file: the problem's (target|check|object) and, where
    known, its database: two configs' "primary" (staging, production) never share one."""
    return f"{problem_key}@{database}" if database else problem_key
