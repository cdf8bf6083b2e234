"""A rollback file edited since its migration was applied was refused only when the rollback
ran: `status`, `verify` and `check` said nothing, so the operator at 2 a.m. chose to roll back
and learnt it then. Now `status` marks it (text and `--json`: `rollback_edited`), `verify`
reports it and exits 1 (drift: a checksummed file changed), `check` warns, and `repair` accepts
the edit (audited) as it does a migration's."""

from __future__ import annotations

import json

from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget

REVIEWED = "DROP TABLE kelas;\n"
EDITED = "DROP TABLE kelas;\nDELETE FROM siswa;\n"  # one more statement, never reviewed
KELAS = "20250101_000200_kelas.sql"
CONTRACT = ("version", "filename", "state", "checksum", "executed_at", "execution_time_ms",
            "rollback_file")  # fmt: skip


def _applied(db: DbTarget, mdirs: MigrationDirs) -> str:
    mdirs.add("20250101_000100", "siswa", "CREATE TABLE siswa (id INTEGER PRIMARY KEY);",
              "DROP TABLE siswa;")  # fmt: skip
    mdirs.add("20250101_000200", "kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);",
              REVIEWED)  # fmt: skip
    res = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    (rb,) = mdirs.rollback.glob("20250101_000200_*.sql")
    return rb.name


def _items(db: DbTarget, mdirs: MigrationDirs) -> dict[str, dict[str, object]]:
    res = db.cli(mdirs, "status", "--json")
    assert res.code == 0, res.err
    return {m["filename"]: m for m in json.loads(res.out)["migrations"]}


def test_status_verify_and_check_show_an_edited_rollback_file_and_repair_accepts_it(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    db = db_target
    rb_name = _applied(db, mdirs)
    assert _items(db, mdirs)[KELAS]["rollback_edited"] is None
    assert db.cli(mdirs, "verify").code == 0
    (mdirs.rollback / rb_name).write_text(EDITED, encoding="utf-8")

    res = db.cli(mdirs, "status")
    assert res.code == 0, res.err
    row = next(line for line in res.out.splitlines() if "kelas" in line)
    assert "≠ edited" in row, res.out
    assert (
        f"warning: rollback file changed since its migration was applied: {rb_name} (sha256 "
    ) in res.err, res.err
    items = _items(db, mdirs)
    assert all(key in item for item in items.values() for key in CONTRACT)
    edit = items[KELAS]["rollback_edited"]
    assert isinstance(edit, dict) and edit["rollback_file"] == rb_name, items
    assert edit["checksum"] != edit["recorded_checksum"]
    assert items["20250101_000100_siswa.sql"]["rollback_edited"] is None
    assert items[KELAS]["state"] == "applied"  # the migration itself has not drifted

    res = db.cli(mdirs, "verify")
    assert res.code == 1, (res.out, res.err)
    assert f"edited   {rb_name}  recorded {edit['recorded_checksum']}  file {edit['checksum']}" in (
        res.out
    )
    assert "0 drifted, 0 missing, 1 rollback file(s) edited since applied" in res.err
    data = json.loads(db.cli(mdirs, "verify", "--json").out)
    assert data["ok"] is False and [m["filename"] for m in data["rollback_edited"]] == [KELAS]

    res = db.cli(mdirs, "check")
    assert "WARNING" in res.out + res.err and "1 rollback file edited since applied" in (
        res.out + res.err
    ), (res.out, res.err)

    # repair accepts it (audited, both checksums); then verify is clean and rollback runs it.
    res = db.cli(mdirs, "repair", "--yes")
    assert res.code == 0, res.err
    assert (
        f"note: rollback file edited since its migration was applied: {rb_name} (sha256 "
    ) in res.err, res.err
    # Said as what it did: no tracking row changed (it said "repaired 1 row(s)").
    assert "accepted 1 edited rollback file(s)" in res.err and "repaired" not in res.err, res.err
    assert db.cli(mdirs, "verify").code == 0
    assert _items(db, mdirs)[KELAS]["rollback_edited"] is None
    log = json.loads(db.cli(mdirs, "log", "--json", "--action", "repair").out)
    assert any(e["object"] == rb_name and edit["checksum"] in e["detail"] for e in log), log
    res = db.cli(mdirs, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert _items(db, mdirs)[KELAS]["state"] == "pending"


def test_a_rollback_dry_run_names_the_edited_file_with_both_checksums(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """`rollback --dry-run` printed the edited file's SQL as if it were the one reviewed (the
    checksums only in a note on stderr, cut to 12 digits): its SQL, kept for review, and its
    --json now say it was edited, with both full checksums."""
    db = db_target
    rb_name = _applied(db, mdirs)
    res = db.cli(mdirs, "rollback", "--dry-run")
    assert res.code == 0 and "EDITED" not in res.out, (res.out, res.err)
    (mdirs.rollback / rb_name).write_text(EDITED, encoding="utf-8")
    edit = _items(db, mdirs)[KELAS]["rollback_edited"]
    assert isinstance(edit, dict)
    res = db.cli(mdirs, "rollback", "--dry-run", "--accept-edited-rollback")
    assert res.code == 0, res.err
    assert (
        f"-- down: {rb_name}\n-- EDITED since {KELAS} was applied: sha256 {edit['checksum']}, "
        f"recorded {edit['recorded_checksum']}\n"
    ) in res.out, res.out
    res = db.cli(mdirs, "rollback", "--dry-run", "--accept-edited-rollback", "--json")
    assert res.code == 0, res.err
    (step,) = json.loads(res.out)["steps"]
    assert step["rollback_edited"] == edit, step
