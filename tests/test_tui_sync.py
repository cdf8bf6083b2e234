"""The console's sync screen: driven with Pilot on the real SQLite primary and a real PostgreSQL
analytics database (outcomes checked in the databases), and its SVG snapshot."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from textual.widgets import DataTable, Input, Static

from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.confirm import ConfirmScreen
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.sync import SyncScreen
from malnu_tui.tui.widgets.error_box import ErrorBox
from tests.fixtures_d1 import D1Target
from tests.fixtures_pg import supabase_roles
from tests.tui_demo import (
    Demo,
    add_sync_pair,
    at_rest,
    build_demo,
    dialog_ready,
    run_from_palette,
    synced_pair,
    wait_until,
)

pytestmark = pytest.mark.anyio


def sync_screen(app: MalnuApp) -> SyncScreen | None:
    return app.screen if isinstance(app.screen, SyncScreen) else None


def report_text(app: MalnuApp) -> str:
    screen = sync_screen(app)
    return str(screen.query_one("#sync-report", Static).render()) if screen else ""


def verified_cell(app: MalnuApp, table: str) -> str:
    screen = sync_screen(app)
    if screen is None:
        return ""
    return str(screen.query_one("#sync-tables", DataTable).get_cell(table, "verified"))


def status_cell(app: MalnuApp, table: str) -> str:
    screen = sync_screen(app)
    tables = screen.query_one("#sync-tables", DataTable) if screen else None
    if tables is None or table not in {str(k.value) for k in tables.rows}:
        return ""
    return str(tables.get_cell(table, "status"))


def has_pairs(app: MalnuApp) -> bool:
    screen = sync_screen(app)
    return screen is not None and bool(screen.pairs)


def idle_with(app: MalnuApp, words: str) -> bool:
    screen = sync_screen(app)
    return screen is not None and screen.working is None and words in report_text(app)


async def open_sync(pilot: Any, app: MalnuApp) -> None:
    """From the status screen, ``s``: the sync screen, its pairs listed."""
    await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen), timeout=60)
    await pilot.press("s")
    await wait_until(pilot, lambda: has_pairs(app), timeout=60)


def refusing_pair(tmp_path: Path, pg_url: str) -> MalnuApp:
    """The console on a demo whose reporting pair goes into ``pg_url``, where a ``users`` table
    of another shape makes every sync and verify refused."""
    demo = build_demo(tmp_path / "demo")
    add_sync_pair(demo, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id BIGINT PRIMARY KEY, email INTEGER)")
    settings = demo.settings()
    return MalnuApp(settings=settings, target=settings.target("primary"))


async def test_sync_from_the_status_screen_with_a_typed_confirmation_then_verify(
    tmp_path: Path, pg_url: str
) -> None:
    demo = build_demo(tmp_path / "demo")
    add_sync_pair(demo, pg_url, target_options="supabase = true\n")  # its API serves public
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_sync(pilot, app)
        await pilot.press("s")
        await wait_until(pilot, lambda: dialog_ready(app), timeout=60)
        name = psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"]
        app.screen.query_one(Input).value = str(name)
        await pilot.press("enter")
        await wait_until(pilot, lambda: idle_with(app, "verified ✔ yes"), timeout=60)
        assert "users: full, read 30, inserted 30" in report_text(app)
        with psycopg.connect(pg_url) as c:
            assert c.execute("SELECT count(*) FROM users").fetchone() == (30,)
            assert c.execute(
                "SELECT status, verified FROM malnu_sync WHERE table_name = 'users'"
            ).fetchone() == ("done", 1)
            c.execute("UPDATE users SET name = 'diubah' WHERE id = 17")
            c.commit()
        await pilot.press("v")
        await wait_until(pilot, lambda: idle_with(app, "different: id=17"), timeout=60)
        # The table says what the verify found, not the last sync's "✔ yes" beside it.
        await wait_until(pilot, lambda: verified_cell(app, "users") == "✘ no (verify)")
        assert verified_cell(app, "academic_records") == "✔ yes (verify)"
        # The plan's notes are shown before the confirmation (here: a watermark set ahead),
        # and its warnings: the users copy opened to Supabase's anon key (the sync warned
        # after it had written into it, only).
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute("UPDATE malnu_sync SET watermark = '9999-12-31 00:00:00'")
            supabase_roles(c)
            c.execute("ALTER TABLE users DISABLE ROW LEVEL SECURITY")
            c.execute("GRANT SELECT ON users TO anon")
        await pilot.press("s")
        await wait_until(pilot, lambda: dialog_ready(app), timeout=60)
        (below,) = [s for s in app.screen_stack if isinstance(s, SyncScreen)]
        plan = str(below.query_one("#sync-report", Static).render())
        assert "users: updated_at; source 30 rows" in plan, plan
        assert "note: the last watermark (9999-12-31 00:00:00) is later than that sync" in plan
        assert (
            "\n    ⚠ warning: row level security is off on public.users (target reports: "
            "supabase = true; its API serves the schema public): anyone holding the project's "
            'anon key reads and writes every row; run ALTER TABLE "public"."users" ENABLE ROW '
            "LEVEL SECURITY"
        ) in plan, plan
        await pilot.press("escape")
        await wait_until(pilot, lambda: idle_with(app, "sync cancelled"), timeout=60)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen), timeout=60)
        await run_from_palette(pilot, app, "Sync between", "Sync between the databases")
        await wait_until(pilot, lambda: sync_screen(app) is not None, timeout=60)


async def test_a_refused_sync_shows_the_reason_and_writes_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    app = refusing_pair(tmp_path, pg_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_sync(pilot, app)
        await pilot.press("s")
        screen = sync_screen(app)
        assert screen is not None
        await wait_until(pilot, lambda: idle_with(app, "refused"), timeout=60)
        said = report_text(app)
        assert said.startswith("✘ sync of reporting refused: nothing was written\n"), said
        assert "\n  why: users: " in said and "\n  way out: " in said, said
        assert not screen.query_one(".error-box").display  # said once, whole, where it scrolls
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT count(*) FROM users").fetchone() == (0,)


async def test_a_failed_sync_says_it_stopped_not_reading_both_sides(
    tmp_path: Path, pg_url: str
) -> None:
    # A sync refused under the error box (and a verify of a server gone) left "sync of
    # reporting: reading both sides…" below it for good, as if it were still running. Refused
    # before it began (exit 2 in the CLI), it said "✘ sync of reporting failed" under an error
    # box whose way out was cut at its sixth line: it says refused, and why, and each way out.
    from tests.tui_demo import screen_text

    app = refusing_pair(tmp_path, pg_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot, app)
        screen = sync_screen(app)
        assert screen is not None
        for key, what in (("s", "sync"), ("v", "verify")):
            await wait_until(pilot, lambda: screen.working is None, timeout=60)
            screen.query_one("#sync-report", Static).update("")
            await pilot.press(key)
            await wait_until(pilot, lambda: idle_with(app, "refused"), timeout=60)
            await at_rest(pilot)
            shown = " ".join(screen_text(app).split())
            assert "reading both sides" not in shown and "failed" not in shown
            assert f"✘ {what} of reporting refused" in shown and "way out: " in shown, shown
        # Nothing holds the keys: the screen is left and the console goes on.
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen), timeout=60)


def copies_referring_to_each_other(reports: Path) -> None:
    """The synced pair's copies in ``reports`` made again with foreign keys to each other
    (users.role → academic_records, academic_records.student_id → users), NOT NULL both: a
    cycle the sync refuses before it writes (exit 2 in the CLI; one whose key may be NULL is
    synced in two passes)."""
    with sqlite3.connect(reports) as c:
        c.execute("PRAGMA legacy_alter_table = ON")  # the references keep the names given
        for table, column, parent in (
            ("users", '"role" TEXT NOT NULL', "academic_records"),
            ("academic_records", '"student_id" INTEGER NOT NULL', "users"),
        ):
            (sql,) = c.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            c.execute(f"ALTER TABLE {table} RENAME TO old_copy")
            c.execute(sql.replace(column, f"{column} REFERENCES {parent}(id)"))
            c.execute(f"INSERT INTO {table} SELECT * FROM old_copy")
            c.execute("DROP TABLE old_copy")


async def test_a_sync_refused_for_a_cycle_says_why_and_the_way_out_at_80x24(
    tmp_path: Path,
) -> None:
    # The copy's foreign keys in a cycle: the error box showed the reason and cut the way out
    # at its sixth line ("hint: drop one of these foreign keys at the copy (academic_…" before
    # session 20's two passes; "let one key's columns be NULL…" since),
    # under "✘ sync of reporting failed"; its "(--tables)" is a flag the console has not.
    from tests.tui_demo import screen_text

    demo = build_demo(tmp_path / "demo")
    reports = synced_pair(demo)
    copies_referring_to_each_other(reports)
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot, app)
        await pilot.press("s")
        await wait_until(pilot, lambda: idle_with(app, "refused"), timeout=60)
        await at_rest(pilot)
        shown = " ".join(screen_text(app).split())
        await pilot.press("tab", "tab", "end")  # the report, past the pairs and the tables
        await at_rest(pilot)
        end = " ".join(screen_text(app).split())
    assert "✘ sync of reporting refused: nothing was written" in shown, shown
    assert "why: the copy's tables academic_records and users refer to each other" in shown
    way_out = shown[shown.index("way out: ") :]
    assert "leave academic_records and users out of the run ([sync.reporting] tables)" in way_out
    # (the path folded where the line ends)
    assert f"([sync.reporting]isin{demo.config})" in end.replace(" ", ""), end
    assert "--tables" not in shown + end and "✘ error" not in shown
    with sqlite3.connect(reports) as c:  # nothing written: the changed copy stays changed
        assert c.execute("SELECT name FROM users WHERE id = 17").fetchone() == ("diubah",)


def academic_records_then_users(demo: Demo, chunk_rows: int) -> None:
    """The reporting pair synced once, then ordered ``academic_records`` first with chunks of
    ``chunk_rows``, its ``users`` copy emptied and forgotten: the next sync copies it again."""
    from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync

    settings = demo.settings()
    with SyncSession(settings.target("primary"), settings.target("reports")) as s:
        run_sync(s, SyncRequest(tables=("users", "academic_records")))
    config = demo.config.read_text(encoding="utf-8")
    demo.config.write_text(
        config.replace(
            'tables = ["users", "academic_records"]',
            f'tables = ["academic_records", "users"]\nchunk_rows = {chunk_rows}',
        ),
        encoding="utf-8",
    )


async def test_a_sync_stopped_half_way_says_what_it_synced_and_where_it_stopped(
    tmp_path: Path, pg_url: str
) -> None:
    # The PostgreSQL copy refuses row 15 (a CHECK of its own), in the second chunk of 10: the
    # screen said the error alone, while academic_records had been synced before it and the
    # first chunk of users stayed (the audit row said so, and `sync --json`).
    demo = build_demo(tmp_path / "demo")
    add_sync_pair(demo, pg_url)
    academic_records_then_users(demo, chunk_rows=10)
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("DELETE FROM users")
        c.execute("DELETE FROM malnu_sync WHERE table_name = 'users'")
        c.execute("ALTER TABLE users ADD CONSTRAINT no_fifteen CHECK (id <> 15)")
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot, app)
        await pilot.press("s")
        await wait_until(pilot, lambda: dialog_ready(app), timeout=60)
        app.screen.query_one(Input).value = str(conninfo_to_dict(pg_url)["dbname"])
        await pilot.press("enter")
        screen = sync_screen(app)
        assert screen is not None
        box = screen.query_one(ErrorBox)
        await wait_until(pilot, lambda: bool(box.display) and screen.working is None, timeout=60)
        assert "no_fifteen" in box.text
        shown = " ".join(report_text(app).split())
    assert "✘ sync of reporting failed: see the error above" in shown, shown
    assert "✔ academic_records: checksum, read 0, inserted 0, updated 0, deleted 0;" in shown
    assert (
        "✘ users: stopped: full, read 10, inserted 10, updated 0, deleted 0; as it stopped: "
        "source 30 rows, destination 10 rows; verified ✘ no what whole chunks wrote before "
        "it stopped stays in the destination; the next sync resumes after them"
    ) in shown, shown
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT count(*) FROM users").fetchone() == (10,)
        (detail,) = c.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'sync' AND object = 'users' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert "inserted 10, updated 0, deleted 0, source 30 rows, destination 10 rows" in detail


def test_a_stopped_tables_side_that_could_not_be_counted_says_so() -> None:
    """The server gone as the sync stopped: that side reads `not counted`, as its audit row,
    never the plan's count of before (the Pilot test above runs the screen through a real
    stop, both sides counted)."""
    from malnu_tui.engine.sync import TableReport
    from malnu_tui.tui.screens.sync_report import failed_report

    stopped = TableReport(
        "users", "full", 200, 200, 0, 0, 300, 0, False, uncounted=frozenset({"destination"})
    )
    shown = str(failed_report("sync of reporting", {}, (), (stopped,), ("users", "absensi")))
    assert shown == (
        "✘ sync of reporting failed: see the error above\n"
        "  ✘ users: stopped: full, read 200, inserted 200, updated 0, deleted 0; as it stopped: "
        "source 300 rows, destination not counted; verified ✘ no\n"
        "    what whole chunks wrote before it stopped stays in the destination; the next sync "
        "resumes after them\n"
        "  ○ absensi: not synced (the sync stopped before it)"
    )


def left_behind_and_a_trigger(demo: Demo) -> None:
    """The reporting pair synced into reports.db, plus an ``absensi`` copy whose table the
    primary then dropped, and a trigger on the ``users`` copy (a mirror's, firing on the
    sync's writes): what ``sync`` warns and notes on stderr."""
    from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync

    reports = synced_pair(demo)
    with sqlite3.connect(demo.primary_db) as c:
        c.execute("CREATE TABLE absensi (id INTEGER PRIMARY KEY, hadir INTEGER)")
    settings = demo.settings()
    with SyncSession(settings.target("primary"), settings.target("reports")) as s:
        run_sync(s, SyncRequest(tables=("absensi",)))
    with sqlite3.connect(demo.primary_db) as c:
        c.execute("DROP TABLE absensi")
    with sqlite3.connect(reports) as c:
        c.execute(
            "UPDATE malnu_sync SET started_at = '2026-11-20 08:54:00', "
            "finished_at = '2026-11-20 08:55:00' WHERE table_name = 'absensi'"
        )
        c.execute(
            "CREATE TRIGGER users_log AFTER UPDATE ON users "
            "BEGIN UPDATE users SET name = name WHERE id = -1; END"
        )


async def test_the_engines_warnings_and_plan_notes_are_shown_as_the_cli_says_them(
    tmp_path: Path,
) -> None:
    # The screen showed neither the warning for a copy whose source table is gone nor the
    # plan's notes (a full pass and why, the copy's triggers…) after a dry run or a verify:
    # only the CLI said them, on stderr.
    demo = build_demo(tmp_path / "demo")
    left_behind_and_a_trigger(demo)
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot, app)
        # The copy is listed as sync status lists it (the pair names users and academic_records).
        await wait_until(pilot, lambda: status_cell(app, "absensi") == "✘ source gone")
        assert status_cell(app, "users") == "done"
        await pilot.press("d")
        await wait_until(pilot, lambda: idle_with(app, "would insert"), timeout=60)
        shown = report_text(app)
        gone = "warning: absensi: synced from primary, which has no table absensi any more"
        assert gone in shown, shown
        assert 'DROP TABLE "absensi"; DELETE FROM malnu_sync' in shown.replace("\n", " ")
        assert "users: note: the copy has triggers that fire on every row the sync" in shown
        screen = sync_screen(app)
        assert screen is not None
        box = screen.query_one("#sync-report-box")
        await pilot.press("tab", "tab")  # past the pairs and the tables: the report scrolls
        assert app.focused is box and box.max_scroll_y > 0
        await pilot.press("end")
        await wait_until(pilot, lambda: box.scroll_y == box.max_scroll_y)
        await pilot.press("v")
        await wait_until(pilot, lambda: idle_with(app, "missing: id=4"), timeout=60)
        assert gone in report_text(app)


async def test_a_stopped_syncs_copy_reads_stopped_not_running(tmp_path: Path) -> None:
    # A sync stopped mid-copy (SIGTERM, a kill, the SSH session lost) leaves its copy's row
    # "running" on purpose (the next sync resumes from it): the screen showed "running" for
    # ever, as `sync status` did, with no sync at work; it now says stopped, as the CLI does.
    demo = build_demo(tmp_path / "demo")
    reports = synced_pair(demo)
    with sqlite3.connect(reports) as c:  # what a killed sync leaves: its row, no lock holder
        c.execute("UPDATE malnu_sync SET status = 'running' WHERE table_name = 'users'")
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot, app)
        await wait_until(pilot, lambda: status_cell(app, "users") == "⏸ stopped", timeout=60)
        assert status_cell(app, "academic_records") == "done"


def test_progress_is_shown_under_the_tables() -> None:
    """A run's per-table progress as the engine reports it, in the lines under the tables
    (their progress column is past the right edge at 80×24); the Pilot tests above run the
    screen's handler through a real sync."""
    from malnu_tui.tui.screens.sync import progress_report

    shown = progress_report(
        "sync", {"users": "done", "academic_records": "copy 5,000/20,000 (12,500/s)"}
    )
    assert str(shown) == (
        "sync: \n  ✔ users: done\n  ⟳ academic_records: copy 5,000/20,000 (12,500/s)"
    )


async def test_a_sync_into_d1_whose_lock_stayed_says_so_under_its_report(
    tmp_path: Path, d1: D1Target
) -> None:
    # A sync into D1 whose release of the destination's lock got 503s: the CLI warns that the
    # row stayed; the sync screen said the sync done alone (its LocksLeft reached no handler).
    from tests.d1server import Fault

    demo = build_demo(tmp_path / "demo")
    add_sync_pair(
        demo,
        f"d1://{d1.db.account}/{d1.db.id}",
        tables=("users",),
        users=1,
        target_options="retry_attempts = 2\nretry_base_delay = 0.01\nretry_max_delay = 0.01\n",
    )
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    release = "DELETE FROM malnu_lock WHERE id = 1 AND host"
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot, app)
        await pilot.press("s")
        await wait_until(pilot, lambda: dialog_ready(app), timeout=60)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and dialog.expected
        d1.server.inject(Fault("status", count=100, status=503, match=release))
        try:
            dialog.query_one(Input).value = dialog.expected
            await pilot.press("enter")
            await wait_until(pilot, lambda: "⚠ warning: done, but: D1 " in report_text(app), 60)
        finally:
            d1.server.faults.clear()
        said = " ".join(report_text(app).split())
    assert "users: full, read 1, inserted 1" in said, said
    assert "; the lock row of this session (pid " in said, said
    assert "press U on the status screen (unlock)" in said and "`malnu-tui unlock" not in said
