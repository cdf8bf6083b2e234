"""A D1 database holding a virtual table (an FTS5 index: a school searching students by
name). D1's export refuses such a database whole ("cannot export databases with Virtual
Tables (fts5)"), so no dump backup can be taken of it; the Time Travel bookmark is the way
back. One database, one process per command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures_core import MigrationDirs, run_cli, school_config, school_set
from tests.fixtures_d1 import D1Target

FTS = (
    "create  virtual table users_fts using FTS5(email, content='users', content_rowid='id');\n"
    "INSERT INTO users_fts(users_fts) VALUES ('rebuild');\n"
)


def test_a_database_with_an_fts5_index_backup_up_and_undo(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    d = school_set(mdirs)
    d.add("20250101_000400", "search_users", FTS, "DROP TABLE users_fts;")
    cfg = school_config(tmp_path, d1.url, d)
    base = ["--config", str(cfg), "--target", "school"]
    assert run_cli(*base, "up", "--to", "20250101_000300", "--no-backup").code == 0
    res = run_cli(*base, "backup", "create", "--json")  # before the search index came
    assert res.code == 0, res.err
    old = json.loads(res.out)
    assert run_cli(*base, "up", "--no-backup").code == 0

    # backup create: refused before anything starts, one line naming the table and the way out.
    res = run_cli(*base, "backup", "create")
    assert res.code == 1, res.err
    line = next(x for x in res.err.splitlines() if x.startswith("error:"))
    assert "users_fts (fts5)" in line and "D1 cannot export" in line, res.err
    assert "Traceback" not in res.err and "attempt" not in res.err
    dumps = list((tmp_path / "backups").glob("**/*.sql"))
    assert [p.name for p in dumps] == [old["file"]], "no dump left behind"
    run = "SELECT outcome FROM malnu_audit WHERE action = 'run' AND object = 'backup manual'"
    assert d1.sql(run) == [("refused",)], "nothing was attempted"
    # (the stand-in refuses as D1 does: `d1 export` says D1's own words, once, no retries)
    res = run_cli(*base, "d1", "export", str(tmp_path / "x.sql"))
    assert res.code == 1 and "cannot export databases with Virtual Tables (fts5)" in res.err
    assert "attempt" not in res.err and not (tmp_path / "x.sql").exists(), res.err

    # backup restore of that older backup: stops at its pre-restore backup, nothing changed,
    # and says how that backup is restored instead.
    res = run_cli(*base, "backup", "restore", old["id"], "--yes")
    assert res.code == 1 and "users_fts (fts5)" in res.err, res.err
    hint = next(x for x in res.err.splitlines() if x.startswith("hint:"))
    assert f"d1 time-travel --bookmark {old['native_restore_point']}" in hint, res.err
    assert d1.sql("SELECT count(*) FROM users_fts") == [(1,)]

    # up: its safety step is the Time Travel bookmark, said with the command that undoes it.
    d.add(
        "20250101_000500",
        "add_name",
        "ALTER TABLE users ADD COLUMN name TEXT;",
        "ALTER TABLE users DROP COLUMN name;",
    )
    res = run_cli(*base, "up", "--json")
    assert res.code == 0, res.err
    warned = [x for x in res.err.splitlines() if "users_fts" in x]
    assert warned and "d1 time-travel --bookmark " in warned[0], res.err
    bookmark = warned[0].split("--bookmark ")[1].split()[0].rstrip("`;,.")
    assert json.loads(res.out)["backup_id"] is None
    audit = d1.sql(
        "SELECT object, outcome, detail FROM malnu_audit WHERE action = 'backup' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert audit[0][0] == "pre-up" and audit[0][1] == "bookmark" and bookmark in str(audit[0][2])
    assert [r[1] for r in d1.sql("PRAGMA table_info(users)")] == ["id", "email", "name"]

    # rehearse: only the older backup to rehearse on, said as such.
    res = run_cli(*base, "rehearse")
    assert res.code == 0 and f"backup {old['id']} predates 2 migration(s)" in res.err, res.err

    # The bookmark brings the whole database back, the search index with it.
    res = run_cli(*base, "d1", "time-travel", "--bookmark", bookmark, "--yes")
    assert res.code == 0, res.err
    assert [r[1] for r in d1.sql("PRAGMA table_info(users)")] == ["id", "email"]
    assert d1.sql("SELECT rowid FROM users_fts WHERE users_fts MATCH 'admin'") == [(1,)]
