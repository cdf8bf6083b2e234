"""The console's stop key: a running apply stopped from the keyboard (ctrl+c asks, y or ctrl+c
again stops it), through the engine path the CLI's Ctrl-C takes. No key stopped a step before:
q and ctrl+c only explained, and closing the terminal was the way out of a 10-minute UPDATE."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.config import load_settings
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.apply import ApplyWizard
from malnu_tui.tui.screens.confirm import STOP_TITLE, StopConfirm
from malnu_tui.tui.screens.status import StatusScreen
from tests.d1server import Fault
from tests.fixtures_d1 import D1Target
from tests.test_tui_wizards import SCHOOL_APPLIED, loaded, make_app, ready, text_of, wizard
from tests.tui_demo import Demo, build_demo, screen_text, wait_until

pytestmark = pytest.mark.anyio

# Counting to 60 million into a table: about 15 s, were it not stopped.
SLOW = "20251130_090000_fill_big.sql"
LONG = (
    "CREATE TABLE big (x INTEGER);\n"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000000) "
    "INSERT INTO big SELECT x FROM c;\n"
)


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return build_demo(tmp_path / "demo")


def stoppable_now(app: MalnuApp) -> bool:
    screen = app.screen
    return isinstance(screen, ApplyWizard) and screen.can_stop()


async def test_ctrl_c_stops_a_running_sqlite_migration_after_asking(demo: Demo) -> None:
    (demo.root / "migrations" / SLOW).write_text(LONG, encoding="utf-8")
    (demo.root / "rollback" / SLOW).write_text("DROP TABLE big;\n", encoding="utf-8")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"))
        await pilot.press("n", *"school", "enter")
        screen = wizard(app)
        await wait_until(pilot, lambda: stoppable_now(app) and screen.stopping is False)
        # The slow one runs once the three before it are done.
        await wait_until(pilot, lambda: "fill_big" in screen_text(app))
        await pilot.pause(0.3)
        footer = app.screen.active_bindings["ctrl+c"].binding
        assert (footer.description, footer.id) == ("Stop", "wizard.stop")
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: isinstance(app.screen, StopConfirm))
        assert STOP_TITLE in screen_text(app) and "rolled back" in screen_text(app)
        await pilot.press("escape")  # kept running: nothing stopped
        await pilot.pause(0.3)
        assert app.screen is screen and screen.working and screen.step == "run"
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: isinstance(app.screen, StopConfirm))
        stopped = time.monotonic()
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.step == "result", timeout=10)
        took = time.monotonic() - stopped
        result = text_of(app, "#result-text")
        assert "stopped at your request" in result, result
        assert app.operation is None
        await pilot.press("escape")  # the console is usable: the stopped one is pending
        await wait_until(pilot, lambda: loaded(app) and pending(app) == [SLOW])
    assert took < 4, f"the stop took {took:.1f} s"
    assert demo.applied() == sorted([*SCHOOL_APPLIED, *applied_after_school(demo)])
    assert "big" not in demo.tables()
    with sqlite3.connect(demo.primary_db) as conn:
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        failed = conn.execute("SELECT count(*) FROM migrations WHERE NOT success").fetchone()
        assert failed == (0,)
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
    assert run[0] == "failed" and "interrupted" in run[1], run


def pending(app: MalnuApp) -> list[str]:
    """The primary's pending migrations, as the status screen read them last."""
    from malnu_tui.engine.status import MigrationState

    panel = app.status_screen.current_panel()
    report = panel.report if panel is not None else None
    if report is None:
        return []
    return [m.filename for m in report.migrations if m.state is MigrationState.PENDING]


def applied_after_school(demo: Demo) -> list[str]:
    """The demo's three pending migrations, shown done before the slow one: they stay."""
    files = sorted(p.name for p in (demo.root / "migrations").glob("*.sql"))
    return [f for f in files if f not in SCHOOL_APPLIED and f != SLOW]


async def test_ctrl_c_twice_cancels_a_running_postgresql_statement(
    tmp_path: Path, pg_url: str
) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "rollback").mkdir()
    name = "20260101_000100_slow.sql"
    (tmp_path / "migrations" / name).write_text(
        "CREATE TABLE stopped_here (id INTEGER);\nSELECT pg_sleep(60);\n", encoding="utf-8"
    )
    (tmp_path / "rollback" / name).write_text("DROP TABLE stopped_here;\n", encoding="utf-8")
    config = tmp_path / "malnu.toml"
    config.write_text(
        '[backup]\ndir = "backups"\n\n[targets.secondary]\n'
        f'url = "{pg_url}"\nmigrations_dir = "migrations"\nrollback_dir = "rollback"\n',
        encoding="utf-8",
    )
    settings = load_settings(config=str(config), env={})
    app = MalnuApp(settings=settings, target=settings.target("secondary"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"))
        screen = wizard(app)
        assert isinstance(screen, ApplyWizard) and screen.preview is not None
        await pilot.press("n", *screen.preview.database_name, "enter")
        await wait_until(pilot, lambda: stoppable_now(app) and sleeping(pg_url))
        stopped = time.monotonic()
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: isinstance(app.screen, StopConfirm))
        assert "cancelled on the server" in screen_text(app)
        await pilot.press("ctrl+c")  # twice: the operator means it
        await wait_until(pilot, lambda: screen.step == "result", timeout=10)
        took = time.monotonic() - stopped
        assert "stopped at your request" in text_of(app, "#result-text")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        assert app.operation is None
    assert took < 4, f"the stop took {took:.1f} s"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('stopped_here')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
    assert run[0] == "failed" and "interrupted" in run[1], run
    assert not sleeping(pg_url)


def sleeping(url: str) -> bool:
    """The migration's pg_sleep runs on the server."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' "
            "AND state = 'active' AND pid <> pg_backend_pid()"
        ).fetchone()
    return bool(row and row[0])


async def test_a_stop_on_d1_lets_the_request_in_flight_finish_and_sends_no_more(
    tmp_path: Path, d1: D1Target
) -> None:
    """D1: a migration is one batch, which cannot be recalled once sent. The dialog says so;
    the stop takes effect as D1 answers: the batch D1 ran is reported done, the next one is
    never sent, the run recorded as interrupted, the lock released. A third ctrl+c (the stop's
    "ctrl+c again" pressed once more as the run ends) is said to have come after the run:
    it opened the quit question, and a fourth press quit the console."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "rollback").mkdir()
    for name in ("20260101_000100_first_one", "20260101_000200_second_one"):
        table = name.split("_", 2)[2]
        (tmp_path / "migrations" / f"{name}.sql").write_text(
            f"CREATE TABLE {table} (id INTEGER);\n", encoding="utf-8"
        )
        (tmp_path / "rollback" / f"{name}.sql").write_text(f"DROP TABLE {table};\n", "utf-8")
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[backup]\ndir = "backups"\n\n[targets.production]\nurl = "{d1.url}"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n',
        encoding="utf-8",
    )
    held = d1.server.inject(Fault("slow", match="CREATE TABLE first_one", hold=threading.Event()))
    settings = load_settings(config=str(config))
    app = MalnuApp(settings=settings, target=settings.target("production"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"), timeout=30)
        screen = wizard(app)
        assert isinstance(screen, ApplyWizard) and screen.preview is not None
        await pilot.press("n", *screen.preview.database_name, "enter")
        sent = lambda: any("first_one" in r.body for r in d1.server.requests)  # noqa: E731
        await wait_until(pilot, lambda: stoppable_now(app) and sent(), timeout=30)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: isinstance(app.screen, StopConfirm))
        assert "cannot be recalled" in screen_text(app)
        await pilot.press("ctrl+c")
        await pilot.pause(0.2)
        assert screen.step == "run"  # the batch in flight is D1's: the stop waits for it
        assert held.hold is not None
        held.hold.set()
        await wait_until(pilot, lambda: screen.step == "result", timeout=10)
        result = text_of(app, "#result-text")
        assert "left to D1" in result, result
        await pilot.press("ctrl+c")
        await pilot.pause(0.1)
        assert app.screen is screen and app.is_running, type(app.screen).__name__
    assert not any("second_one" in r.body for r in d1.server.requests)
    with sqlite3.connect(d1.db.path) as conn:
        rows = conn.execute("SELECT filename FROM migrations WHERE success").fetchall()
        assert rows == [("20260101_000100_first_one.sql",)]
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
    assert run[0] == "failed" and "interrupted" in run[1], run


async def test_the_console_puts_its_signal_handlers_back_when_it_exits(demo: Demo) -> None:
    # Its SIGTERM and SIGHUP handlers were left in place: a SIGTERM to the process after the
    # app had exited (a test run's, a script's) called into the closed loop and hung it.
    import signal

    def mine(_signum: int, _frame: object) -> None:
        raise AssertionError("not called")

    before = {s: signal.signal(s, mine) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        app = make_app(demo)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: loaded(app))
            assert signal.getsignal(signal.SIGTERM) is not mine  # the console's, meanwhile
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGHUP) is mine
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_a_stop_that_comes_once_every_migration_is_in_rolls_nothing_back(demo: Demo) -> None:
    # The stop key confirmed as the run ends lands after the last migration's COMMIT (its
    # "done" being reported, its run row being written): nothing is rolled back. The result
    # said "stopped at your request: the step in progress was rolled back", of a run wholly
    # applied. Here the stop is delivered as the last "done" is posted, in the worker itself.
    import signal

    from textual.message import Message
    from textual.message_pump import MessagePump

    from malnu_tui.engine.interrupts import stop_workers, stoppable
    from malnu_tui.engine.migrate import plan_up
    from malnu_tui.tui.messages import OperationProgress as ProgressMessage
    from malnu_tui.tui.session import RunOutcome, connected, migration_set, run_confirmed

    target = demo.target("primary")
    mset = migration_set(target)
    with connected(target) as backend:
        plan = plan_up(backend, mset, target_name=target.name)
    last = plan.steps[-1].filename

    class Screen(MessagePump):  # the wizard's side: it only receives the worker's messages
        def post_message(self, message: Message) -> bool:
            p = message.progress if isinstance(message, ProgressMessage) else None
            if p is not None and p.event == "done" and p.filename == last:
                stop_workers(signal.SIGINT, owner=self)  # (raised here, at its next line)
            return True

    pump = Screen()
    out: list[RunOutcome | BaseException] = []

    def work() -> None:
        try:
            with stoppable(owner=pump):
                out.append(run_confirmed(target, mset, plan, pump))
        except BaseException as exc:
            out.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(30)
    (outcome,) = out
    assert isinstance(outcome, RunOutcome), outcome
    assert outcome.error == "" and outcome.result is not None, outcome.error
    assert [f for f, _ in outcome.result.done] == [s.filename for s in plan.steps]
    assert demo.applied() == sorted([*SCHOOL_APPLIED, *(s.filename for s in plan.steps)])
