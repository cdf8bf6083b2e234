"""D1 backups and Time Travel against the local D1 server: backup by export (with the bookmark
in the manifest), verify by loading the dump into SQLite, restore to a bookmark (undoable,
audited, audit trail carried over), restore by import, and recover --to TIME natively."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from malnu_tui.engine.backends.d1.backend import D1Backend
from malnu_tui.engine.backends.d1.client import D1OutcomeUnknown
from malnu_tui.engine.backends.d1.dumpfile import dump_statements
from malnu_tui.engine.backends.d1.timetravel import (
    bookmark_at,
    check_dump,
    current_bookmark,
    export_dump,
    import_dump,
    plan_time_travel,
    restore_bookmark,
)
from malnu_tui.engine.backup import (
    BackupCorrupt,
    create_backup,
    restore_backup,
    run_native_recover,
    verify_backup,
)
from malnu_tui.engine.backup.store import BackupManifest, BackupProgress
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import apply_plan, migration_lock, plan_up
from tests.d1server import Fault
from tests.fixtures_core import MigrationDirs, school_set
from tests.fixtures_d1 import D1Target

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


def target_of(d1: D1Target, d: MigrationDirs) -> Target:
    return Target("prod", d1.url, d.migrations, d.rollback, d.root / "backups", FAST)


def connect(target: Target) -> D1Backend:
    b = open_backend(target)
    assert isinstance(b, D1Backend)
    b.ensure_schema()
    return b


def up(b: D1Backend, d: MigrationDirs, to: str | None = None) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    return [f for f, _ in apply_plan(b, mset, plan_up(b, mset, to)).done]


def applied(b: D1Backend) -> list[str]:
    return [r.filename for r in b.fetch_records() if r.success]


def test_backup_by_export_and_verify(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    target = target_of(d1, d)
    b = connect(target)
    up(b, d)
    events: list[BackupProgress] = []
    m = create_backup(b, target, progress=events.append)
    assert m.method == "d1-export" and m.target_kind == "d1"
    assert m.native_restore_point == current_bookmark(b) or m.native_restore_point
    assert m.row_counts == {"posts": 0, "users": 1}
    assert m.head == "20250101_000300" and m.schema_hash == b.schema_fingerprint()
    data = target.backup_dir / m.file
    assert data.read_text().startswith("PRAGMA defer_foreign_keys")
    assert (data.stat().st_mode & 0o777) == 0o600
    report = verify_backup(target, m.id, deep=True)
    assert report.ok, report.problems
    # The signed URL got no token (the server refuses one, as R2 does).
    signed = [r for r in d1.server.requests if r.path.startswith("/__signed/")]
    assert signed and not any(r.authorization for r in signed)
    # A tampered dump fails verification.
    data.write_text(data.read_text().replace("admin@malnu", "hacker@malnu"))
    assert not verify_backup(target, m.id).ok
    assert "backup" in {e.action for e in b.read_audit()}
    b.close()


def test_time_travel_restore_to_a_bookmark_and_undo(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    target = target_of(d1, d)
    b = connect(target)
    up(b, d, to="20250101_000100")
    time.sleep(0.01)
    then = datetime.now(UTC)
    time.sleep(0.01)
    up(b, d)
    b.api.batch(["INSERT INTO posts (user_id, body) VALUES (1, 'hello')"], lambda: False)
    plan = plan_time_travel(b, then)
    assert plan.bookmark == bookmark_at(b, then) and plan.current_bookmark == current_bookmark(b)
    with migration_lock(b, "restore"):
        done = restore_bookmark(b, plan.bookmark)
        held = b.read_lock()
        assert held is not None, "the restoring session keeps its lock"
        assert held.note == "restore", "and says what it does"
    # Taking the lock was itself a write: the undo point is the state just before restoring.
    assert done.previous_bookmark not in ("", plan.bookmark, plan.current_bookmark)
    assert applied(b) == ["20250101_000100_create_users.sql"]
    assert "posts" not in b.table_names()
    audit = b.read_audit()
    assert audit[0].action == "restore" and done.previous_bookmark in audit[0].detail
    # The trail written after the bookmark (the later applies) was carried over.
    assert {"20250101_000200_create_posts.sql", "20250101_000300_index_posts.sql"} <= {
        e.object for e in audit if e.action == "apply"
    }
    assert done.carried_audit_rows >= 2
    # Undo: the previous bookmark brings everything back.
    with migration_lock(b, "restore"):
        restore_bookmark(b, done.previous_bookmark, reason="undo")
    assert len(applied(b)) == 3 and b.row_count("posts") == 1
    assert b.read_lock() is None
    b.close()


def test_the_lock_row_is_back_before_the_audit_trail_is_carried(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """A Time Travel restore replaces the whole database, lock row included, and the restoring
    session's row was put back only after the audit trail written since the bookmark had been
    carried over, 50 rows a request. With 6,000 such rows (16 s on the stand-in), another
    operator took the "free" lock in between (seen with two processes) and wrote. At the end
    the carry-over deleted that operator's row. The row now goes back in the first batch
    after the restore."""
    d = school_set(mdirs)
    b = connect(target_of(d1, d))
    up(b, d, to="20250101_000100")
    bookmark = current_bookmark(b)
    note = "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) VALUES "
    b.api.batch(
        [note + "('2026-12-06 08:00:00', 'x@y', 'note', 'o', 'ok', '')"] * 120, lambda: False
    )
    with migration_lock(b, "restore"):
        seen = len(d1.server.requests)
        done = restore_bookmark(b, bookmark)
        after = [r.body for r in d1.server.requests[seen:]]
        assert b.read_lock() is not None
    assert done.carried_audit_rows >= 120
    restored = next(i for i, r in enumerate(d1.server.requests[seen:]) if "time_travel" in r.path)
    lock_back = next(i for i, body in enumerate(after) if "INSERT INTO malnu_lock" in body)
    carried = next(i for i, body in enumerate(after) if "INSERT OR IGNORE INTO malnu_audit" in body)
    assert restored < lock_back < carried
    b.close()


def backed_up_then_applied(
    d1: D1Target, mdirs: MigrationDirs
) -> tuple[Target, D1Backend, BackupManifest]:
    """Two migrations applied and backed up, then the third applied."""
    d = school_set(mdirs)
    target = target_of(d1, d)
    b = connect(target)
    up(b, d, to="20250101_000200")
    m = create_backup(b, target)
    up(b, d)
    return target, b, m


def test_restore_backup_uses_time_travel(d1: D1Target, mdirs: MigrationDirs) -> None:
    target, b, m = backed_up_then_applied(d1, mdirs)
    messages: list[str] = []
    result = restore_backup(b, target, m.id, progress=lambda p: messages.append(p.message))
    assert result.schema_matches
    assert len(applied(b)) == 2
    assert any("undo with bookmark" in msg for msg in messages)
    restores = [e for e in b.read_audit(action="restore") if "Time Travel" in e.detail]
    assert restores and "undo with bookmark" in restores[0].detail
    b.close()


def test_restore_by_import_when_the_bookmark_is_gone(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    target = target_of(d1, d)
    b = connect(target)
    up(b, d, to="20250101_000200")
    # With a 300 KB essay and a 1.2 MB photo: D1's export writes each row whole, one INSERT
    # over D1's 100 KB a statement (workers-sdk#6146), which its import refuses.
    essay = "'x' || replace(hex(zeroblob(75000)), '0', 'é')"
    rows = ["'kept'", essay, "randomblob(1200000)"]
    b.api.batch([f"INSERT INTO posts (user_id, body) VALUES (1, {v})" for v in rows], lambda: False)
    posts = "SELECT id, user_id, CAST(body AS BLOB), typeof(body) FROM posts ORDER BY id"
    kept = d1.sql(posts)
    m = create_backup(b, target)
    exported = dump_statements(target.backup_dir / m.file)
    assert max(len(s.encode()) for s in exported) > 2_400_000
    up(b, d)
    b.api.batch(["DELETE FROM posts", "DELETE FROM users"], lambda: False)
    # Time Travel no longer has the bookmark (older than the retention window).
    manifest_file = target.backup_dir / f"{m.id}.json"
    raw = json.loads(manifest_file.read_text())
    raw["native_restore_point"] = "00000000-00000000-00000000-expired"
    manifest_file.write_text(json.dumps(raw))
    messages: list[str] = []
    restore_backup(b, target, m.id, progress=lambda p: messages.append(p.message))
    assert any("importing the dump instead" in msg for msg in messages)
    assert len(applied(b)) == 2 and b.row_count("users") == 1
    assert d1.sql(posts) == kept, "byte for byte, in pieces"
    assert "_malnu_tui_blob" not in str(d1.sql("SELECT name FROM sqlite_master"))
    assert "idx_posts_user" not in str(d1.sql("SELECT name FROM sqlite_master"))
    imports = b.read_audit(action="import")
    assert imports and "undo with bookmark" in imports[0].detail
    # The backup's file, not the name of the temp copy the import read (`.tmp-5830-….sql`).
    assert imports[0].object == m.file and f"imported {m.file} (" in imports[0].detail
    assert any(e.action == "backup" for e in b.read_audit()), "older audit rows survive"
    b.close()


def test_a_long_audit_trail_is_carried_over_a_restore(d1: D1Target, mdirs: MigrationDirs) -> None:
    """The audit trail to carry over a restore was read in one query: a trail longer than D1
    answers at once ("Maximum query result size: 50 MB", D1's limits; a year of syncs every
    few minutes) was refused as a limit, taken for "no audit table yet", and the restore went
    on carrying nothing — every audit row written since the bookmark gone. It is read in
    pages now; a refusal other than a missing table stops the restore before it is sent."""
    d = school_set(mdirs)
    b = connect(target_of(d1, d))
    up(b, d, to="20250101_000100")
    bookmark = current_bookmark(b)
    b.api.batch(
        [
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
            "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) "
            "SELECT datetime('now'), 'cron@sekolah', 'sync', 'users', 'ok', "
            "printf('%0100d', i) FROM n"
        ],
        lambda: False,
    )
    total = d1.sql("SELECT count(*) FROM malnu_audit")[0][0]
    d1.server.max_result_bytes = 300_000  # 3,000 rows of ~170 bytes: over it, 1,000 under
    try:
        with migration_lock(b, "restore"):
            done = restore_bookmark(b, bookmark)
    finally:
        d1.server.max_result_bytes = 50_000_000
    assert done.carried_audit_rows >= 3000
    assert d1.sql("SELECT count(*) FROM malnu_audit WHERE action = 'sync'") == [(3000,)]
    assert d1.sql("SELECT count(*) FROM malnu_audit")[0][0] >= total + 1  # + the restore's
    b.close()


def test_a_restore_refused_is_imported_instead(d1: D1Target, mdirs: MigrationDirs) -> None:
    """A Time Travel restore D1 refuses each time (429: "10 restores per 10 minutes", D1's
    limits) never ran: the dump is imported instead, as before."""
    target, b, m = backed_up_then_applied(d1, mdirs)
    d1.server.inject(Fault("status", count=100, status=429, path="/time_travel/restore"))
    messages: list[str] = []
    try:
        restore_backup(b, target, m.id, progress=lambda p: messages.append(p.message))
    finally:
        d1.server.faults.clear()
    assert any("importing the dump instead" in msg for msg in messages), messages
    assert len(applied(b)) == 2 and b.read_audit(action="import")
    b.close()


def test_a_backup_past_time_travels_window_is_imported_without_asking_for_its_bookmark(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """A D1 backup of 31 days ago: its bookmark is past Time Travel's 30 days ("Bookmarks
    older than 30 days are invalid", D1's docs), yet D1 was asked to restore it, the attempt
    audited "failed", and only D1's refusal led to the import — whatever D1 answers for an
    expired bookmark. Now its dump is imported at once, saying why."""
    target, b, m = backed_up_then_applied(d1, mdirs)
    manifest_file = target.backup_dir / f"{m.id}.json"
    raw = json.loads(manifest_file.read_text())
    old = datetime.now(UTC) - timedelta(days=31)
    raw["created_at"] = old.isoformat(timespec="microseconds")
    manifest_file.write_text(json.dumps(raw))
    since = len(d1.server.requests)
    messages: list[str] = []
    restore_backup(b, target, m.id, progress=lambda p: messages.append(p.message))
    assert any("older than D1 Time Travel reaches (30 days)" in msg for msg in messages)
    assert not [r for r in d1.server.requests[since:] if "time_travel/restore" in r.path]
    assert len(applied(b)) == 2
    assert b.read_audit(action="import")
    assert all(e.outcome == "ok" for e in b.read_audit(action="restore")), "no failed attempt"
    b.close()


def test_a_restore_that_may_have_run_is_not_imported_over(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """`backup restore` whose Time Travel restore D1 ran but never answered (a 503 after the
    work, each attempt): it was audited "failed" and the dump imported over the restored
    database ("bookmark unusable … importing the dump instead"), reading the trail to carry
    from the database already restored: every audit row since the backup (the migration
    applied since, the pre-restore backup's) was gone, and the import's "undo with bookmark"
    undid nothing. Now no import; the trail and the lock are put back, and the error says the
    restore may have run, with the bookmark that undoes it."""
    target, b, m = backed_up_then_applied(d1, mdirs)
    since = len(d1.server.requests)
    d1.server.inject(Fault("error-after", count=100, status=503, path="/time_travel/restore"))
    messages: list[str] = []
    try:
        with pytest.raises(D1OutcomeUnknown, match="it may have run") as err:
            restore_backup(b, target, m.id, progress=lambda p: messages.append(p.message))
    finally:
        d1.server.faults.clear()
    assert "d1 time-travel --bookmark " in (err.value.hint or ""), err.value.hint
    assert not any("importing the dump instead" in msg for msg in messages), messages
    assert not [r for r in d1.server.requests[since:] if r.path.endswith("/import")]
    assert len(applied(b)) == 2  # D1 did restore
    # The trail written since the backup is carried over: the third migration's apply row
    # and the pre-restore backup's row.
    assert any(e.object == "20250101_000300_index_posts.sql" for e in b.read_audit(action="apply"))
    assert any("pre-restore" in e.detail for e in b.read_audit(action="backup"))
    assert [e.outcome for e in b.read_audit(action="restore")][:2] == ["failed", "unknown"]
    assert b.read_lock() is None
    b.close()


def test_import_of_a_dump_swapped_after_its_verification_is_refused(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    # With the bookmark gone the dump is imported: it was read again by name after its
    # verification, so a dump replaced in between (another backup's) was imported unchecked.
    target, b, m = backed_up_then_applied(d1, mdirs)
    other = create_backup(b, target)
    manifest_file = target.backup_dir / f"{m.id}.json"
    raw = json.loads(manifest_file.read_text())
    raw["native_restore_point"] = "00000000-00000000-00000000-expired"
    manifest_file.write_text(json.dumps(raw))

    def swap(p: BackupProgress) -> None:
        if p.phase == "done" and p.message == "verified":
            (target.backup_dir / m.file).write_bytes((target.backup_dir / other.file).read_bytes())

    with pytest.raises(BackupCorrupt, match="changed since it was verified"):
        restore_backup(b, target, m.id, progress=swap)
    assert len(applied(b)) == 3 and b.read_audit(action="restore")[0].outcome == "failed"
    assert not b.read_audit(action="import"), "nothing was imported"
    b.close()


def test_import_failure_changes_nothing(d1: D1Target, mdirs: MigrationDirs, tmp_path: Path) -> None:
    d = school_set(mdirs)
    b = connect(target_of(d1, d))
    up(b, d)
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE x (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    with pytest.raises(Exception, match="no such table: nowhere"):
        import_dump(b, bad)
    assert len(applied(b)) == 3 and "x" not in b.table_names()
    assert b.read_audit(action="import")[0].outcome == "failed"
    b.close()


def test_native_recover_with_time_travel(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    target = target_of(d1, d)
    b = connect(target)
    up(b, d, to="20250101_000200")
    b.api.batch(["INSERT INTO posts (user_id, body) VALUES (1, 'before the bad deploy')"],
                lambda: False)  # fmt: skip
    time.sleep(0.01)
    when = datetime.now(UTC)
    time.sleep(0.01)
    b.api.batch(["DELETE FROM posts"], lambda: False)  # the bad deploy
    # As `recover --to TIME` runs it: the method takes the lock itself.
    undo = run_native_recover(b, target, when)
    assert b.row_count("posts") == 1 and b.read_lock() is None
    rec = b.read_audit(action="recover")
    assert rec and undo in rec[0].detail
    with pytest.raises(ConfigError, match="older than D1 Time Travel reaches"):
        bookmark_at(b, datetime.now(UTC) - timedelta(days=31))
    with pytest.raises(ConfigError, match="in the future") as err:
        bookmark_at(b, datetime.now(UTC) + timedelta(hours=1))
    # As a WIB time of a moment ago typed without its zone (read as UTC, 7 h ahead) looks:
    # say the time now and the zone rule, as recover does on SQLite and PostgreSQL.
    assert " UTC now)" in str(err.value)
    assert err.value.hint is not None and "a time given without a zone is read as UTC" in (
        err.value.hint
    )
    b.close()


def test_export_dump_standalone(d1: D1Target, mdirs: MigrationDirs, tmp_path: Path) -> None:
    d = school_set(mdirs)
    b = connect(target_of(d1, d))
    up(b, d)
    d1.server.export_polls = 3
    try:
        res = export_dump(b, tmp_path / "dump.sql")
    finally:
        d1.server.export_polls = 1
    assert res.size == (tmp_path / "dump.sql").stat().st_size and len(res.sha256) == 64
    checked = check_dump(res.path)
    assert checked.ok and checked.row_counts == {"posts": 0, "users": 1}
    assert len(checked.applied) == 3
    b.close()


@pytest.mark.parametrize("lost", ["ingest", "init"])
def test_import_whose_answer_is_lost_runs_once_and_says_so(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path, lost: str
) -> None:
    """D1 runs the file again for every ``ingest`` (and every ``init`` of a file it already
    has): an answer lost after the import ran used to be re-sent, the second run then failed
    on a table the first had created, and the restore was reported failed ("nothing
    changed") with the database replaced, its audit trail since the backup gone."""
    d = school_set(mdirs)
    b = connect(target_of(d1, d))
    up(b, d)
    dump = tmp_path / "dump.sql"
    export_dump(b, dump)
    # Since the export, the last table went (a rollback): the dump creates it again.
    b.api.batch(["DROP TABLE posts"], lambda: False)
    if lost == "init":
        import_dump(b, dump)  # D1 now holds the file: the next init starts the import itself
        b.api.batch(["DROP TABLE posts"], lambda: False)
    d1.server.inject(Fault("drop-after", path="/import", match=f'"{lost}"'))
    seen = len(d1.server.requests)
    result = import_dump(b, dump)
    sent = [r.body for r in d1.server.requests[seen:] if r.path.endswith("/import")]
    assert sum(f'"action":"{lost}"' in body for body in sent) == 1, "sent once"
    assert "posts" in b.table_names() and len(applied(b)) == 3
    done = b.read_audit(action="import")[0]
    assert done.outcome == "ok" and result.previous_bookmark in done.detail
    b.close()


def test_a_backup_whose_dump_rounds_large_integers_is_not_verified(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """D1's export writes integers past 2**53 through JavaScript numbers, rounded
    (cloudflare/workers-sdk#15378): a 16-digit NIK of Papua (9171…) came back one off, and
    int64's end as 9223372036854776000 (a REAL once loaded). Such a dump used to be
    "verified", and a restore from it stored other numbers without a word."""
    d = school_set(mdirs)
    target = target_of(d1, d)
    b = connect(target)
    up(b, d)
    b.api.batch(
        [
            "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nik INTEGER, kk INTEGER, nama TEXT)",
            "INSERT INTO siswa VALUES (1, 9171012345678901, 3201234567890001, 'Yohana'), "
            "(2, 3201234567890002, 9223372036854775807, 'Dewi'), (3, 12, 13, 'ok')",
        ],
        lambda: False,
    )
    events: list[BackupProgress] = []
    m = create_backup(b, target, progress=events.append)
    warned = [e.message for e in events if e.message.startswith("warning:")]
    assert warned and "siswa.nik: 1 value (e.g. 9171012345678900)" in warned[0]
    assert "siswa.kk: 1 value" in warned[0] and "siswa.id" not in warned[0]
    assert f"d1 time-travel --bookmark {m.native_restore_point}" in warned[0]
    assert not m.verified and "siswa.nik" in m.details["unsafe_integers"]
    report = verify_backup(target, m.id)
    assert not report.ok and any("integers past" in p for p in report.problems)
    with pytest.raises(BackupCorrupt, match="D1's export writes rounded"):
        restore_backup(b, target, m.id)
    assert b.read_audit(action="restore")[0].outcome == "refused"
    b.close()


def test_a_restore_done_is_not_reported_failed_when_d1_stumbles_after_it(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """D1 may be restarting right after a restore or an import: the carry-over of the audit
    trail and the audit row failing used to raise ("no answer after 6 attempts … nothing was
    applied twice", exit 1) over a database already replaced, with no undo bookmark said."""
    d = school_set(mdirs)
    b = connect(target_of(d1, d))
    up(b, d, to="20250101_000100")
    bookmark = current_bookmark(b)
    up(b, d)
    messages: list[str] = []
    with migration_lock(b, "restore"):  # its release fails too: the restore stands
        for sql in ("INSERT OR IGNORE INTO malnu_audit", "DELETE FROM malnu_lock", "INSERT INTO"):
            d1.server.inject(Fault("status", count=60, status=503, match=sql))
        done = restore_bookmark(b, bookmark, progress=lambda p: messages.append(p.message))
    d1.server.faults.clear()
    assert "posts" not in b.table_names(), "restored"
    warned = [m for m in messages if m.startswith("warning: restored, but")]
    assert len(warned) == 2 and "could not be audited" in warned[1]
    assert messages[-1] == f"undo with bookmark {done.previous_bookmark}"

    # An import started whose end cannot be read is not "failed, nothing changed".
    dump = tmp_path / "dump.sql"
    export_dump(b, dump)
    d1.server.inject(Fault("status", count=60, status=503, match='"poll"'))
    d1.server.import_polls = 2
    try:
        with pytest.raises(D1OutcomeUnknown, match="was started but how it ended") as err:
            import_dump(b, dump)
    finally:
        d1.server.import_polls = 1
    assert "d1 time-travel --bookmark" in (err.value.hint or "")
    b.close()
