"""A wrangler D1 migration set written for this project, a school's announcements feed
(tests/realworld/d1_social_like; tests/realworld/README.md): 13 files as wrangler numbers
them, two pairs sharing a number; an FTS5 member search kept by triggers that read
``json_extract``, ``DEFAULT (json_object())`` / ``(json_array())`` on the core tables, a table
dropped and made again with a new id column, ``ADD`` without ``COLUMN``, table constraints (a
CHECK among them) with no comma between them, an idempotency-keys table, a table with no key,
``json_insert`` backfills, a ``hex(randomblob(42))`` secret. Put through what an operator
switching from wrangler runs: wrangler's local state of the set, the rename the bad-name hint
asks for, ``adopt``, ``lint --all``, ``parity`` on PostgreSQL, ``up``/``test``/``rollback``
and ``status`` on the D1 stand-in, and a ``sync`` of what it holds into PostgreSQL. Every
finding is pinned: each is true, or a documented, deliberate one."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from malnu_tui.engine.parity.introspect import sqlite_shape
from malnu_tui.engine.parity.shapes import CheckShape
from malnu_tui.engine.translate import translate_script
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target

SET = Path(__file__).parent / "realworld" / "d1_social_like" / "migrations"
WRANGLER_NAMES = sorted(p.name for p in SET.glob("*.sql"))


def _renamed(i: int, name: str) -> str:
    """The rename the bad-name hint asks for: a timestamp keeping wrangler's order, the name
    kept (``0008_add_class_channels.sql`` → ``20230101_000008_add_class_channels.sql``)."""
    return f"20230101_{i:06d}_{name.split('_', 1)[1]}"


RENAMED = [_renamed(i, n) for i, n in enumerate(WRANGLER_NAMES)]


def _renamed_set(d: MigrationDirs) -> None:
    d.migrations.mkdir(parents=True, exist_ok=True)
    d.rollback.mkdir(parents=True, exist_ok=True)
    for old, new in zip(WRANGLER_NAMES, RENAMED, strict=True):
        shutil.copyfile(SET / old, d.migrations / new)


def test_empty_json_object_and_array_are_constant_text() -> None:
    """``DEFAULT (json_object())`` on the set's members and posts (``json_array()`` on a
    post's attachments): withheld as "SQLite writes JSON text minified, keys in their order",
    with every table that points at them (most of the set). Of no arguments both give the
    same text, ``{}`` / ``[]``; one of pairs is still withheld."""
    sql = (
        "CREATE TABLE t (p TEXT NOT NULL DEFAULT (json_object()), a TEXT DEFAULT (json_array()));"
        "\n"
        "UPDATE t SET p = json_object() WHERE p IS NULL;\n"
        "UPDATE t SET p = json_object('k', 1);\n"
    )
    got = translate_script(sql)
    made, emptied, pairs = got.statements
    assert "DEFAULT (\n    '{}'\n  )" in made.output[0] and "'[]'" in made.output[0], made.output
    assert [f.construct for f in made.findings + emptied.findings] == []
    assert emptied.output == ("UPDATE t SET p = '{}' WHERE p IS NULL",)
    assert [f.construct for f in pairs.findings] == ["json_object()"] and not pairs.output


def test_strftime_defaults_comma_less_constraints_and_null_not_null(pg_url: str) -> None:
    """What the set's tables write, translated and run on PostgreSQL: a strftime() default
    of a DATETIME/DATE/TIME column is cast (a TIMESTAMPTZ's read at UTC, whatever the
    session's zone), one of another shape ('%s', an integer in a DATETIME) withheld; table
    constraints with no comma between them parse; `NULL NOT NULL` keeps its NOT NULL; a
    secret of `hex(randomblob(42))` (withheld: over 16 bytes) is 84 random hex digits."""
    sql = (
        "CREATE TABLE members (id TEXT PRIMARY KEY);\n"
        "CREATE TABLE subs (id INTEGER PRIMARY KEY, member_id TEXT NOT NULL, "
        "endpoint TEXT NULL NOT NULL,\n"
        "  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),\n"
        "  at TIMESTAMPTZ DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),\n"
        "  day DATE DEFAULT (strftime('%Y-%m-%d', 'now')),\n"
        "  CONSTRAINT one UNIQUE(member_id, endpoint)\n  CHECK (endpoint <> '')\n"
        "  FOREIGN KEY(member_id) REFERENCES members(id)\n);\n"
        "CREATE TABLE epoch (t DATETIME DEFAULT (strftime('%s', 'now')));\n"
        "CREATE TABLE apps (id TEXT PRIMARY KEY, secret TEXT DEFAULT (hex(randomblob(42))));\n"
    )
    members, made, epoch, apps = translate_script(sql).statements
    assert [f.construct for f in apps.findings] == ["randomblob() id"]  # (a note)
    assert [f.construct for f in made.findings] == []
    assert [f.construct for f in epoch.findings] == ["column t DEFAULT strftime('%s')"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Asia/Jayapura'")  # UTC+9: an instant read as UTC
        conn.execute(members.output[0] + "; INSERT INTO members VALUES ('x')")
        conn.execute(made.output[0])
        conn.execute("INSERT INTO subs (id, member_id, endpoint) VALUES (1, 'x', 'x')")
        row = conn.execute(
            "SELECT now() AT TIME ZONE 'UTC' - cdate, now() - at, day FROM subs"
        ).fetchone()
        assert row is not None and row[0].total_seconds() < 5 and row[1].total_seconds() < 5
        conn.execute(apps.output[0])
        conn.execute("INSERT INTO apps (id) VALUES ('kiosk'), ('mobile')")
        secrets = [r[0] for r in conn.execute("SELECT secret FROM apps")]
        assert all(re.fullmatch("[0-9A-F]{84}", x) for x in secrets) and len(set(secrets)) == 2
        for bad in ("(2, 'y', NULL)", "(3, 'y', '')", "(4, 'nobody', 'z')", "(5, 'x', 'x')"):
            with pytest.raises(psycopg.errors.IntegrityError):
                conn.execute(f"INSERT INTO subs (id, member_id, endpoint) VALUES {bad}")


def _wrangler_toml(project: Path) -> None:
    (project / "wrangler.toml").write_text(
        'name = "kabar-sekolah"\ncompatibility_date = "2024-07-01"\n[[d1_databases]]\n'
        'binding = "DB"\ndatabase_name = "kabar-sekolah"\n'
        'database_id = "5b6c1f0e-0000-4000-8000-0123456789ab"\n'
    )


def _applied_by_wrangler_locally(project: Path) -> Path:
    """wrangler's local state as `wrangler d1 migrations apply --local` leaves it for the set
    (its table as wrangler creates it, a row per file in wrangler's order; test_wrangler runs
    the real wrangler on such a state): the SQLite file under ``.wrangler/state/v3/d1``."""
    state = project / ".wrangler/state/v3/d1/miniflare-D1DatabaseObject/0123abcd.sqlite"
    state.parent.mkdir(parents=True)
    conn = sqlite3.connect(state)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)"
        )
        for name in WRANGLER_NAMES:
            conn.executescript((SET / name).read_text(encoding="utf-8"))
            conn.execute("INSERT INTO d1_migrations (name) VALUES (?)", (name,))
        conn.commit()
    finally:
        conn.close()
    return state


def test_wrangler_history_is_adopted_and_wrangler_has_nothing_left(mdirs: MigrationDirs) -> None:
    """wrangler applied the set locally; the operator renames the files as the hint says and
    adopts. wrangler's table kept only its old names, so `wrangler d1 migrations apply` on
    the renamed directory listed all 13 as still to apply and would have run the history
    again (0007 drops `push_subscriptions` with its rows). Now each adopted file's new name is
    written there too, in the adopt's own unit."""
    project = mdirs.root
    _wrangler_toml(project)
    shutil.copytree(SET, mdirs.migrations, dirs_exist_ok=True)
    mdirs.rollback.mkdir(exist_ok=True)
    state = _applied_by_wrangler_locally(project)
    base = ["--database", f"sqlite:///{state}", *mdirs.args()]
    res = run_cli(*base, "status", cwd=project)
    assert res.code == 2 and "this is another runner's numbering" in res.err, res.err
    assert "e.g. 20240101_000001_initial.sql" in res.err
    for old, new in zip(WRANGLER_NAMES, RENAMED, strict=True):
        (mdirs.migrations / old).rename(mdirs.migrations / new)
    res = run_cli(*base, "adopt", "--wrangler-state", str(project), "--json", cwd=project)
    assert res.code == 0, res.err
    assert json.loads(res.out)["adopted"] == RENAMED
    assert "as wrangler's 0008_add_school-settings.sql" in res.err  # its own 0008, kept apart
    mdirs.add("20230102_000000", "add_bio", "ALTER TABLE members ADD COLUMN bio TEXT;",
              "ALTER TABLE members DROP COLUMN bio;")  # fmt: skip
    res = run_cli(*base, "up", "--no-backup", cwd=project)
    assert res.code == 0, res.err
    conn = sqlite3.connect(state)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM d1_migrations")}
    finally:
        conn.close()
    # What wrangler compares: every file of its migrations_dir by name.
    here = sorted(p.name for p in mdirs.migrations.glob("*.sql"))
    assert [n for n in here if n not in names] == []
    assert set(WRANGLER_NAMES) <= names  # wrangler's own rows are kept
    res = run_cli(*base, "adopt", "--wrangler-state", str(project), cwd=project)
    assert res.code == 0 and "nothing to adopt" in res.err
    tracked = res.err.split("already tracked: ", 1)[1].splitlines()[0].split(", ")
    assert tracked == [*RENAMED, "20230102_000000_add_bio.sql"]  # each once


# (rule, file's version, line, severity) of `lint --all`, in its order; beside them every
# file has its NO-ROLLBACK error (wrangler sets are forward-only). 0009's UPDATE has a WHERE
# (one row): nothing to say.
LINT_ALL = [
    # A unique index on a table the first migration made: production had rows by then.
    ("ADD-UNIQUE", "20230101_000001", 4, "warning"),
    ("DROP-TABLE", "20230101_000007", 5, "error"),  # push_subscriptions, with its rows
    ("UPDATE-ALL-ROWS", "20230101_000012", 3, "warning"),  # the three json_insert backfills
    ("UPDATE-ALL-ROWS", "20230101_000012", 4, "warning"),
    ("UPDATE-ALL-ROWS", "20230101_000012", 5, "warning"),
]
# (construct, file's version, line) of `parity`: withheld, each with its reason. The FTS5
# index and its three triggers have no PostgreSQL form; json_insert writes JSON text
# PostgreSQL writes otherwise.
PARITY = [
    ("PRAGMA", "20230101_000000", 3),  # (a note: dropped)
    ("CREATE VIRTUAL TABLE", "20230101_000000", 131),
    ("depends on a withheld statement", "20230101_000000", 138),
    ("depends on a withheld statement", "20230101_000000", 147),
    ("depends on a withheld statement", "20230101_000000", 152),
    ("randomblob() id", "20230101_000011", 3),  # (a note: its digits from gen_random_uuid())
    ("json_insert()", "20230101_000012", 3),
    ("json_insert()", "20230101_000012", 4),
    ("json_insert()", "20230101_000012", 5),
]


def test_lint_all_and_parity_on_postgresql(mdirs: MigrationDirs, pg_url: str) -> None:
    """`lint --all` as D1 runs the set, and `parity`: all 16 tables match (the FTS5 table and
    its shadow tables are no tables), every `cdate DATETIME … DEFAULT (STRFTIME(…, 'NOW'))`
    cast, the tables whose constraints stand with no comma between them parsed, 0007's
    `endpoint TEXT NULL NOT NULL` kept NOT NULL. `push_subscriptions`' CHECK, among such
    constraints, was not seen on the SQLite side (a false "CHECK on (on_announcement)"
    difference, exit 1 on every run)."""
    _renamed_set(mdirs)
    _wrangler_toml(mdirs.root)
    # No config yet: the set is judged as D1 runs it, its wrangler.toml declaring D1; the
    # drop of `push_subscriptions`, which no key points at, notes nothing.
    res = run_cli(*mdirs.args(), "lint", "--all", "--json", cwd=mdirs.root)
    assert res.code == 1, res.err  # the NO-ROLLBACK errors and the DROP-TABLE
    report = json.loads(res.out)
    assert report["rule_sets"] == ["general", "sqlite", "d1"]
    assert report["notes"] == [
        "D1's rules too: the set is in a wrangler project whose wrangler.toml declares D1 databases"
    ]
    found = [(f["rule"], f["file"][:15], f["line"], f["severity"]) for f in report["findings"]]
    assert [f for f in found if f[0] != "NO-ROLLBACK"] == LINT_ALL
    assert [f[1] for f in found if f[0] == "NO-ROLLBACK"] == [n[:15] for n in RENAMED]
    res = run_cli(*mdirs.args(), "d1", "lint", "--all", "--json", cwd=mdirs.root)
    assert res.code == 0 and json.loads(res.out)["findings"] == [], res.out
    base = ["--database", f"sqlite:///{mdirs.root / 'app.db'}", *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    res = run_cli(*base, "parity", "--postgres", pg_url, "--json")
    assert res.code == 1, res.err  # (the withheld statements)
    report = json.loads(res.out)["reports"][0]
    assert report["differences"] == []
    assert len(report["expected"]["tables"]) == 16
    got = [(f["construct"], f["file"][:15], f["line"]) for f in report["findings"]]
    assert got == PARITY
    notes = [f["construct"] for f in report["findings"] if f["severity"] == "note"]
    assert notes == ["PRAGMA", "randomblob() id"]


def test_a_check_among_comma_less_table_constraints_is_seen_on_sqlite() -> None:
    """The SQLite side of `parity` reads a table's CHECKs from its CREATE statement; one
    standing among table constraints with no comma between them was not read (sqlglot
    refused the statement), a false difference with the translation, which has it."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE apps (id TEXT PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE push (id INTEGER PRIMARY KEY, app_id TEXT, on_grade INTEGER,\n"
            "  UNIQUE(app_id)\n  CHECK (on_grade IN (0, 1))\n"
            "  FOREIGN KEY(app_id) REFERENCES apps(id))"
        )
        push = next(t for t in sqlite_shape(conn).tables if t.name == "push")
    finally:
        conn.close()
    assert push.checks == (CheckShape(("on_grade",)),)


def test_up_test_rollback_status_on_d1_and_sync_into_postgresql(
    d1: D1Target, mdirs: MigrationDirs, pg_url: str
) -> None:
    """The set and one migration written after the switch, on the D1 stand-in: `up` (its
    safety backup a client-side dump: D1 cannot export the FTS5 table), `test`, `rollback`,
    `status`; then the Worker's rows synced into PostgreSQL (post_tags, with no key to match
    rows by, copied whole)."""
    _renamed_set(mdirs)
    base = ["--database", d1.url, *mdirs.args()]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 0 and "applied 13 migration(s)" in res.err, res.err
    d1.sql(
        "INSERT INTO members (id, role, profile) VALUES ('https://kabar/m/sari', 'teacher', "
        "json_object('displayName', 'Bu Sari', 'handle', 'sari', 'className', 'XII IPA 1'))"
    )
    assert d1.sql("SELECT rowid FROM member_search WHERE member_search MATCH 'sari'") == [(1,)]
    d1.sql("UPDATE members SET profile = json_set(profile, '$.handle', 'bu.sari')")
    assert d1.sql("SELECT handle FROM member_search") == [("bu.sari",)]  # (the update trigger)
    d1.sql(
        "INSERT INTO posts (id, public_id, kind, author_id, pinned) "
        "VALUES ('p1', 'k1', 'announcement', 'https://kabar/m/sari', 1)"
    )
    d1.sql("INSERT INTO post_tags (tag, post_id) VALUES ('ujian', 'p1'), ('ujian', 'p1')")
    mdirs.add("20230102_000000", "add_bio", "ALTER TABLE members ADD COLUMN bio TEXT NOT NULL "
              "DEFAULT '';", "ALTER TABLE members DROP COLUMN bio;")  # fmt: skip
    res = run_cli(*base, "test")
    assert res.code == 1, res.err  # the 13 forward-only files
    assert "1 of 14 migration(s) apply, roll back cleanly and re-apply" in res.err, res.err
    res = run_cli(*base, "up")
    assert res.code == 0, res.err
    backups = json.loads(run_cli(*base, "backup", "list", "--json").out)
    assert [(b["method"], b["reason"]) for b in backups] == [("d1-client-dump", "pre-up")]
    assert run_cli(*base, "rollback", "--no-backup", "--yes").code == 0
    assert run_cli(*base, "up", "--no-backup").code == 0
    res = run_cli(*base, "status", "--json")
    assert [m["state"] for m in json.loads(res.out)["migrations"]] == ["applied"] * 14
    config = mdirs.root / "malnu.toml"
    config.write_text(
        f'[targets.prod]\nurl = "{d1.url}"\n\n[targets.mirror]\nurl = "{pg_url}"\n\n'
        '[sync.cermin]\nfrom = "prod"\nto = "mirror"\n',
        encoding="utf-8",
    )
    res = run_cli("--config", str(config), "sync", "cermin", "--yes")
    assert res.code == 0 and "synced and verified" in res.err, res.err
    assert "no key: copied whole each time, 2 rows" in res.err, res.err  # post_tags
    with psycopg.connect(pg_url) as conn:
        got = conn.execute("SELECT id, profile, bio FROM members").fetchall()
        tags = conn.execute("SELECT tag, post_id FROM post_tags").fetchall()
        apps = conn.execute("SELECT label, length(secret) FROM apps").fetchall()
    profile = '{"displayName":"Bu Sari","handle":"bu.sari","className":"XII IPA 1"}'
    assert got == [("https://kabar/m/sari", profile, "")]
    assert tags == [("ujian", "p1"), ("ujian", "p1")]
    assert apps == [("Lobby kiosk", 84)]  # (0010's row, its secret as D1 drew it)


def test_d1_lint_without_the_live_database_notes_the_drop_that_has_children(
    mdirs: MigrationDirs,
) -> None:
    """Without the live database the RESTRICT check is one note per run: a drop of a table
    no key points at, earlier in the set, took it ("children ()"), and the drop whose
    children may hold rows went unsaid."""
    init = (
        "CREATE TABLE peers (domain TEXT);\nCREATE TABLE kelas (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, kelas_id INTEGER REFERENCES kelas(id));"
    )
    mdirs.add("20250101_000100", "init", init)
    mdirs.add("20250101_000200", "drop_peers", "DROP TABLE peers;")
    mdirs.add("20250101_000300", "drop_kelas", "DROP TABLE kelas;")
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback), None, d1=True)
    assert [n.split(": DROP")[0] for n in report.notes] == ["20250101_000300_drop_kelas.sql:1"]
    assert "children (siswa)" in report.notes[0]
