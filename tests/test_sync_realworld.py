"""The sync on the school's real-world data, on real databases (SQLite, PostgreSQL, the D1
stand-in): values legacy data holds, and how operators really run it. Each test names the bug
it guards; both sides are also compared directly, not only through the tool's own verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError, ConfigError
from malnu_tui.engine.sync import SyncRequest, SyncSession, plan_sync, run_sync, verify_sync
from malnu_tui.engine.sync.model import SyncProgress
from tests.sync_support import Db, make_db, sqlite_source, sqlite_to_pg, sync, verify

PAIRS = [
    ("sqlite", "postgresql"),
    ("d1", "postgresql"),
    ("postgresql", "sqlite"),
    ("postgresql", "d1"),
]


def _ends(request: pytest.FixtureRequest, tmp_path: Path, pair: tuple[str, str]) -> tuple[Db, Db]:
    a, b = pair
    return make_db(a, request, tmp_path, "source"), make_db(b, request, tmp_path, "dest")


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_dates_before_the_year_1000_are_no_difference(
    pair: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Legacy rows hold Go's and .NET's zero date, 0001-01-01. A table whose rows are hashed by
    the tool (here: it has a JSON column) normalized a date read from PostgreSQL through
    strftime, which writes year 1 as '1': every such row was 'different' for ever, repaired by
    each sync and still reported (exit 1)."""
    src, dst = _ends(request, tmp_path, pair)
    if src.kind == "postgresql":
        src.run("CREATE TABLE kalender (id BIGINT PRIMARY KEY, tanggal DATE, meta JSONB)")
    else:
        src.run("CREATE TABLE kalender (id INTEGER PRIMARY KEY, tanggal DATE, meta JSON)")
    dates = ["0001-01-01", "0999-12-31", "1000-01-01", "2025-11-24", None]
    src.many(
        "INSERT INTO kalender (id, tanggal, meta) VALUES (?, ?, ?)",
        [(i, d, '{"libur": false}') for i, d in enumerate(dates, 1)],
    )
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    assert verify(src, dst).verified
    copied = [
        (int(i), None if d is None else str(d))
        for i, d in dst.run("SELECT id, tanggal FROM kalender ORDER BY id")
    ]
    assert copied == [(i, d) for i, d in enumerate(dates, 1)]


def test_a_copy_last_synced_from_another_source_is_synced_in_full(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The reporting pair's `from` switched from the local primary to production (D1), or an
    operator ran `sync --from production` into the same copy: the state row of the copy, kept
    per table, held the other source's watermark, and the pass read only this source's rows
    stamped after it — every older row of production that differed stayed as the other source
    had it, and the sync said verified."""
    local = make_db("sqlite", request, tmp_path, "primary")
    production = make_db("d1", request, tmp_path, "production")
    dst = make_db("postgresql", request, tmp_path, "analytics")
    production.create_users(50, updated="2025-11-20 08:00:00")
    production.run("UPDATE users SET name = 'Produksi ' || id")
    local.create_users(40, updated="2025-11-24 08:00:00")

    def run(src: Db, name: str) -> tuple[str, bool, tuple[str, ...]]:
        with SyncSession(src.target(name), dst.target("analytics")) as s:
            (plan,) = plan_sync(s, SyncRequest())
            (report,) = run_sync(s, SyncRequest(), None)
        return report.mode, report.verified, plan.notes

    assert run(local, "primary")[:2] == ("full", True)
    mode, verified, notes = run(production, "production")
    assert (mode, verified) == ("full", True)
    assert notes == ("last synced from primary: a full pass",)
    assert dst.run("SELECT id, name FROM users ORDER BY id") == production.run(
        "SELECT id, name FROM users ORDER BY id"
    )
    with SyncSession(production.target("production"), dst.target("analytics")) as s:
        (checked,) = verify_sync(s, ())
    assert checked.verified
    # The next pass from the same source is incremental again.
    production.run(
        "UPDATE users SET name = 'Baru', updated_at = '2025-11-25 09:00:00' WHERE id = 7"
    )
    assert run(production, "production")[:2] == ("updated_at", True)
    assert dst.run("SELECT name FROM users WHERE id = 7") == [("Baru",)]


@pytest.mark.parametrize("source", ["sqlite", "d1"])
def test_a_nul_character_in_a_text_is_named_by_its_row_with_what_to_do(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SQLite keeps a NUL inside a text (a message pasted from a binary file, a C string's
    end); PostgreSQL's text cannot hold one and psycopg refuses it before it is sent. From a
    SQLite file the sync stopped on psycopg's bare DataError (no target, no row, no hint),
    from D1 on a message naming no row."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db("postgresql", request, tmp_path, "analytics")
    src.run(
        "CREATE TABLE chat_conversations (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, "
        "message TEXT NOT NULL, response TEXT, updated_at DATETIME)"
    )
    rows = [(i, i, f"Halo {i} 👋", "Baik", "2025-11-20T08:00:00.000Z") for i in range(1, 31)]
    src.many("INSERT INTO chat_conversations VALUES (?, ?, ?, ?, ?)", rows)
    src.run("UPDATE chat_conversations SET response = 'akhir' || char(0) || 'sisa' WHERE id = 17")
    with pytest.raises(BackendError) as refused:
        sync(src, dst)
    assert "writing chat_conversations, row id=17, column response" in str(refused.value)
    assert "NUL" in str(refused.value) and "replace" in (refused.value.hint or "")
    assert dst.run("SELECT to_regclass('chat_conversations')") == [(None,)]  # left as it was

    src.run("UPDATE chat_conversations SET response = 'akhir' WHERE id = 17")
    assert sync(src, dst).verified
    # The same in an incremental pass.
    src.run(
        "UPDATE chat_conversations SET message = 'x' || char(0), "
        "updated_at = '2025-11-25T08:00:00.000Z' WHERE id = 5"
    )
    with pytest.raises(BackendError) as again:
        sync(src, dst)
    assert "row id=5, column message" in str(again.value)


# Times PostgreSQL reads as another instant's text: a leap second, 24:00:00 (ISO 8601's end of
# day) and fractions finer than its microseconds (.NET's round-trip layout has seven digits).
REWRITTEN_TIMES = [
    ("2016-12-31 23:59:60", "2017-01-01 00:00:00"),
    ("2025-11-24 24:00:00", "2025-11-25 00:00:00"),
    ("2025-12-31 24:00:00", "2026-01-01 00:00:00"),
    ("2025-11-24 12:00:00.1234567", "2025-11-24 12:00:00.123457"),
    ("2025-11-24 12:00:00.0000025", "2025-11-24 12:00:00.000002"),  # rounded half to even
    ("2025-11-24 23:59:59.9999995", "2025-11-25 00:00:00"),
    ("2025-11-24T07:00:00.1234567Z", "2025-11-24 07:00:00.123457"),
    ("2025-11-24 08:00:00.123400", "2025-11-24 08:00:00.1234"),
    ("2025-11-24 08:00:00", "2025-11-24 08:00:00"),
]


@pytest.mark.parametrize("meta", ["json", "text"])
@pytest.mark.parametrize("pair", PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_times_postgresql_stores_as_another_text_are_no_difference(
    pair: tuple[str, str], meta: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A SQLite DATETIME holding a leap second, 24:00:00 or a seven-digit fraction is stored by
    PostgreSQL as the next minute or day, or rounded to microseconds (PostgreSQL 15 on each
    value). The sync compared the source's text as written: each such row was 'different' for
    ever, 'repaired' by every sync and reported again (exit 1). From PostgreSQL, its canonical
    text arrives as it is. (A JSON column: rows hashed by the tool on both sides; without one,
    PostgreSQL hashes its own and a full copy from SQLite goes the fast road.)"""
    src, dst = _ends(request, tmp_path, pair)
    if src.kind == "postgresql":
        src.run(f"CREATE TABLE absensi (id BIGINT PRIMARY KEY, waktu TIMESTAMP, meta {meta})")
    else:
        src.run(f"CREATE TABLE absensi (id INTEGER PRIMARY KEY, waktu DATETIME, meta {meta})")
    src.many(
        "INSERT INTO absensi (id, waktu, meta) VALUES (?, ?, ?)",
        [(i, written, '{"hadir": true}') for i, (written, _) in enumerate(REWRITTEN_TIMES, 1)],
    )
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    assert verify(src, dst).verified
    waktu = "waktu::text" if dst.kind == "postgresql" else "waktu"
    copied = [(int(i), w) for i, w in dst.run(f"SELECT id, {waktu} FROM absensi ORDER BY id")]
    assert copied == [(i, stored) for i, (_, stored) in enumerate(REWRITTEN_TIMES, 1)]
    again = sync(src, dst, full=True)
    assert (again.verified, again.updated, again.differences) == (True, 0, ())
    # Still a difference: another instant.
    src.run("UPDATE absensi SET waktu = '2016-12-31 23:59:59' WHERE id = 1")
    assert [d.key for d in verify(src, dst).differences] == [(1,)]


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_values_sqlite_cannot_hold_are_refused_by_row_with_what_to_do(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """From PostgreSQL: a NaN arrived in SQLite as NULL, -0 as 0, a numeric of more than 15
    significant digits rounded by SQLite's NUMERIC, an Infinity in D1 as NULL — each then
    'different' for ever, with no word of why. Each is now refused before its chunk is written,
    by row and column, with the statement that stores at the source what SQLite holds; values
    SQLite does hold exactly (Infinity in a file, 19-digit integers, numeric NaN) still sync."""
    src = make_db("postgresql", request, tmp_path, "analytics")
    dst = make_db(dest, request, tmp_path, "primary")
    src.run(
        "CREATE TABLE nilai (id BIGINT PRIMARY KEY, skor DOUBLE PRECISION, rata NUMERIC, "
        "updated_at TIMESTAMP NOT NULL)"
    )
    src.many(
        "INSERT INTO nilai VALUES (?, ?, ?, '2025-11-24 08:00:00')",
        [(i, i * 0.5, f"{i}.25") for i in range(1, 31)],
    )
    held = [
        ("rata", "1234567890123456789"),
        ("rata", "1E+20"),
        ("rata", "'NaN'"),
        ("rata", "85.333333333333"),
        ("skor", "-1.5e300"),
    ] + ([("skor", "'Infinity'"), ("skor", "'-Infinity'")] if dest == "sqlite" else [])
    for i, (column, value) in enumerate(held, 10):
        src.run(f"UPDATE nilai SET {column} = {value} WHERE id = {i}")
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())

    refused = [
        ("skor", "'NaN'", "NaN", '"skor" = NULL WHERE "skor" = \'NaN\''),
        ("skor", "'-0'", "-0", '"skor" = 0 WHERE "skor"::text = \'-0\''),
        ("rata", "85.3333333333333333", "18 significant digits", 'round("rata", 13)'),
        ("rata", "12345678901234567891", "20 significant digits", 'round("rata", -5)'),
    ] + ([("skor", "'-Infinity'", "D1", "'Infinity', '-Infinity'")] if dest == "d1" else [])
    for column, value, said, fix in refused:
        src.run(
            f"UPDATE nilai SET {column} = {value}, updated_at = '2025-11-25 08:00:00' WHERE id = 7"
        )
        with pytest.raises(BackendError) as stopped:
            sync(src, dst)
        assert f"writing nilai, row id=7, column {column}: " in str(stopped.value), value
        hint = stopped.value.hint or ""
        assert said in str(stopped.value) and fix in hint
        src.run(hint.split("e.g. ", 1)[1].split("; then", 1)[0])  # the hint's statement
        again = sync(src, dst, full=True)
        assert (again.verified, again.differences) == (True, ())


def test_a_text_that_is_not_utf8_is_named_by_its_row_with_what_to_do(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SQLite keeps bytes stored as TEXT that are no UTF-8 (a Latin-1 legacy import), and its
    Python driver stops the whole read on one: `sync` and `sync verify` stopped on "Could not
    decode to UTF-8 column 'nama'", naming no row among thousands, and no hint."""
    src = make_db("sqlite", request, tmp_path, "primary")
    dst = make_db("postgresql", request, tmp_path, "analytics")
    src.run("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, foto BLOB, updated_at TEXT)")
    src.many(
        "INSERT INTO siswa VALUES (?, ?, x'ff00', '2025-11-24 08:00:00')",
        [(i, f"Siswa {i}") for i in range(1, 41)],
    )
    src.run("UPDATE siswa SET nama = CAST(x'4a6f73e9' AS TEXT) WHERE id = 23")  # 'José', Latin-1
    with pytest.raises(BackendError) as stopped:
        sync(src, dst)
    said = "reading siswa, row id=23, column nama: its text is not UTF-8 (bytes x'4a6f73e9')"
    assert said in str(stopped.value)
    hint = stopped.value.hint or ""
    assert 'UPDATE "siswa" SET "nama" = \'José\' WHERE "id" = 23' in hint

    src.run("UPDATE siswa SET nama = 'José' WHERE id = 23")
    assert sync(src, dst).verified
    src.run("UPDATE siswa SET nama = CAST(x'c3' AS TEXT) WHERE id = 31")  # a cut character
    with pytest.raises(BackendError) as again:
        verify(src, dst)
    assert "reading siswa, row id=31, column nama: its text is not UTF-8" in str(again.value)
    src.run("UPDATE siswa SET updated_at = '2025-11-25 08:00:00' WHERE id = 31")
    with pytest.raises(BackendError) as incremental:
        sync(src, dst)
    assert "row id=31, column nama" in str(incremental.value)


def test_progress_shows_no_rate_of_a_near_zero_time_nor_a_count_past_its_total(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Progress printed "4,755,113,705 rows/s" (a phase's first event, which comes after a
    chunk or a range is done, divided by the microsecond since the phase "began" at it) and
    "verify 30/29 rows" (the rows of the side paged, the destination with an extra row, over
    the source's count: PostgreSQL hashes its ranges itself, the SQLite side is paged)."""
    src = make_db("postgresql", request, tmp_path, "analytics")
    dst = make_db("sqlite", request, tmp_path, "primary")
    src.create_users(29)
    events: list[SyncProgress] = []
    assert sync(src, dst, events.append, chunk_rows=10).verified
    dst.run(
        "INSERT INTO users (id, email, name, created_at, updated_at, synced_at) VALUES "
        "(30, 'lain@malnu.sch.id', 'Lain', '2025-11-24', '2025-11-24', '2025-11-24')"
    )
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (checked,) = verify_sync(s, (), events.append)
    assert [d.key for d in checked.differences] == [(30,)]
    verifying = [p for p in events if p.phase == "verify"]
    assert verifying and verifying[-1].rows == 30
    for p in events:
        assert p.total is None or p.rows <= p.total, p
        # A rate is measured over a quarter of a second at least, never from a near-zero time.
        assert p.rate <= 4 * p.rows, p


def test_a_prisma_made_analytics_table_of_timestamp_3_takes_the_primarys_copy(
    tmp_path: Path, pg_url: str
) -> None:
    """The analytics database's tables made by Prisma: its DateTime is ``timestamp(3)``. Only
    the type's name before ``(`` was looked up, so such a column counted as text, and the
    primary's DATETIME was refused against it ("source DATETIME maps to timestamp …,
    destination has timestamp(3) …"). A time with more digits of a second than it keeps is
    refused by row, with the statement that widens the copy's column (it was stored rounded
    and reported different for ever, with no reason)."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    src.run("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, updated_at DATETIME)")
    stamps = ["2025-11-24 08:00:00", "2025-11-24 08:00:00.5", "2025-11-24T08:00:00.125Z"]
    src.many("INSERT INTO users VALUES (?, ?, ?)", [(i, f"u{i}", t) for i, t in enumerate(stamps)])
    dst.run(
        'CREATE TABLE "users" ("id" BIGINT NOT NULL, "name" TEXT, "updated_at" TIMESTAMP(3), '
        '"synced_at" TIMESTAMP(3), CONSTRAINT "users_pkey" PRIMARY KEY ("id"))'
    )
    assert sync(src, dst).verified and verify(src, dst).verified
    src.run("INSERT INTO users VALUES (7, 'u7', '2025-11-25 09:00:00.123456')")  # Python's
    with pytest.raises(BackendError) as refused:
        sync(src, dst)
    assert "writing users, row id=7, column updated_at: 2025-11-25 09:00:00.123456 has more " in (
        str(refused.value)
    )
    hint = refused.value.hint or ""
    widen = (
        'ALTER TABLE "public"."users" ALTER COLUMN "updated_at" TYPE timestamp(6) without time zone'
    )
    assert hint.startswith(f"let the copy keep them: {widen}; "), hint
    dst.run(widen)  # as it says
    assert sync(src, dst).verified and verify(src, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_timestamptz_3_from_postgresql_is_copied_in_utc_like_any_timestamptz(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Prisma's ``@db.Timestamptz(3)`` on Supabase: counted as text, it was copied into a
    TEXT column as ``::text`` prints it, with a zone (``2025-11-24 08:00:00.123+00``), where
    a plain timestamptz is copied in UTC without one, into a TIMESTAMPTZ column. A copy made
    so (or with another zone's spelling of the same time) still syncs and verifies."""
    src, dst = (
        make_db("postgresql", request, tmp_path, "supabase"),
        make_db(kind, request, tmp_path, "d"),
    )
    src.run(
        'CREATE TABLE "Event" (id bigint PRIMARY KEY, at timestamptz(3), '
        '"updatedAt" timestamp(3) NOT NULL)'
    )
    src.run(
        "INSERT INTO \"Event\" VALUES (1, '2025-11-24 08:00:00.123+00', '2025-11-24 08:00:00'),"
        " (2, NULL, '2025-11-24 08:00:00.5')"
    )
    assert sync(src, dst, cursor="updatedAt").verified
    assert dst.run('SELECT at, "updatedAt" FROM "Event" ORDER BY id') == [
        ("2025-11-24 08:00:00.123", "2025-11-24 08:00:00"),
        (None, "2025-11-24 08:00:00.5"),
    ]
    declared = {r[1]: r[2] for r in dst.run('PRAGMA table_info("Event")')}
    assert (declared["at"], declared["updatedAt"]) == ("TIMESTAMPTZ", "DATETIME")
    # A copy made before: its columns TEXT, its times with a zone.
    dst.run('DROP TABLE "Event"')
    dst.run(
        'CREATE TABLE "Event" (id INTEGER PRIMARY KEY, at TEXT, "updatedAt" TEXT, '
        "synced_at DATETIME)"
    )
    dst.many(
        'INSERT INTO "Event" VALUES (?, ?, ?, NULL)',
        [(1, "2025-11-24 15:00:00.123+07", "2025-11-24 08:00:00"),
         (2, None, "2025-11-24 08:00:00.5")],
    )  # fmt: skip
    assert verify(src, dst).verified
    assert sync(src, dst, cursor="updatedAt").verified


# Prisma's history table, as `prisma migrate` creates it (SQLite and PostgreSQL), and dbmate's.
_PRISMA = (
    "CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY NOT NULL, "
    "checksum VARCHAR(64) NOT NULL, finished_at {ts}, migration_name VARCHAR(255) NOT NULL, "
    "logs TEXT, rolled_back_at {ts}, started_at {ts} NOT NULL DEFAULT current_timestamp, "
    "applied_steps_count INTEGER NOT NULL DEFAULT 0)"
)
_PRISMA_ROW = (
    "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, "
    "applied_steps_count) VALUES ('{name}', 'c0ffee', '2025-01-01 08:00:00', '{name}', 1)"
)


def test_other_tools_migration_histories_are_not_synced(tmp_path: Path, pg_url: str) -> None:
    """The primary's app migrated with Prisma (and dbmate), the analytics database's own app
    with Prisma too: a sync of every table copied the primary's `_prisma_migrations` into the
    analytics database's, where Prisma then took the primary's migrations for applied ones of
    its own. A migration tool's history is no data to report on: left out either way."""
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(3)
    src.run(_PRISMA.format(ts="DATETIME"))
    src.run(_PRISMA_ROW.format(name="20250101000000_primary"))
    src.run("CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)")
    src.run("INSERT INTO schema_migrations VALUES ('20250101000000')")
    dst.run(_PRISMA.format(ts="TIMESTAMPTZ"))
    dst.run(_PRISMA_ROW.format(name="20240101000000_analytics"))
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        reports = run_sync(s, SyncRequest(), None)
    assert [r.table for r in reports] == ["users"]
    assert dst.run("SELECT migration_name FROM _prisma_migrations") == [
        ("20240101000000_analytics",)
    ]
    assert dst.run("SELECT to_regclass('schema_migrations')") == [(None,)]
    back = Db("sqlite", f"sqlite:///{tmp_path / 'back.db'}", path=tmp_path / "back.db")
    with SyncSession(dst.target("analytics"), back.target("copy")) as s:
        reports = run_sync(s, SyncRequest(), None)
    assert [r.table for r in reports] == ["users"]
    names = "('_prisma_migrations', 'schema_migrations')"
    assert back.run(f"SELECT name FROM sqlite_master WHERE name IN {names}") == []
    with (
        SyncSession(src.target("primary"), dst.target("analytics")) as s,
        pytest.raises(ConfigError, match="_prisma_migrations is a migration tool's history"),
    ):
        run_sync(s, SyncRequest(tables=("_prisma_migrations",)), None)
