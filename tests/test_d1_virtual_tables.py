"""A D1 database holding a virtual table (an FTS5 index: a school searching students by
name). D1's export refuses such a database whole ("cannot export databases with Virtual
Tables (fts5)"), so `backup create` takes a client-side dump (each table read over the HTTP
API); only what it cannot read back exactly (a contentless index) is refused, the Time Travel
bookmark then the way back. One database, one process per command."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from malnu_tui.engine.backends.d1.dumpfile import dump_statements
from tests.d1server import Fault
from tests.fixtures_core import CliResult, MigrationDirs, run_cli, school_config, school_set
from tests.fixtures_d1 import D1Target

FTS = (
    "create  virtual table users_fts using FTS5(email, content='users', content_rowid='id');\n"
    "INSERT INTO users_fts(users_fts) VALUES ('rebuild');\n"
    # A search index holding its own text, and values a dump must keep exactly; users paged.
    "CREATE VIRTUAL TABLE memo_fts USING fts5(body);\n"
    "INSERT INTO memo_fts(rowid, body) VALUES (7, 'rapat wali murid');\n"
    "CREATE TABLE vals (k TEXT PRIMARY KEY, big INTEGER, b BLOB, s TEXT, r REAL) WITHOUT ROWID;\n"
    "INSERT INTO vals VALUES ('a', 9007199254740993, X'00ff', 'x' || char(0) || 'y', 1.0),"
    " ('b', -9223372036854775808, randomblob(1200000), NULL, 0.1);\n"
    "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)"
    " INSERT INTO users (id, email) SELECT i, 'u' || i || '@malnu.sch.id' FROM n;\n"
    # Its options the other way round (it was paged by a rowid it lacks: `no such column:
    # rowid`, no backup at all), a two-column key whose pages end inside one value of the first.
    "CREATE TABLE tags (kelas TEXT, n INTEGER, PRIMARY KEY (kelas, n)) STRICT, WITHOUT ROWID;\n"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1203)"
    " INSERT INTO tags SELECT 'k' || (i % 3), i FROM n;\n"
)
TAGS = "SELECT count(*), count(DISTINCT kelas || '/' || n), sum(n), min(n), max(n) FROM tags"
VALS = (
    "SELECT k, big, length(b), hex(substr(b, 1, 8)), hex(substr(b, -8)), hex(s), typeof(s), r, "
    "typeof(r) FROM vals ORDER BY k"
)
WHOLE = "SELECT k, b, CAST(s AS BLOB), typeof(s) FROM vals ORDER BY k"
# A 300 KB essay, its first 44,000-byte piece ending inside a character's UTF-8, its end
# not UTF-8 (a NUL, a lone byte: text kept as its bytes).
ESSAY = "'x' || replace(hex(zeroblob(75000)), '0', 'é') || CAST(X'00ff' AS TEXT)"
CONTENTLESS = "CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='');"


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
    vals = d1.sql(VALS)

    # backup create: D1's export refuses the database, so the client reads it, says so and why.
    res = run_cli(*base, "backup", "create", "--json")
    assert res.code == 0, res.err
    said = next(x for x in res.err.splitlines() if "client-side dump" in x)
    assert "users_fts (fts5)" in said and "memo_fts (fts5)" in said, res.err
    new = json.loads(res.out)
    manifest = next((tmp_path / "backups").glob(f"**/{new['id']}.json"))
    data = json.loads(manifest.read_text())
    assert data["method"] == "d1-client-dump" and "client-side dump" in data["details"]["note"]
    assert data["verified_at"] and data["row_counts"]["users"] == 1500
    text = manifest.with_name(data["file"]).read_text()
    assert 'INSERT INTO "users_fts"("users_fts") VALUES(\'rebuild\');' in text
    assert "CREATE TABLE 'users_fts_data'" not in text and "users_fts_data" not in text
    assert "(rowid,\"body\") VALUES(7,'rapat wali murid');" in text
    res = run_cli(*base, "backup", "verify", new["id"], "--deep")
    assert res.code == 0, res.err + res.out

    # (a BLOB too large for one hex() is read in pieces; written in pieces of a scratch
    # table, as the import writes one: D1's import takes no statement over 100 KB)
    assert max(len(s.encode()) for s in dump_statements(manifest.with_name(data["file"]))) < 95_000
    assert text.count('CREATE TABLE "_malnu_tui_blob"') == 1, "the one row over 100 KB"

    # backup restore from a dump (not its bookmark: one D1 no longer has): the search index
    # comes back with it, the values exact (the 1.2 MB BLOB and a 300 KB essay, byte for
    # byte), every page of users.
    d1.server.sql(d1.db, f"UPDATE vals SET s = {ESSAY} WHERE k = 'b'")
    vals, whole = d1.sql(VALS), d1.sql(WHOLE)
    assert len(bytes(whole[1][2])) > 300_000 and len(bytes(whole[1][1])) == 1_200_000
    res = run_cli(*base, "backup", "create", "--json")
    assert res.code == 0, res.err
    new = json.loads(res.out)
    manifest = next((tmp_path / "backups").glob(f"**/{new['id']}.json"))
    data = json.loads(manifest.read_text())
    data["native_restore_point"] = None
    manifest.write_text(json.dumps(data))
    d1.server.sql(d1.db, "DELETE FROM vals")
    d1.server.sql(d1.db, "DELETE FROM tags")
    d1.server.sql(d1.db, "INSERT INTO users_fts(users_fts) VALUES ('delete-all')")
    res = run_cli(*base, "backup", "restore", new["id"], "--yes")
    assert res.code == 0, res.err
    assert d1.sql(VALS) == vals and vals[0][1] == 9007199254740993
    assert d1.sql(WHOLE) == whole
    assert d1.sql(TAGS) == [(1203, 1203, 1203 * 1204 // 2, 1, 1203)]
    assert d1.sql("SELECT rowid FROM users_fts WHERE users_fts MATCH 'admin'") == [(1,)]
    assert d1.sql("SELECT rowid FROM memo_fts WHERE memo_fts MATCH 'wali'") == [(7,)]
    assert d1.sql("SELECT count(*), max(id) FROM users") == [(1500, 1500)]

    # Written to while it is read: no moment's copy, refused with the bookmark as the way back.
    held = d1.server.inject(Fault("slow", match='memo_fts\\" ORDER BY', hold=threading.Event()))
    got: list[CliResult] = []
    reading = threading.Thread(target=lambda: got.append(run_cli(*base, "backup", "create")))
    reading.start()
    while held.count and reading.is_alive():  # until its read of memo_fts is held
        time.sleep(0.01)
    d1.server.sql(d1.db, "INSERT INTO users (id, email) VALUES (9999, 'baru@malnu.sch.id')")
    with d1.db.lock:
        d1.db.snapshot()
    assert held.hold is not None
    held.hold.set()
    reading.join()
    assert got[0].code == 1 and "written to while it was read" in got[0].err, got[0].err
    assert "users_fts (fts5)" in got[0].err and "d1 time-travel --bookmark" in got[0].err

    # A contentless index keeps no text to read back: backup create refuses before anything
    # starts, one line naming the table and the way out.
    d.add("20250101_000450", "notes", CONTENTLESS, "DROP TABLE notes_fts;")
    res = run_cli(*base, "rehearse")  # on the newest backup, a client-side dump
    assert res.code == 0 and "nothing to rehearse" not in res.err, res.err
    assert run_cli(*base, "up", "--no-backup").code == 0
    res = run_cli(*base, "backup", "create")
    assert res.code == 1, res.err
    line = next(x for x in res.err.splitlines() if x.startswith("error:"))
    assert "notes_fts (fts5)" in line and "D1 cannot export" in line, res.err
    assert "contentless" in line and "users_fts" not in line, res.err
    assert "Traceback" not in res.err and "attempt" not in res.err
    dumps = {p.name for p in (tmp_path / "backups").glob("**/*.sql")}
    assert len(dumps) == 4 and old["file"] in dumps, "no dump left behind"
    run = "SELECT outcome FROM malnu_audit WHERE action = 'run' AND object = 'backup manual'"
    assert d1.sql(run)[-1] == ("refused",), "nothing was attempted"
    # (the stand-in refuses as D1 does: `d1 export` says D1's own words, once, no retries)
    res = run_cli(*base, "d1", "export", str(tmp_path / "x.sql"))
    assert res.code == 1 and "cannot export databases with Virtual Tables (fts5)" in res.err
    assert "attempt" not in res.err and not (tmp_path / "x.sql").exists(), res.err

    # backup restore of that older backup: stops at its pre-restore backup, nothing changed,
    # and says how that backup is restored instead.
    res = run_cli(*base, "backup", "restore", old["id"], "--yes")
    assert res.code == 1 and "notes_fts (fts5)" in res.err, res.err
    hint = next(x for x in res.err.splitlines() if x.startswith("hint:"))
    assert f"d1 time-travel --bookmark {old['native_restore_point']}" in hint, res.err
    assert d1.sql("SELECT count(*) FROM users_fts") == [(1501,)]

    # up: its safety step is the Time Travel bookmark, said with the command that undoes it.
    d.add(
        "20250101_000500",
        "add_name",
        "ALTER TABLE users ADD COLUMN name TEXT;",
        "ALTER TABLE users DROP COLUMN name;",
    )
    res = run_cli(*base, "up", "--json")
    assert res.code == 0, res.err
    warned = [x for x in res.err.splitlines() if "notes_fts" in x]
    assert warned and "d1 time-travel --bookmark " in warned[0], res.err
    bookmark = warned[0].split("--bookmark ")[1].split()[0].rstrip("`;,.")
    assert json.loads(res.out)["backup_id"] is None
    audit = d1.sql(
        "SELECT object, outcome, detail FROM malnu_audit WHERE action = 'backup' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert audit[0][0] == "pre-up" and audit[0][1] == "bookmark" and bookmark in str(audit[0][2])
    assert [r[1] for r in d1.sql("PRAGMA table_info(users)")] == ["id", "email", "name"]

    # The bookmark brings the whole database back, the search index with it.
    res = run_cli(*base, "d1", "time-travel", "--bookmark", bookmark, "--yes")
    assert res.code == 0, res.err
    assert [r[1] for r in d1.sql("PRAGMA table_info(users)")] == ["id", "email"]
    assert d1.sql("SELECT rowid FROM users_fts WHERE users_fts MATCH 'admin'") == [(1,)]


def test_a_view_whose_text_ends_in_a_comment_is_dumped_so_that_it_loads(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """SQLite keeps a view's (and an index's) text up to its ``;``, a ``-- comment`` before it
    included: the client-side dump wrote ``… -- the first user;``, the comment swallowed the
    ``;`` and the next statement joined the view: `backup create` of a D1 database with a
    search index stopped ("the dump does not load into SQLite: near "CREATE": syntax error"),
    and so did every `up` that takes a safety backup. The dump now loads, and restores."""
    d = school_set(mdirs)
    d.add(
        "20250101_000400",
        "search",
        "CREATE VIRTUAL TABLE memo_fts USING fts5(body);\n"
        "CREATE VIEW admins AS SELECT id, email FROM users WHERE id = 1 -- the first user\n;\n"
        "CREATE INDEX users_email_lower ON users (lower(email)) -- for login",
        "DROP VIEW admins; DROP INDEX users_email_lower; DROP TABLE memo_fts;",
    )
    base = ["--config", str(school_config(tmp_path, d1.url, d)), "--target", "school"]
    assert run_cli(*base, "up", "--no-backup").code == 0
    assert d1.sql("SELECT sql FROM sqlite_master WHERE name = 'admins'")[0][0].endswith("user")
    res = run_cli(*base, "backup", "create", "--json")
    assert res.code == 0, res.err
    backup = json.loads(res.out)["id"]
    manifest = next((tmp_path / "backups").glob(f"**/{backup}.json"))
    data = json.loads(manifest.read_text())
    data["native_restore_point"] = None  # restored from the dump, not the bookmark
    manifest.write_text(json.dumps(data))
    d1.server.sql(d1.db, "DROP VIEW admins")
    res = run_cli(*base, "backup", "restore", backup, "--yes")
    assert res.code == 0, res.err
    assert d1.sql("SELECT id, email FROM admins") == [(1, "admin@malnu.sch.id")]
