"""The one-operator-at-a-time lock as every write holds it: taken after the tool's tables are
in place, released after the block (its own error told first when the release fails too), and
kept, not taken again, by a block nested in one that holds it (a recover's restore and
migrations). A module of its own, so that a sync or an import holds it without loading the
migration machinery (its plan, files and status modules: ~20 ms of an incremental sync's
start)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from malnu_tui.engine.backends.base import Backend, lock_holder_for_this_process
from malnu_tui.engine.errors import LockLeft, MalnuError

__all__ = ["holds_lock", "left_behind", "migration_lock", "unsaid_locks"]

_HELD: set[int] = set()  # id() of the backends whose lock an outer migration_lock holds
_UNSAID: list[str] = []  # lock rows left by work that succeeded, for the CLI to warn of


def holds_lock(backend: Backend) -> bool:
    """Whether a :func:`migration_lock` block of this process holds ``backend``'s lock (a
    ``recover`` holds it across its restore and its migrations: they take it no second time)."""
    return id(backend) in _HELD


@contextlib.contextmanager
def migration_lock(backend: Backend, purpose: str, *, warn: bool = False) -> Iterator[list[str]]:
    """Hold the one-operator-at-a-time lock for the duration of the block. Inside a block
    that holds it already (recover's restore and migrations), the lock is kept, not retaken:
    released between the steps, another operator's ``up`` could slip in. With ``warn``, a
    release that fails after the block succeeded is added to the list it yields (for the
    caller to warn of) instead of raised."""
    unreleased: list[str] = []
    if holds_lock(backend):
        yield unreleased
        return
    backend.ensure_schema()
    backend.acquire_lock(lock_holder_for_this_process(purpose))
    _HELD.add(id(backend))
    try:
        yield unreleased
    except BaseException as exc:
        # The block's own error is the one to tell: a release that fails too (the same full
        # disk or busy database, D1 unreachable) leaves the lock row to the next run's
        # takeover, said after the error (or after "interrupted"): after a failed `up` on D1
        # it was left without a word, and another host was told to wait for it to finish.
        _HELD.discard(id(backend))
        try:
            backend.release_lock()
        except MalnuError as failed:
            exc.add_note(left_behind(failed))
        raise
    _HELD.discard(id(backend))
    try:
        backend.release_lock()
    except MalnuError as failed:
        if not warn and not isinstance(failed, LockLeft):
            raise
        # The block's work is committed: said as an error (exit 1), a `rollback` done on a
        # disk that then filled up was run again by the operator, rolling back one more. D1
        # unreachable once the work is done (restarting after a restore): the work stands,
        # the lease lapses by itself, and the command says so (it said nothing).
        said = f"{failed}; the lock row of this session (pid {os.getpid()}) stays: "
        (unreleased if warn else _UNSAID).append(said + left_behind(failed, cause=False))


def unsaid_locks() -> list[str]:
    """The lock rows left behind by work that succeeded (D1 unreachable as it released them),
    not said by the work itself: each said once, by the shell that ran it."""
    said = list(_UNSAID)
    _UNSAID.clear()
    return said


def left_behind(failed: MalnuError, *, cause: bool = True) -> str:
    """What becomes of a lock row this session could not release, and the way on."""
    text = f"the migration lock could not be released ({failed}): " if cause else ""
    text += (
        "the next malnu-tui run on this host takes it over; from another host, "
        "`malnu-tui unlock` once no one is working"
    )
    if isinstance(failed, LockLeft):
        text += (
            ", or wait: its lease, no longer renewed, runs out within 10 min, and the next "
            "`malnu-tui up` from any host then takes the lock over by itself (audited)"
        )
    return text
