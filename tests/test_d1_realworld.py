"""What breaks on D1 but works on a local SQLite file, found by driving the real CLI against
the local D1 server: each test is one bug an operator met, run on real processes and the
stand-in's real SQLite."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from malnu_tui.engine.backends.d1.backend import D1Backend
from malnu_tui.engine.backends.d1.timetravel import current_bookmark
from malnu_tui.engine.config import Target, open_backend
from tests.d1server import Fault
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target
from tests.sync_support import Db, make_db, sync, verify

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


def connect(d1: D1Target, d: MigrationDirs) -> D1Backend:
    b = open_backend(Target("prod", d1.url, d.migrations, d.rollback, d.root / "backups", FAST))
    assert isinstance(b, D1Backend)
    b.ensure_schema()
    return b


def test_time_travel_whose_answer_is_lost_still_prints_the_real_undo_bookmark(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """The restore ran but its answer was lost; the retry's previous_bookmark is the already
    restored state, so the printed "undo" bookmark used to undo nothing."""
    d = mdirs
    d.add("20250101_000100", "t", "CREATE TABLE t (v TEXT);", "DROP TABLE t;")
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "up", "--yes", "--no-backup").code == 0
    back_to = run_cli(*base, "d1", "bookmark").out.strip()
    b = connect(d1, d)
    b.api.batch(["INSERT INTO t (v) VALUES ('written after')"], lambda: False)
    d1.server.inject(Fault("drop-after", count=1, path="time_travel/restore"))
    res = run_cli(*base, "d1", "time-travel", "--bookmark", back_to, "--yes")
    assert res.code == 0, res.err
    assert d1.sql("SELECT count(*) FROM t") == [(0,)]
    undo = res.err.split("to undo: malnu-tui d1 time-travel --bookmark ", 1)[1].split()[0]
    audit = b.read_audit(action="restore") or b.read_audit(action="recover")
    assert f"undo with bookmark {undo}" in audit[0].detail
    res = run_cli(*base, "d1", "time-travel", "--bookmark", undo, "--yes")
    assert res.code == 0, res.err
    assert d1.sql("SELECT v FROM t") == [("written after",)], "the undo bookmark undid nothing"
    assert current_bookmark(b)
    b.close()


def test_up_refuses_migrations_wrangler_already_applied(d1: D1Target, mdirs: MigrationDirs) -> None:
    """wrangler applied the first two (the team then renamed 0001_… to timestamps); `status`
    said "run adopt", but `up` ran them again: the seed row was inserted twice."""
    d = mdirs
    d.add("20250101_000100", "create_users", "CREATE TABLE IF NOT EXISTS users (name TEXT);")
    d.add("20250101_000200", "seed_admin", "INSERT INTO users (name) VALUES ('admin');")
    d.add("20250101_000300", "add_role", "ALTER TABLE users ADD COLUMN role TEXT;")
    b = connect(d1, d)
    # What `wrangler d1 migrations apply --remote` leaves behind: its own SQL and table.
    b.api.batch(
        [
            "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
            "CREATE TABLE IF NOT EXISTS users (name TEXT)",
            "INSERT INTO users (name) VALUES ('admin')",
            "INSERT INTO d1_migrations (name) VALUES ('0001_create_users.sql')",
            "INSERT INTO d1_migrations (name) VALUES ('20250101_000200_seed_admin.sql')",
        ],
        lambda: False,
    )
    base = ["--database", d1.url, *d.args()]
    res = run_cli(*base, "up", "--yes")
    assert res.code == 1, res.err
    assert "wrangler already applied 2 pending migration(s)" in res.err
    assert "20250101_000100_create_users.sql (wrangler's 0001_create_users.sql)" in res.err
    assert "malnu-tui adopt" in res.err
    assert d1.sql("SELECT count(*) FROM users") == [(1,)]
    assert b.fetch_records() == []
    assert run_cli(*base, "up", "--dry-run").code == 1
    assert run_cli(*base, "adopt").code == 0
    res = run_cli(*base, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert d1.sql("SELECT name, role FROM users") == [("admin", None)]
    assert [r.filename for r in b.fetch_records() if r.success] == [
        "20250101_000100_create_users.sql",
        "20250101_000200_seed_admin.sql",
        "20250101_000300_add_role.sql",
    ]
    b.close()


def test_wrangler_history_follows_what_malnu_applies_and_rolls_back(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """After `malnu-tui up`, `wrangler d1 migrations apply` listed the new migration as still
    to apply (and would have run it a second time): d1_migrations never heard of it."""
    d = mdirs
    d.add("20250101_000100", "create_users", "CREATE TABLE users (name TEXT);", "DROP TABLE users;")
    d.add("20250101_000200", "seed", "INSERT INTO users VALUES ('admin');", "DELETE FROM users;")
    b = connect(d1, d)
    b.api.batch(
        [
            "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
            "CREATE TABLE users (name TEXT)",
            "INSERT INTO d1_migrations (name) VALUES ('20250101_000100_create_users.sql')",
        ],
        lambda: False,
    )
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "adopt").code == 0
    res = run_cli(*base, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert d1.sql("SELECT name FROM d1_migrations ORDER BY id") == [
        ("20250101_000100_create_users.sql",),
        ("20250101_000200_seed.sql",),
    ]
    res = run_cli(*base, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert d1.sql("SELECT name FROM d1_migrations") == [("20250101_000100_create_users.sql",)]
    assert d1.sql("SELECT count(*) FROM users") == [(0,)]
    b.close()


def test_a_statement_at_d1s_size_limit_is_measured_as_sent(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """D1 allows 100,000 bytes per statement, and each statement goes out ending in "\\n;":
    one of exactly 100,000 bytes passed the tool's own check and the lint, then D1 refused
    it (SQLITE_TOOBIG). Now both measure the statement as sent; 2 bytes less goes through."""
    d = mdirs
    head, tail = "INSERT INTO t (v) VALUES ('", "')"

    def insert(size: int) -> str:
        return head + "x" * (size - len(head) - len(tail)) + tail

    d.add("20250101_000100", "t", "CREATE TABLE t (v TEXT);", "DROP TABLE t;")
    d.add("20250101_000200", "fits", insert(99_998) + ";", "DELETE FROM t;")
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "up", "--yes", "--no-backup").code == 0
    assert d1.sql("SELECT length(v) FROM t") == [(99_998 - len(head) - len(tail),)]
    d.add("20250101_000300", "too_big", insert(100_000) + ";", "DELETE FROM t;")
    lint = run_cli(*base, "lint")
    assert "D1-STATEMENT-SIZE" in lint.out and "100002 bytes" in lint.out, lint.out
    res = run_cli(*base, "up", "--yes", "--no-backup")
    assert res.code == 2 and "100002 bytes as sent; D1 allows 100000" in res.err, res.err
    assert "SQLITE_TOOBIG" not in res.err  # refused here, before D1 was asked
    assert d1.sql("SELECT count(*) FROM t") == [(1,)]


def test_up_refuses_a_statement_d1_refuses_before_any_migration_runs(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """A legacy seed of 4,000 rows in one INSERT (108 KB) pending after a small migration:
    `up` took the safety backup, applied the small one, then refused the seed at its line and
    recorded it failed — exit 1 with half the release applied, though the lint had called the
    seed an error before anything ran. Now the plan is refused whole, naming file and line
    (exit 2): no backup, nothing run, no tracking row. A rollback file D1 refuses
    (`SAVEPOINT`) likewise stops `rollback --steps 2` before the newer step is undone (it
    undid that one, then failed on the older)."""
    d = mdirs
    # Its rollback is one D1 refuses: `rollback --steps 2` must stop before the newer step.
    undo = "SAVEPOINT s;\nDROP TABLE users;\nRELEASE s;"
    d.add("20250101_000100", "users", "CREATE TABLE users (email TEXT);", undo)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[backup]\ndir = "{tmp_path / "backups"}"\n', encoding="utf-8")
    base = ["--config", str(cfg), "--database", d1.url, *d.args()]
    assert run_cli(*base, "up", "--yes", "--no-backup").code == 0
    phone = "ALTER TABLE users ADD COLUMN phone TEXT;"
    d.add("20250101_000200", "phone", phone, "ALTER TABLE users DROP COLUMN phone;")
    rows = ",\n".join(f"('user{i}@sekolah.sch.id')" for i in range(4000))
    seed = d.add("20250101_000300", "seed", f"-- legacy seed\nINSERT INTO users VALUES\n{rows};")
    since = len(d1.server.requests)
    for args in (["up", "--dry-run"], ["up", "--yes"]):
        res = run_cli(*base, *args)
        assert res.code == 2, (args, res.err)
        assert f"{seed}:2: statement is " in res.err and "D1 allows 100000" in res.err, res.err
    cols = [r[1] for r in d1.sql("PRAGMA table_info(users)")]
    assert cols == ["email"]  # the migration before the seed did not run
    assert d1.sql("SELECT filename, success FROM migrations") == [("20250101_000100_users.sql", 1)]
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").rglob("*.sql"))
    assert not [r for r in d1.server.requests[since:] if "ADD COLUMN phone" in r.body]
    seed.unlink()
    assert run_cli(*base, "up", "--yes", "--no-backup").code == 0
    res = run_cli(*base, "rollback", "--steps", "2", "--yes", "--no-backup")
    assert res.code == 2 and "20250101_000100_undo_users.sql:1: D1 rejects SAVEPOINT" in res.err
    assert [r[1] for r in d1.sql("PRAGMA table_info(users)")] == ["email", "phone"]


_WIDE = (
    "CREATE TABLE nilai_rapor (\n  siswa_id INTEGER,\n"
    + ",\n".join(f"  mapel_{i:03d} REAL" for i in range(100))
    + "\n);"
)
_PAIRS = ", ".join(f"'k{i}', {i}" for i in range(17))


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        (_WIDE, "too many columns on nilai_rapor"),
        (f"CREATE VIEW rapor AS SELECT json_object({_PAIRS}) AS j;", "too many arguments"),
    ],
    ids=["101-columns", "34-arguments"],
)
def test_up_refuses_a_statement_over_d1s_parsed_limits_before_any_migration_runs(
    d1: D1Target, mdirs: MigrationDirs, sql: str, said: str
) -> None:
    """A report table of 101 columns (a school's subjects, one a column), or a view calling
    json_object with 17 pairs: D1 refuses either as it reads it (its limits: 100 columns a
    table, 32 arguments a function), and the lint called it an error, yet `up` applied the
    migrations before it, then sent it, and recorded it failed (exit 1). Now the plan is
    refused before anything runs, naming file and line (exit 2)."""
    d = mdirs
    d.add("20250101_000100", "users", "CREATE TABLE users (email TEXT);", "DROP TABLE users;")
    wide = d.add("20250101_000200", "wide", "-- the report\n" + sql, "SELECT 1;")
    base = ["--database", d1.url, *d.args()]
    res = run_cli(*base, "up", "--yes", "--no-backup")
    assert res.code == 2, res.err
    assert f"{wide}:2: D1 refuses it: {said}" in res.err, res.err
    assert d1.sql("SELECT name FROM sqlite_master WHERE name = 'users'") == []


def _pair(tmp_path: Path, d1: D1Target, ddl: str, rows: list[tuple[object, ...]]) -> list[str]:
    """A SQLite primary holding ``rows`` of the table ``ddl`` makes, and a sync pair into D1."""
    conn = sqlite3.connect(str(tmp_path / "primary.db"))
    with conn:
        conn.execute(ddl)
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO rapor VALUES ({marks})", rows)
    conn.close()
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:{tmp_path / "primary.db"}"\n\n'
        f'[targets.prod]\nurl = "{d1.url}"\n\n'
        '[sync.naik]\nfrom = "primary"\nto = "prod"\ntables = ["rapor"]\nchunk_rows = 2\n',
        encoding="utf-8",
    )
    return ["--config", str(config)]


def _scans(d1: D1Target) -> list[tuple[int, bytes]]:
    """The BLOBs of the stand-in's rapor table, as its file holds them (no limit applies)."""
    with d1.db.lock:
        conn = sqlite3.connect(str(d1.db.path))
        try:
            return list(conn.execute("SELECT id, scan FROM rapor ORDER BY id").fetchall())
        finally:
            conn.close()


def test_a_blob_d1_keeps_is_synced_into_d1_and_read_back_in_pieces(
    tmp_path: Path, d1: D1Target
) -> None:
    """A scanned report card of 1.2 MB into D1: the sync counted a BLOB by its X'…' literal,
    twice its size, and refused it as "a row of 2,400,0… bytes" (exit 1), though D1 keeps
    2 MB; then it refused any BLOB over 999,999 bytes (exit 2): the sync read a BLOB column
    back as hex, twice its size, over D1's 2,000,000 a value, so could not verify it. Now one
    too large for one hex() is read back in pieces: BLOBs of 999,999, 1,000,000 and 1,999,000
    random bytes (NUL and 0xFF among them) are written, read back exact and verified; a row
    D1 cannot hold is still refused by table, row and column, before its chunk's batch."""
    early, stamp = "2025-11-01 08:00:00", "2025-11-24 08:00:00"
    rng = random.Random(14)
    scans = [b"\x00\xff" + rng.randbytes(n - 4) + b"\xff\x00" for n in (999_999, 1_000_000)]
    rows = [(1, b"\x00\xff", early), (2, scans[0], early), (3, scans[1], stamp)]
    cfg = _pair(
        tmp_path,
        d1,
        "CREATE TABLE rapor (id INTEGER PRIMARY KEY, scan BLOB, updated_at TEXT)",
        rows,
    )
    done = run_cli("sync", "naik", "--yes", *cfg)
    assert done.code == 0, done.err
    assert _scans(d1) == [(i, v) for i, v, _ in rows]
    big = b"\xff" + rng.randbytes(1_998_998) + b"\x00"
    conn = sqlite3.connect(str(tmp_path / "primary.db"))
    with conn:
        conn.execute(
            "UPDATE rapor SET scan = ?, updated_at = '2025-11-25 08:00:00' WHERE id = 3", [big]
        )
    conn.close()
    res = run_cli("sync", "naik", "--yes", *cfg)
    assert res.code == 0, res.err
    since = len(d1.server.requests)
    verified = run_cli("sync", "verify", "naik", *cfg)
    assert verified.code == 0, verified.err + verified.out
    assert [r for r in d1.server.requests[since:] if "hex(substr(" in r.body]  # read in pieces
    assert _scans(d1) == [(1, rows[0][1]), (2, scans[0]), (3, big)]
    conn = sqlite3.connect(str(tmp_path / "primary.db"))
    with conn:
        conn.execute(
            "UPDATE rapor SET scan = ?, updated_at = '2025-11-26 08:00:00' WHERE id = 3",
            [big + b"\x00" * 1_000],
        )
    conn.close()
    since = len(d1.server.requests)
    res = run_cli("sync", "naik", "--yes", *cfg)
    assert res.code == 2, res.err
    assert "writing rapor, row id=3, column scan" in res.err, res.err
    assert "SQLITE_TOOBIG" not in res.err
    sent = [r.body for r in d1.server.requests[since:]]
    assert not [b for b in sent if 'INTO \\"rapor\\"' in b]
    assert d1.sql("SELECT id, length(scan) FROM rapor WHERE id = 3") == [(3, 1_999_000)]


def test_a_row_at_d1s_row_limit_is_a_rejected_row_not_a_failed_import(
    tmp_path: Path, d1: D1Target
) -> None:
    """D1 keeps a row under 2,000,000 bytes as SQLite stores it, its header counted. The
    import added up the values alone: a bio of 1,999,990 characters passed, D1 refused the
    batch (`string or blob too big`), and the whole import stopped on "D1 limit reached",
    naming no line. It is now a rejected row named by line and column, as a larger one was;
    the rest of the file is imported."""
    d1.sql("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, bio TEXT)")
    bio = "x" * 1_999_990
    path = tmp_path / "users.csv"
    path.write_text(f"id,name,bio\n1,Ani,pendek\n2,Budi,{bio}\n3,Citra,ok\n", encoding="utf-8")
    res = run_cli(
        "--database",
        d1.url,
        "import",
        str(path),
        "--table",
        "users",
        "--max-errors",
        "1",
        "--yes",
    )
    assert res.code == 0, res.err
    assert "rejected line 3 bio: the row is too large for D1" in res.err, res.err
    assert "D1 keeps rows under 2,000,000 bytes" in res.err
    assert d1.sql("SELECT id, length(bio) FROM users ORDER BY id") == [(1, 6), (3, 2)]


def test_an_import_into_a_full_d1_database_is_told_the_database_is_full(
    tmp_path: Path, d1: D1Target
) -> None:
    """D1 refuses a batch past the database's size limit (500 MB on Workers Free, 10 GB on
    Paid). An import into a nearly full database, which stages its rows in it before the
    promote, stopped on `D1 limit reached: … Exceeded maximum DB size` with the hint to
    "split large data migrations into smaller files": no file to split, and a smaller one
    fills it all the same. The hint says the database is full, its limits, and that an import
    needs its rows' size free twice; nothing was imported, no staging table is left."""
    d1.sql("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT)")
    path = tmp_path / "siswa.csv"
    path.write_text("id,nama\n" + "".join(f"{i},{'n' * 3000}\n" for i in range(1, 200)))
    d1.server.max_db_bytes = (int(str(d1.sql("PRAGMA page_count")[0][0])) + 200) * 4096
    try:
        res = run_cli("--database", d1.url, "import", str(path), "--table", "siswa", "--yes")
    finally:
        d1.server.max_db_bytes = None
    assert res.code == 1, res.err
    assert "Exceeded maximum DB size" in res.err, res.err
    hint = res.err.split("hint: ", 1)[1]
    assert "split" not in hint and "10 GB" in hint and "twice" in hint, hint
    assert d1.sql("SELECT count(*) FROM siswa") == [(0,)]
    assert d1.sql("SELECT count(*) FROM sqlite_master WHERE name LIKE '%stage%'") == [(0,)]


def test_a_blob_over_what_d1_gives_back_whole_is_synced_out_of_d1_exact(
    tmp_path: Path, d1: D1Target
) -> None:
    """An application's Worker can store a BLOB up to 2 MB in D1; over D1's HTTP API the
    sync read a BLOB column as hex, twice its size, which D1 refuses over its 2,000,000
    bytes a value: a sync out of D1 stopped on "D1 limit reached: string or blob too big"
    (exit 1), later on a refusal naming the row (exit 2); the table could not be synced at
    all. Such a value is now read in pieces by its row's key: the copy holds the bytes
    exact (999,999, 1,000,000 and 1,999,000 random bytes, NUL and 0xFF among them), and
    the sync's verification, which reads both sides' values, passes."""
    rng = random.Random(15)
    scans = {
        i: b"\x00" + rng.randbytes(n - 2) + b"\xff"
        for i, n in ((2, 999_999), (3, 1_000_000), (5, 1_999_000))
    }
    d1.sql("CREATE TABLE rapor (id INTEGER PRIMARY KEY, scan BLOB, updated_at TEXT)")
    with d1.db.lock:
        conn = sqlite3.connect(str(d1.db.path))
        with conn:
            conn.executemany(
                "INSERT INTO rapor VALUES (?, ?, '2025-11-24 08:00:00')",
                [(1, b"\x00\xff"), *scans.items(), (4, None), (6, b"")],
            )
        conn.close()
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.prod]\nurl = "{d1.url}"\n\n'
        f'[targets.copy]\nurl = "sqlite:{tmp_path / "copy.db"}"\n\n'
        '[sync.turun]\nfrom = "prod"\nto = "copy"\ntables = ["rapor"]\n',
        encoding="utf-8",
    )
    res = run_cli("sync", "turun", "--yes", "--config", str(config))
    assert res.code == 0, res.err
    copy = sqlite3.connect(str(tmp_path / "copy.db"))
    try:
        got = copy.execute("SELECT id, scan FROM rapor ORDER BY id").fetchall()
    finally:
        copy.close()
    assert got == [(1, b"\x00\xff"), (2, scans[2]), (3, scans[3]), (4, None), (5, scans[5]),
                   (6, b"")]  # fmt: skip
    verified = run_cli("sync", "verify", "turun", "--config", str(config))
    assert verified.code == 0, verified.err + verified.out


def test_an_import_from_d1_reads_a_blob_over_what_d1_gives_back_whole(
    tmp_path: Path, d1: D1Target
) -> None:
    """`import --from` a D1 table reads a BLOB as hex too: one over 999,999 bytes (stored by
    the application's Worker) stopped the import on "D1 limit reached: string or blob too
    big", naming nothing, later on a refusal naming its row (exit 2): the table could not
    be imported. Such a value is now read in pieces by its row's key: 999,999, 1,000,000 and
    1,999,000 random bytes (NUL and 0xFF among them) arrive exact, in a table keyed by its
    rowid's own column and in one keyed by text."""
    rng = random.Random(16)
    scans = [b"\x00" + rng.randbytes(n - 2) + b"\xff" for n in (999_999, 1_000_000, 1_999_000)]
    rows = [(1, b"\x00\xff"), (2, scans[0]), (3, None), (7, scans[1]), (9, scans[2])]
    d1.sql("CREATE TABLE rapor (id INTEGER PRIMARY KEY, scan BLOB)")
    d1.sql("CREATE TABLE foto (nis TEXT PRIMARY KEY, scan BLOB) WITHOUT ROWID")
    with d1.db.lock:
        conn = sqlite3.connect(str(d1.db.path))
        with conn:
            conn.executemany("INSERT INTO rapor VALUES (?, ?)", rows)
            conn.executemany("INSERT INTO foto VALUES (?, ?)", [(f"n{i}", v) for i, v in rows])
        conn.close()
    copy = tmp_path / "copy.db"
    conn = sqlite3.connect(str(copy))
    conn.execute("CREATE TABLE rapor (id INTEGER PRIMARY KEY, scan BLOB)")
    conn.execute("CREATE TABLE foto (nis TEXT PRIMARY KEY, scan BLOB)")
    conn.close()
    for table in ("rapor", "foto"):
        res = run_cli(
            "--database", f"sqlite:///{copy}", "import", "--from", f"{d1.url}:{table}",
            "--table", table, "--yes", "--no-backup",
        )  # fmt: skip
        assert res.code == 0, res.err
    conn = sqlite3.connect(str(copy))
    try:
        assert conn.execute("SELECT id, scan FROM rapor ORDER BY id").fetchall() == rows
        assert conn.execute("SELECT nis, scan FROM foto ORDER BY nis").fetchall() == [
            (f"n{i}", v) for i, v in rows
        ]
    finally:
        conn.close()


def test_an_import_from_a_d1_table_of_100_columns_names_a_blob_it_cannot_read(
    tmp_path: Path, d1: D1Target
) -> None:
    """A table of D1's 100 columns leaves no room in the reading for the list of values read
    in pieces: a BLOB over 999,999 bytes there is still refused by row and column (it
    stopped the import on "D1 limit reached: string or blob too big", naming nothing)."""
    cols = ", ".join(f"c{i} TEXT" for i in range(98))
    d1.sql(f"CREATE TABLE rapor (id INTEGER PRIMARY KEY, {cols}, scan BLOB)")
    d1.sql("INSERT INTO rapor (id, scan) VALUES (1, x'00ff'), (7, zeroblob(1000000))")
    copy = tmp_path / "copy.db"
    conn = sqlite3.connect(str(copy))
    conn.execute(f"CREATE TABLE rapor (id INTEGER PRIMARY KEY, {cols}, scan BLOB)")
    conn.close()
    res = run_cli(
        "--database", f"sqlite:///{copy}", "import", "--from", f"{d1.url}:rapor",
        "--table", "rapor", "--yes", "--no-backup",
    )  # fmt: skip
    assert res.code == 2, res.err
    assert "row id=7, column scan: a BLOB of 1,000,000 bytes" in res.err, res.err
    assert "a table of 100 columns" in res.err and "at most 999,999 bytes" in res.err
    conn = sqlite3.connect(str(copy))
    assert conn.execute("SELECT count(*) FROM rapor").fetchone() == (0,)
    conn.close()


def test_a_d1_table_of_large_blobs_syncs_to_postgresql_exact_both_ways(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    """The school's case: its D1 holds scans of 1 to 2 MB; the sync to PostgreSQL refused
    the table (a BLOB over 999,999 bytes, exit 2). Now each crosses into `bytea` exact, the
    verification reads both sides' values, and a change to one byte of one is a difference
    that the next sync repairs; back into D1, the same bytes are written and verified."""
    rng = random.Random(17)
    scans = [b"\x00" + rng.randbytes(n - 2) + b"\xff" for n in (1_999_000, 1_000_000, 999_999)]
    src = make_db("d1", request, tmp_path, "d1")
    src.run("CREATE TABLE rapor (id INTEGER PRIMARY KEY, scan BLOB, updated_at DATETIME)")
    rows = [(i, v, "2025-11-24 08:00:00") for i, v in enumerate([b"\x00", *scans], start=1)]
    with d1.db.lock:
        conn = sqlite3.connect(str(d1.db.path))
        with conn:
            conn.executemany("INSERT INTO rapor VALUES (?, ?, ?)", rows)
        conn.close()
    pg = make_db("postgresql", request, tmp_path, "pg")
    report = sync(src, pg)
    assert (report.inserted, report.verified) == (4, True), report
    assert pg.run("SELECT id, scan FROM rapor ORDER BY id") == [(i, v) for i, v, _ in rows]
    changed = scans[0][:1_500_000] + b"\x01" + scans[0][1_500_001:]
    with d1.db.lock:
        conn = sqlite3.connect(str(d1.db.path))
        with conn:
            conn.execute("UPDATE rapor SET scan = ? WHERE id = 2", [changed])
        conn.close()
    assert not verify(src, pg).verified
    again = sync(src, pg, full=True)
    assert again.verified, again
    assert pg.run("SELECT scan FROM rapor WHERE id = 2") == [(changed,)]
    other = D1Target(d1.server, d1.server.add_database(d1.db.account))
    back = Db("d1", other.url, d1=other)
    home = sync(pg, back)
    assert (home.inserted, home.verified) == (4, True), home
    with other.db.lock:
        conn = sqlite3.connect(str(other.db.path))
        try:
            got = conn.execute("SELECT id, scan FROM rapor ORDER BY id").fetchall()
        finally:
            conn.close()
    assert got == [(1, b"\x00"), (2, changed), (3, scans[1]), (4, scans[2])]
