"""SIGTERM at an exact point of a CLI run, in a process of its own (``run_stopped``).

A profile hook sends the signal as the chosen function is entered (or returns), so that the
CLI's own handler runs there, as a signal arriving at that moment does. The run is a child
process, never the test worker: a run that hangs there is ended (its stacks printed by
faulthandler, then the process gone) and the test fails with them, where a hang in the
worker itself (a signal handler raising into a stuck psycopg wait) held a fresh-clone suite
for half an hour. ``python -m tests.stop_points POINT NTH EVENT SEEN -- ARGS…`` is the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (the child imports no test fixtures: it starts faster)
    from tests.fixtures_core import CliResult

ROOT = Path(__file__).resolve().parents[1]
HUNG_SECONDS = 60  # a run still going then is hung: its stacks on stderr, the process ended


def _within(frame: FrameType, function: str, file: str, depth: int) -> bool:
    """``frame`` runs within ``function`` of ``file`` (at most ``depth`` callers up)."""
    back = frame.f_back
    for _ in range(depth):
        if back is None:
            return False
        if back.f_code.co_name == function and back.f_code.co_filename.endswith(file):
            return True
        back = back.f_back
    return False


def _block(frame: FrameType, generator: str) -> bool:
    """The exit of a ``contextlib`` block made by the generator ``generator``."""
    code = frame.f_code
    if code.co_name != "__exit__" or not code.co_filename.endswith("contextlib.py"):
        return False
    gen = getattr(frame.f_locals.get("self"), "gen", None)
    return getattr(gen, "__name__", "") == generator


def transaction_exit(frame: FrameType) -> bool:
    """psycopg's exit of a PostgreSQL chunk's transaction block (the COMMIT not sent yet)."""
    code = frame.f_code
    return (
        code.co_name == "__exit__"
        and code.co_filename.endswith(os.path.join("psycopg", "transaction.py"))
        and _within(frame, "write_chunk", "side_pgwrite.py", 3)
    )


def block_exit(frame: FrameType) -> bool:
    """The exit of ``with conn.transaction()`` of a PostgreSQL chunk (psycopg's block, a
    generator, not yet resumed: left suspended, its transaction open, while the exception
    lives)."""
    return _block(frame, "transaction") and _within(frame, "write_chunk", "side_pgwrite.py", 1)


def copy_exit(frame: FrameType) -> bool:
    """The exit of psycopg's COPY block of a chunk (the block still to end the COPY)."""
    return _block(frame, "copy") and _within(frame, "write_chunk", "side_pgwrite.py", 4)


def sqlite_commit(frame: FrameType) -> bool:
    """The COMMIT of a SQLite chunk's transaction, about to be run."""
    return (
        frame.f_code.co_name == "execute"
        and frame.f_locals.get("args", ("",))[:1] == ("COMMIT",)
        and _within(frame, "write_chunk", "side_sqlite.py", 3)
    )


def d1_chunk_written(frame: FrameType) -> bool:
    """A D1 chunk's batch of rows just answered (the batch of its statements, committed by
    D1), the chunk's write not yet returned."""
    code = frame.f_code
    return (
        code.co_name == "_batch"
        and code.co_filename.endswith("side_d1.py")
        and len(frame.f_locals.get("statements", ())) > 1
        and _within(frame, "write_chunk", "side_d1.py", 1)
    )


def import_copy_end(frame: FrameType) -> bool:
    """The exit of psycopg's COPY block, entered by the import writer's ``_end_copy``."""
    return _block(frame, "copy") and _within(frame, "_end_copy", "pg_writer.py", 1)


def import_commit_return(frame: FrameType) -> bool:
    """The import writer's ``commit`` (its COMMIT done; D1: its final batch answered), as it
    returns."""
    code = frame.f_code
    return code.co_name == "commit" and code.co_filename.endswith(
        ("sqlite_writer.py", "pg_writer.py", "d1_writer.py")
    )


def import_step_return(frame: FrameType) -> bool:
    """The import's step (``run._execute``: its rows committed, or not), as it returns to the
    run around it (its run row not written yet)."""
    code = frame.f_code
    return code.co_name == "_execute" and code.co_filename.endswith(os.path.join("data", "run.py"))


def lock_release(frame: FrameType) -> bool:
    """The release of the migration lock at the end of the block that held it (``oplock``)."""
    return frame.f_code.co_name == "release_lock" and _within(
        frame, "migration_lock", "oplock.py", 1
    )


def run_stopped(point: str, nth: int, *args: str, event: str = "call") -> CliResult:
    """``malnu-tui ARGS`` in a child process, SIGTERM to it as the ``nth`` call that the
    function ``point`` of this module matches is entered (``event="return"``: as it
    returns). Fails if the point was never met that often, or the run hung."""
    from tests.fixtures_core import CliResult

    seen = Path(os.environ.get("TMPDIR", "/tmp")) / f"malnu-stop-{os.getpid()}-{id(args)}"
    cmd = [sys.executable, "-m", "tests.stop_points", point, str(nth), event, str(seen), "--"]
    try:
        proc = subprocess.run(
            [*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=HUNG_SECONDS + 30,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        met = int(seen.read_text() or 0) if seen.exists() else 0
    finally:
        seen.unlink(missing_ok=True)
    assert "Fatal Python error: Timeout" not in proc.stderr, proc.stderr  # hung: its stacks
    assert met >= nth, f"the point was met {met} time(s): {proc.stderr}"
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _child(argv: list[str]) -> int:
    import faulthandler

    point_name, nth, event, seen_file = argv[0], int(argv[1]), argv[2], Path(argv[3])
    args = argv[argv.index("--") + 1 :]
    faulthandler.dump_traceback_later(HUNG_SECONDS, exit=True)
    point = globals()[point_name]
    seen = [0]

    def hook(frame: FrameType, what: str, _arg: object) -> None:
        if what == event and point(frame):
            seen[0] += 1
            if seen[0] == nth:
                sys.setprofile(None)
                os.kill(os.getpid(), signal.SIGTERM)

    from malnu_tui.cli import main

    sys.setprofile(hook)
    try:
        code = main(args)
    finally:
        sys.setprofile(None)
        seen_file.write_text(str(seen[0]))
    return code


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
