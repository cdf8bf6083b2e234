"""What a sync's plan reads from the source's data and schema: the watermark of an incremental
sync never runs ahead of the sync itself (a row stamped in the future — a clock set wrong, a
typo, a ``9999-12-31`` placeholder — used to carry it past every real change to come, and each
later pass left those changes behind while saying verified); generated columns are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.sync import SyncRequest, SyncSession, plan_sync
from malnu_tui.engine.sync.watermark import capped
from tests.sync_support import Db, make_db, sqlite_source, sync, verify

NOW = "datetime('now')"  # a real change is stamped when it is made


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_row_stamped_in_the_future_does_not_hide_the_changes_after_it(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, kind: str
) -> None:
    src, dst = make_db(kind, request, tmp_path, "src"), Db("postgresql", pg_url)
    src.create_users(40)
    assert sync(src, dst).verified
    src.run(
        "UPDATE users SET name = 'Salah ketik', updated_at = '2099-01-01 00:00:00' WHERE id = 3"
    )
    first = sync(src, dst)
    assert first.verified and first.updated == 1
    ((mark, began),) = dst.run("SELECT watermark, started_at FROM malnu_sync")
    assert mark == began < "2099", (mark, began)  # held at when that pass began

    src.run(f"UPDATE users SET name = 'Perubahan nyata', updated_at = {NOW} WHERE id = 9")
    src.run("DELETE FROM users WHERE id = 12")
    src.run(f"INSERT INTO users (id, email, name, updated_at) VALUES (41, 'b@x', 'Baru', {NOW})")
    second = sync(src, dst)
    # The future row is read again (and left alone: equal), the real changes carried.
    assert (second.updated, second.inserted, second.deleted) == (1, 1, 1), second
    assert second.verified and second.read >= 3
    assert dst.run("SELECT name FROM users WHERE id IN (3, 9, 41) ORDER BY id") == [
        ("Salah ketik",),
        ("Perubahan nyata",),
        ("Baru",),
    ]
    assert verify(src, dst).verified


def test_a_watermark_stored_in_the_future_reads_from_when_its_sync_began(
    tmp_path: Path, pg_url: str
) -> None:
    """A state row written before the watermark was held back (or edited by hand): the next
    pass reads from when that sync began, and its plan says so."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    src.create_users(20)
    assert sync(src, dst).verified
    dst.run("UPDATE malnu_sync SET watermark = '9999-12-31 00:00:00'")
    ((began,),) = dst.run("SELECT started_at FROM malnu_sync")
    src.run(f"UPDATE users SET name = 'Sesudahnya', updated_at = {NOW} WHERE id = 5")
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (plan,) = plan_sync(s, SyncRequest())
    assert plan.since is not None and plan.since < began, plan
    assert any("9999-12-31 00:00:00" in n and began in n for n in plan.notes), plan.notes
    report = sync(src, dst)
    assert report.verified and report.updated == 1
    assert dst.run("SELECT name FROM users WHERE id = 5") == [("Sesudahnya",)]


@pytest.mark.parametrize(
    ("kind", "mark", "expected"),
    [
        ("ts", "2099-01-01 00:00:00", "2026-12-06 02:00:00"),
        ("ts", "2026-12-06 01:59:59", "2026-12-06 01:59:59"),
        ("tstz", "2026-12-06 02:00:01", "2026-12-06 02:00:00"),
        ("date", "2026-12-07", "2026-12-06"),
        ("date", "2026-12-06", "2026-12-06"),
        ("text", "2099-01-01T00:00:00Z", "2026-12-06 02:00:00"),
        ("text", "2026-12-06T01:59:00.000Z", "2026-12-06T01:59:00.000Z"),  # earlier: kept
        ("text", "2026-12-06T02:00:01.000Z", "2026-12-06 02:00:00"),
        ("text", "2026-12-06", "2026-12-06"),
        ("text", "2026-12-06T00:00:00-05:00", "2026-12-06 02:00:00"),  # 05:00 UTC: later
        ("text", "2026-12-06T08:00:00+07:00", "2026-12-06T08:00:00+07:00"),  # 01:00 UTC
        ("text", "v2", "v2"),  # a text cursor that is not a time
        ("int", "99999", "99999"),
        ("ts", None, None),
    ],
)
def test_the_cap_by_kind(kind: str, mark: str | None, expected: str | None) -> None:
    assert capped(kind, mark, "2026-12-06 02:00:00") == expected
    assert capped(kind, mark, "") == mark  # no time the sync began: as it is


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_generated_columns_are_named_in_the_plan_and_not_copied(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, pg_second: str, kind: str
) -> None:
    """A column computed from the others (SQLite's and PostgreSQL's GENERATED ALWAYS AS) is
    not copied; the plan of a copy the sync creates says so, and the rest syncs and verifies."""
    if kind == "sqlite":
        src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
        src.run(
            "CREATE TABLE nilai (id INTEGER PRIMARY KEY, a REAL NOT NULL, b REAL NOT NULL, "
            "total REAL GENERATED ALWAYS AS (a + b) STORED, "
            "label TEXT GENERATED ALWAYS AS ('n' || id) VIRTUAL, updated_at DATETIME)"
        )
    else:
        src, dst = Db("postgresql", pg_url), Db("postgresql", pg_second)
        src.run(
            "CREATE TABLE nilai (id BIGINT PRIMARY KEY, a FLOAT8 NOT NULL, b FLOAT8 NOT NULL, "
            "total FLOAT8 GENERATED ALWAYS AS (a + b) STORED, "
            "label TEXT GENERATED ALWAYS AS ('n' || id) STORED, updated_at TIMESTAMP)"
        )
    src.many(
        "INSERT INTO nilai (id, a, b, updated_at) VALUES (?, ?, ?, ?)",
        [(i, i * 1.5, 2.0, "2025-11-24 08:00:00") for i in range(1, 31)],
    )
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (plan,) = plan_sync(s, SyncRequest())
    assert "generated column(s) total, label not copied" in " ".join(plan.notes), plan.notes
    report = sync(src, dst)
    assert report.verified and report.inserted == 30
    columns = dst.run(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'nilai' "
        "ORDER BY ordinal_position"
    )
    assert [c for (c,) in columns] == ["id", "a", "b", "updated_at", "synced_at"]


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "index"])
def test_iso_t_stamps_of_the_watermarks_day_are_not_read_again_and_none_is_lost(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, kind: str, indexed: bool
) -> None:
    """Workers stamp with ``new Date().toISOString()`` (``2025-11-25T09:00:00.000Z``),
    SQLite's defaults with a space. Compared as text with the space-spelt watermark, every
    ``T`` stamp of its day sorted after it: each pass read all of that day's changes again
    (D1 bills rows read). Now only what changed since is read, in either layout."""
    src, dst = make_db(kind, request, tmp_path, "src"), Db("postgresql", pg_url)
    src.create_users(60, updated="2025-11-24T08:00:00.000Z")
    if indexed:
        src.run("CREATE INDEX users_updated ON users (updated_at)")
    assert sync(src, dst).verified
    # The day's earlier changes, then the one that sets the watermark.
    src.run(
        "UPDATE users SET name = 'Pagi', updated_at = '2025-11-25T01:00:00.000Z' WHERE id <= 20"
    )
    src.run(
        "UPDATE users SET name = 'Siang', updated_at = '2025-11-25T09:00:00.000Z' WHERE id = 30"
    )
    first = sync(src, dst)
    assert first.updated == 21 and first.verified
    # Later the same day, in both layouts, and one a second after the watermark.
    src.run(
        "UPDATE users SET name = 'Sore T', updated_at = '2025-11-25T15:30:00.000Z' WHERE id = 41"
    )
    src.run("UPDATE users SET name = 'Sore', updated_at = '2025-11-25 16:00:00' WHERE id = 42")
    src.run(
        "UPDATE users SET name = 'Detik', updated_at = '2025-11-25T09:00:01.000Z' WHERE id = 43"
    )
    second = sync(src, dst)
    # Read: the three changes and the watermark's own row (the overlap window), not the
    # twenty stamped earlier that day.
    assert (second.read, second.updated) == (4, 3), second
    assert second.verified and verify(src, dst).verified
    assert dst.run("SELECT name FROM users WHERE id IN (41, 42, 43) ORDER BY id") == [
        ("Sore T",),
        ("Sore",),
        ("Detik",),
    ]


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "index"])
def test_a_change_stamped_behind_utc_among_utc_stamps_is_read(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, kind: str, indexed: bool
) -> None:
    """A row stamped by an app in New York (``…T03:05:00-05:00``: 08:05 UTC) beside rows
    stamped in UTC: its text sorted before a watermark of 08:00 taken from them (as text, and
    as its own clock), so each later pass left it behind and said verified; `sync verify`
    named it. It is read by its UTC time, and an app stamping only so reads no more."""
    src, dst = make_db(kind, request, tmp_path, "src"), Db("postgresql", pg_url)
    src.create_users(30, updated="2026-01-04 08:00:00")
    src.run("UPDATE users SET updated_at = '2026-01-05 08:00:00' WHERE id = 1")
    if indexed:
        src.run("CREATE INDEX users_updated ON users (updated_at)")
    assert sync(src, dst).verified
    src.run("UPDATE users SET name = 'NY', updated_at = '2026-01-05T03:05:00-05:00' WHERE id = 3")
    first = sync(src, dst)
    assert (first.read, first.updated) == (2, 1), first  # the watermark's row, and it
    assert dst.run("SELECT name, updated_at::text FROM users WHERE id = 3") == [
        ("NY", "2026-01-05 08:05:00")
    ]
    ((mark,),) = dst.run("SELECT watermark FROM malnu_sync")
    assert mark == "2026-01-05 08:05:00"  # its UTC time
    # Then only New York's stamps: each pass reads what changed since (its overlap).
    src.run("UPDATE users SET name = 'NY2', updated_at = '2026-01-05T03:30:00-05:00' WHERE id = 4")
    second = sync(src, dst)
    assert (second.read, second.updated) == (3, 1), second  # 08:00, 08:05 (overlap), 08:30
    assert verify(src, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_text_cursor_of_every_shape_an_app_writes_loses_no_change_and_rereads_few(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, kind: str
) -> None:
    """An ``updated_at TEXT`` written by several apps: SQLite's UTC, ``toISOString()``'s
    ``Z``, a phone's WIB ``+07:00``, a server's ``-05:00`` (and ``-0500``, ``+07``), with
    and without fractions.
    Each pass carries every change made since the one before, whatever its shape, and
    reads again only the overlap's rows."""
    src, dst = make_db(kind, request, tmp_path, "src"), Db("postgresql", pg_url)
    src.run("CREATE TABLE absen (id INTEGER PRIMARY KEY, nama TEXT, updated_at TEXT)")
    old = ["2026-01-04 08:00:00", "2026-01-04T01:00:00Z", "2026-01-04T08:00:00.5+07:00"]
    src.many("INSERT INTO absen VALUES (?, 'x', ?)", [(i, old[i % 3]) for i in range(1, 31)])
    src.run("UPDATE absen SET updated_at = '2026-01-05T08:00:00+07:00' WHERE id = 1")  # 01:00
    src.run("UPDATE absen SET updated_at = '2026-01-05T02:00:00Z' WHERE id = 2")
    assert sync(src, dst).verified
    changes = [  # (id, stamp): each later than the one before, as instants
        (3, "2026-01-05T02:30:00.250Z"),
        (4, "2026-01-05 03:00:00"),
        (5, "2026-01-04T22:30:00-05:00"),  # 03:30 UTC
        (6, "2026-01-05T10:45:00.125+07:00"),  # 03:45 UTC
        (7, "2026-01-04T22:52:00-0500"),  # 03:52 UTC
        (8, "2026-01-05 11:00:00.5+07"),  # 04:00 UTC, as PostgreSQL prints a timestamptz
        (9, "2026-01-05T04:30:00.000Z"),
        (10, "2026-01-05T05:00:00.000Z"),  # the two before it: outside the overlap
    ]
    reads = []
    for n, (i, stamp) in enumerate(changes):
        src.run("UPDATE absen SET nama = ?, updated_at = ? WHERE id = ?", (f"v{n}", stamp, i))
        report = sync(src, dst)
        assert report.updated == 1 and report.verified, (stamp, report)
        reads.append(report.read)
    # Each pass: its change and the one before (the overlap); not the WIB row 1, whose
    # clock stands 7 hours ahead of its UTC time (each pass read it again).
    assert reads == [2] * 8, reads
    assert dst.run("SELECT id, nama FROM absen WHERE id BETWEEN 3 AND 10 ORDER BY id") == [
        (i, f"v{n}") for n, (i, _) in enumerate(changes)
    ]
    assert verify(src, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_prisma_datetimes_in_unix_milliseconds_are_copied_and_read_incrementally(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, kind: str
) -> None:
    """Prisma's SQLite connector stores a ``DateTime`` as Unix milliseconds in a ``DATETIME``
    column (and fails on a text). Such a table could not be copied: PostgreSQL's timestamp
    refused the number, with a hint to leave the table out. The copy now holds their UTC
    time (milliseconds kept), `sync verify` says equal, and an incremental pass by
    ``updatedAt`` reads the changes since (its overlap in them), not the whole table."""
    src, dst = make_db(kind, request, tmp_path, "src"), Db("postgresql", pg_url)
    # (its copy has the translation's names: "user", createdat, updatedat)
    src.run(
        'CREATE TABLE "User" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"name" TEXT NOT NULL, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, '
        '"updatedAt" DATETIME NOT NULL)'
    )
    if kind == "sqlite":
        src.run('CREATE INDEX "User_updatedAt_idx" ON "User" ("updatedAt")')
    base = 1767600000000  # 2026-01-05 08:00:00 UTC
    src.many(
        'INSERT INTO "User" VALUES (?, ?, ?, ?)',
        [(i, f"u{i}", base + i, base - 86_400_000 + i * 600_000) for i in range(1, 41)],
    )
    src.run('UPDATE "User" SET "createdAt" = \'2026-01-04 08:00:00\' WHERE id = 40')  # a text
    first = sync(src, dst, cursor="updatedAt")
    assert (first.inserted, first.verified) == (40, True), first
    assert dst.run(
        'SELECT createdat::text, updatedat::text FROM "user" WHERE id IN (1, 40) ORDER BY id'
    ) == [
        ("2026-01-05 08:00:00.001", "2026-01-04 08:10:00"),
        ("2026-01-04 08:00:00", "2026-01-04 14:40:00"),
    ]
    ((mark,),) = dst.run("SELECT watermark FROM malnu_sync")
    assert mark == "2026-01-04 14:40:00"
    src.run('UPDATE "User" SET name = \'baru\', "updatedAt" = ? WHERE id = 7', (base + 250,))
    second = sync(src, dst, cursor="updatedAt")
    assert (second.read, second.updated, second.verified) == (2, 1, True), second  # 40 and 7
    assert dst.run('SELECT name, updatedat::text FROM "user" WHERE id = 7') == [
        ("baru", "2026-01-05 08:00:00.25")
    ]
    assert verify(src, dst).verified
    src.run("UPDATE \"User\" SET name = 'lagi' WHERE id = 8")  # updatedAt left as it was
    assert not verify(src, dst).verified  # a real difference is still seen


def test_a_year_one_watermark_reads_from_year_one(tmp_path: Path, pg_url: str) -> None:
    """Rows stamped with a `0001-01-01 00:00:00` placeholder (never changed by the app): the
    next pass's lower bound (the watermark less the overlap) was before year 1, an
    OverflowError out of `sync`; now it reads from year 1, and a change is carried."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    src.create_users(10, updated="0001-01-01 00:00:00")
    assert sync(src, dst).verified
    src.run("UPDATE users SET name = 'Tetap' WHERE id = 3")  # its placeholder stamp kept
    src.run(f"UPDATE users SET name = 'Sesudahnya', updated_at = {NOW} WHERE id = 5")
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (plan,) = plan_sync(s, SyncRequest())
    assert plan.since == "0001-01-01 00:00:00", plan
    report = sync(src, dst)
    assert report.verified and report.updated == 2, report
    assert dst.run("SELECT name FROM users WHERE id IN (3, 5) ORDER BY id") == [
        ("Tetap",),
        ("Sesudahnya",),
    ]
