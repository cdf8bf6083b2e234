"""A rollback file edited after its migration was applied (after it was reviewed with it) ran
silently: migration files have checksums and drift, rollback files had none. Now the checksum
of each rollback file is recorded when its migration is applied, and a rollback whose file
changed since is refused before anything runs, unless the operator accepts it (audited)."""

from __future__ import annotations

import json

from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget

REVIEWED = "DROP TABLE kelas;\n"
EDITED = "DROP TABLE kelas;\nDELETE FROM siswa;\n"  # one more statement, never reviewed


def _applied(db: DbTarget, mdirs: MigrationDirs) -> str:
    mdirs.add("20250101_000100", "siswa", "CREATE TABLE siswa (id INTEGER PRIMARY KEY);",
              "DROP TABLE siswa;")  # fmt: skip
    mdirs.add("20250101_000200", "kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);\n"
              "INSERT INTO siswa (id) VALUES (1);", REVIEWED)  # fmt: skip
    res = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    (rb,) = mdirs.rollback.glob("20250101_000200_*.sql")
    return rb.name


def _state(db: DbTarget, mdirs: MigrationDirs) -> dict[str, str]:
    res = db.cli(mdirs, "status", "--json")
    return {m["filename"]: m["state"] for m in json.loads(res.out)["migrations"]}


def test_a_rollback_file_edited_since_its_migration_ran_is_refused_until_accepted(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    db = db_target
    rb_name = _applied(db, mdirs)
    rb = mdirs.rollback / rb_name
    # A Windows checkout of the same file (CRLF, a BOM) is the same file, as for migrations.
    rb.write_bytes(b"\xef\xbb\xbf" + REVIEWED.replace("\n", "\r\n").encode())
    assert db.cli(mdirs, "rollback", "--dry-run").code == 0
    rb.write_text(EDITED, encoding="utf-8")
    for args in (("rollback", "--dry-run"), ("rollback", "--yes", "--no-backup")):
        res = db.cli(mdirs, *args)
        assert res.code == 1, (args, res.err)
        assert (
            f"error: rollback files changed since their migration was applied: {rb_name} (sha256 "
        ) in res.err, res.err
        assert "when 20250101_000200_kelas.sql was applied); nothing was run" in res.err
        assert "--accept-edited-rollback" in res.err
    assert _state(db, mdirs)["20250101_000200_kelas.sql"] == "applied"  # nothing ran
    log = json.loads(db.cli(mdirs, "log", "--json").out)
    assert not [e for e in log if e["action"] == "rollback" and e["outcome"] == "ok"]
    # Accepted: it runs, the acceptance audited with the file named.
    res = db.cli(mdirs, "rollback", "--yes", "--no-backup", "--accept-edited-rollback")
    assert res.code == 0, res.err
    assert f"note: edited rollback file(s) accepted (audited): {rb_name}" in res.err
    assert _state(db, mdirs)["20250101_000200_kelas.sql"] == "pending"
    log = json.loads(db.cli(mdirs, "log", "--json").out)
    warned = [e for e in log if e["action"] == "rollback" and e["outcome"] == "warning"]
    assert warned and rb_name in warned[0]["detail"], log
    # Applied again with the edited rollback file: that one is now the one recorded.
    assert db.cli(mdirs, "up", "--yes", "--no-backup").code == 0
    res = db.cli(mdirs, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert "edited rollback" not in res.err


def test_a_rollback_planned_before_the_edit_is_checked_again_under_the_lock(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """The engine call both shells make (the console's rollback wizard runs it after its
    preview): the plan read before the edit still refuses under the lock, audited."""
    from malnu_tui.engine.errors import RollbackEdited
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.migrate import apply_plan
    from malnu_tui.engine.preflight import preflight_rollback

    db = db_target
    rb_name = _applied(db, mdirs)
    (mdirs.rollback / rb_name).write_text(EDITED, encoding="utf-8")
    target = db.target(mdirs)
    backend = db.open(mdirs)
    try:
        mset = discover(mdirs.migrations, mdirs.rollback)
        pf = preflight_rollback(backend, target, mset)
        assert [type(p).__name__ for p in pf.blocking] == ["EditedRollback"]
        assert pf.plan is not None
        try:
            apply_plan(backend, mset, pf.plan)
        except RollbackEdited as exc:
            assert rb_name in str(exc)
        else:
            raise AssertionError("the edited rollback ran")
        refused = backend.read_audit(limit=5, action="rollback")
        assert refused[0].outcome == "refused" and rb_name in refused[0].detail
        assert [r.filename for r in backend.fetch_records()][-1] == "20250101_000200_kelas.sql"
    finally:
        backend.close()
