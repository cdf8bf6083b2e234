"""D1's backup method (registered in :data:`malnu_tui.engine.backup.method.METHOD_MODULES`):
an export to a SQL dump with the bookmark it was taken at (a client-side dump of a database
D1 will not export, one holding virtual tables: .clientdump); verify by loading the dump into a
scratch SQLite database; restore by Time Travel to that bookmark (native, preferred) or by
importing the dump; and native point-in-time recovery with Time Travel."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.d1.backend import D1Backend
from malnu_tui.engine.backends.d1.client import D1Error, D1OutcomeUnknown
from malnu_tui.engine.backends.d1.clientdump import Virtual, client_dump, virtual_tables
from malnu_tui.engine.backup.durable import remove_quietly, temp_path
from malnu_tui.engine.backup.method import (
    Snapshot,
    VerifyCheck,
    compare_with_manifest,
    copy_verified,
)
from malnu_tui.engine.backup.store import (
    AppliedMigration,
    BackupError,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
    DumpRefused,
)

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backends.d1.timetravel import DumpCheck
    from malnu_tui.engine.config import Target

METHOD = "d1-export"
SUFFIX = ".sql"


def _d1(backend: Backend) -> D1Backend:
    if not isinstance(backend, D1Backend):
        raise BackupError(f"{backend.display_url} is not a D1 database")
    return backend


def create(
    backend: Backend, target: Target, dest: Path, progress: BackupProgressCallback
) -> Snapshot:
    """Export the database into ``dest`` (fsynced), then load it into a scratch SQLite
    database to check it. The manifest's native restore point is the export's bookmark."""
    from malnu_tui.engine.backends.d1.timetravel import check_dump, export_dump

    d1 = _d1(backend)
    virtuals = virtual_tables(d1)
    if virtuals:  # D1's export refuses such a database whole
        return _client_side(d1, dest, virtuals, progress)
    try:
        exported = export_dump(d1, dest, progress)
    except D1Error as exc:
        raise BackupError(f"D1 export of {d1.display_url} failed: {exc}") from None
    progress(BackupProgress("check", 0, 0, "loading the dump into a scratch SQLite database"))
    checked = check_dump(dest)
    if not checked.ok:
        raise BackupError(
            f"the export of {d1.display_url} is unusable: {checked.error or checked.integrity}"
        )
    details = {"bookmark": exported.bookmark, "database_id": d1.location.database_id}
    if checked.unsafe_integers:
        details["unsafe_integers"] = "; ".join(checked.unsafe_integers)
        progress(BackupProgress("check", 0, 0, "warning: " + _unsafe(checked, exported.bookmark)))
    return _snapshot(
        checked, exported.sha256, exported.size, exported.bookmark, details,
        verified=not checked.unsafe_integers,
    )  # fmt: skip


CLIENT_METHOD = "d1-client-dump"


def _client_side(
    d1: D1Backend, dest: Path, virtuals: Sequence[Virtual], progress: BackupProgressCallback
) -> Snapshot:
    """The dump of a database D1 cannot export (it holds virtual tables), read by the client
    (.clientdump) between two bookmarks: the same means nothing was written while it was
    read (else refused, as when a virtual table cannot be read back exactly: the bookmark
    is then the way back)."""
    from malnu_tui.engine.backends.d1.timetravel import check_dump, current_bookmark

    named = ", ".join(f"{v.name} ({v.module})" for v in virtuals)
    blocked = [v for v in virtuals if v.why_not]
    if blocked:
        why = "; ".join(f"{v.name}: {v.why_not}" for v in blocked)
        raise _refused(d1, f"a client-side dump cannot read it back exactly ({why})", blocked)
    bookmark = current_bookmark(d1)
    why = (
        f"client-side dump: D1's export refuses a database holding virtual tables ({named}); "
        "each table is read in pages over D1's HTTP API instead, at bookmark "
        f"{bookmark}, and the search index re-created from them"
    )
    progress(BackupProgress("dump", 0, 0, why))
    dumped = client_dump(d1, dest, virtuals, progress)
    after = current_bookmark(d1)
    if after != bookmark:
        raise _refused(
            d1,
            f"the client-side dump taken instead was written to while it was read (bookmark "
            f"{bookmark}, then {after}): it is one moment's copy only when nothing writes",
            virtuals,
            after,
        )
    progress(BackupProgress("check", 0, 0, "loading the dump into a scratch SQLite database"))
    checked = check_dump(dest)
    if not checked.ok:
        raise BackupError(
            f"the client-side dump of {d1.display_url} is unusable: "
            f"{checked.error or checked.integrity}"
        )
    note = f"client-side dump ({dumped.rows} rows): D1 cannot export virtual tables ({named})"
    details = {"bookmark": bookmark, "database_id": d1.location.database_id, "note": note}
    return _snapshot(checked, dumped.sha256, dumped.size, bookmark, details, method=CLIENT_METHOD)


def _snapshot(
    checked: DumpCheck,
    sha256: str,
    size: int,
    bookmark: str | None,
    details: dict[str, str],
    *,
    verified: bool = True,
    method: str | None = None,
) -> Snapshot:
    """The snapshot of a dump D1 exported or the tool took itself, as ``checked`` read it."""
    return Snapshot(
        sha256=sha256,
        size=size,
        migrations=tuple(AppliedMigration(f, c, at) for f, c, at in checked.applied),
        schema_hash=checked.schema_hash,
        row_counts=checked.row_counts,
        native_restore_point=bookmark,
        details=details,
        verified=verified,
        method=method,
    )


def _refused(
    d1: D1Backend, why: str, virtuals: Sequence[Virtual], bookmark: str | None = None
) -> DumpRefused:
    """No dump at all: D1's export refuses a database holding virtual tables, whatever it is
    asked to leave out (its docs: drop them, export, create them again, which is never done
    here on a live database), and the client-side dump cannot take it (``why``). Said before
    anything changes, with the bookmark that brings the whole database back instead."""
    from malnu_tui.engine.backends.d1.timetravel import TIME_TRAVEL_DAYS, current_bookmark

    named = ", ".join(f"{v.name} ({v.module})" for v in virtuals)
    bookmark = bookmark or current_bookmark(d1)
    back = (
        f"Time Travel bookmark {bookmark} (the whole database, the search index with it, for "
        f"{TIME_TRAVEL_DAYS} days): `malnu-tui d1 time-travel --bookmark {bookmark}`"
    )
    return DumpRefused(
        f"D1 cannot export {d1.display_url}: it holds virtual tables, {named}, and D1's export "
        f"refuses such a database whole, and {why}; no dump was taken. The way back is its "
        f"{back}",
        bookmark,
        f"no safety backup: D1 cannot export a database holding virtual tables ({named}), and "
        f"{why}; the way back is its {back} (recorded in the audit log)",
    )


def _unsafe(checked: DumpCheck, bookmark: str | None) -> str:
    way = (
        f"`malnu-tui d1 time-travel --bookmark {bookmark}` restores them exactly while Time "
        "Travel reaches it; "
        if bookmark
        else ""
    )
    return (
        "the dump holds integers past ±9,007,199,254,740,991 (2**53 - 1), which D1's export "
        f"writes rounded: {'; '.join(checked.unsafe_integers)}. A restore from this dump "
        f"would store other numbers; {way}store such numbers (NIK, KK, snowflake ids) as TEXT"
    )


def check(
    target: Target,
    path: Path,
    manifest: BackupManifest,
    deep: bool,
    progress: BackupProgressCallback,
) -> list[VerifyCheck]:
    """The dump loads into a scratch SQLite database and passes ``integrity_check``; with
    ``deep``, its row counts and schema hash match the manifest."""
    from malnu_tui.engine.backends.d1.timetravel import check_dump

    progress(BackupProgress("verify", 0, 0, "loading the dump into a scratch SQLite database"))
    # Counted as the manifest was: an earlier version's left out `scf_…` tables.
    checked = check_dump(path, q.names_rule(manifest.manifest_version))
    checks = [VerifyCheck("loads into SQLite", not checked.error, checked.error or "ok")]
    if checked.error:
        return checks
    checks.append(VerifyCheck("integrity_check", checked.integrity == "ok", checked.integrity))
    # (A client-side dump reads integers as their digits: exact, whatever their size.)
    unsafe = checked.unsafe_integers and manifest.method != CLIENT_METHOD
    checks.append(
        VerifyCheck(
            "integers exact",
            not unsafe,
            _unsafe(checked, manifest.native_restore_point) if unsafe else "ok",
        )
    )
    if not deep:
        return checks
    checks += compare_with_manifest(manifest, checked.row_counts, checked.schema_hash, "dump")
    return checks


def restore(
    backend: Backend,
    target: Target,
    path: Path,
    manifest: BackupManifest,
    progress: BackupProgressCallback,
) -> None:
    """Time Travel to the backup's bookmark when it belongs to this database and D1 still has
    it; otherwise import the dump (one batch: all or nothing). Either way the bookmark that
    undoes the restore is audited and reported through ``progress``."""
    from malnu_tui.engine.backends.d1.timetravel import (
        TIME_TRAVEL_DAYS,
        import_dump,
        restore_bookmark,
    )

    d1 = _d1(backend)
    bookmark = manifest.native_restore_point
    ours = bool(bookmark) and manifest.target == d1.display_url
    # "Bookmarks older than 30 days are invalid" (D1's Time Travel docs): not asked for.
    if ours and manifest.created < datetime.now(UTC) - timedelta(days=TIME_TRAVEL_DAYS):
        ours = False
        progress(
            BackupProgress(
                "restore",
                0,
                0,
                f"its bookmark is older than D1 Time Travel reaches ({TIME_TRAVEL_DAYS} days); "
                "importing the dump",
            )
        )
    if ours and bookmark:
        try:
            restore_bookmark(d1, bookmark, reason=f"backup {manifest.id}", progress=progress)
            return
        except D1OutcomeUnknown:
            # Sent, unanswered: it may have run, and an import over it read the trail to carry
            # from the restored database (every audit row since the backup lost).
            raise
        except D1Error as exc:  # refused (a bookmark D1 no longer has, 429s): nothing ran
            progress(
                BackupProgress(
                    "restore", 0, 0, f"bookmark unusable ({exc}); importing the dump instead"
                )
            )
    own = temp_path(path.parent, SUFFIX)  # the import reads its own copy, hashed as copied
    try:
        copy_verified(path, own, manifest)
        result = import_dump(
            d1, own, reason=f"backup {manifest.id}", progress=progress, name=path.name
        )
    except D1OutcomeUnknown as exc:
        raise BackupError(f"import into {d1.display_url}: {exc}", hint=exc.hint) from None
    except D1Error as exc:
        raise BackupError(f"import into {d1.display_url} failed, nothing changed: {exc}") from None
    finally:
        remove_quietly(own)
    progress(BackupProgress("restore", 1, 1, f"undo with bookmark {result.previous_bookmark}"))


def native_recover(
    backend: Backend, target: Target, when: datetime, progress: BackupProgressCallback
) -> str:
    """Bring the database back to ``when`` with Time Travel; returns the bookmark that undoes
    it (also audited, with action ``recover``)."""
    from malnu_tui.engine.backends.d1.timetravel import bookmark_at, restore_bookmark
    from malnu_tui.engine.oplock import migration_lock

    d1 = _d1(backend)
    bookmark = bookmark_at(d1, when)
    progress(BackupProgress("restore", 0, 0, f"{when.isoformat()} is bookmark {bookmark}"))
    with contextlib.ExitStack() as stack:
        if d1.held_lock is None:  # one operator at a time, as for every other change
            stack.enter_context(migration_lock(d1, "recover"))
        done = restore_bookmark(
            d1,
            bookmark,
            action="recover",
            reason=f"recover --to {when.isoformat()}",
            progress=progress,
        )
    return done.previous_bookmark
