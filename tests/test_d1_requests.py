"""D1 round trips of a rollback of one migration: the console's wizard (one connection and
one status per step) against the CLI's ``rollback``, both counted on the local D1 server.
Only database requests (``/query``, ``/raw``) are counted: the safety backup's export
requests are the same for both and depend on the export's polling."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from malnu_tui.engine.backends.d1.backend import D1Backend
from malnu_tui.engine.config import Settings, Target, load_settings, open_backend
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from tests.d1server import D1Server
from tests.fixtures_core import MigrationDirs, next_second, run_cli, school_config, school_set
from tests.tui_demo import wait_until

pytestmark = pytest.mark.anyio


def _db_requests(server: D1Server) -> int:
    return sum(1 for r in server.requests if r.path.endswith(("/query", "/raw")))


def _config(tmp_path: Path, url: str, d: MigrationDirs) -> Path:
    return school_config(tmp_path, url, d)


def _ready(app: MalnuApp, step: str) -> bool:
    s = app.screen
    return isinstance(s, WizardScreen) and s.step == step and not s.working and s.blocked is None


async def _wizard_rollback(settings: Settings, target: Target, server: D1Server) -> int:
    """Drive the rollback wizard from the status screen; the requests it made."""
    app = MalnuApp(settings=settings, target=target)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: _status_loaded(app), timeout=60)
        before = _db_requests(server)
        first = len(server.requests)
        await pilot.press("r")
        await wait_until(pilot, lambda: _ready(app, "how-far"), timeout=60)
        await pilot.press("n")
        await wait_until(pilot, lambda: _ready(app, "preview"), timeout=60)
        screen = app.screen
        assert isinstance(screen, WizardScreen)
        while screen.step != "confirm":
            await pilot.press("n")
            await wait_until(pilot, lambda: not screen.working, timeout=60)
        await pilot.press(*target.url.rsplit("/", 1)[1], "enter")
        await wait_until(pilot, lambda: _ready(app, "verify"), timeout=60)
        if os.environ.get("SHOW_D1_REQUESTS"):
            for r in server.requests[first:]:
                print(r.path.rsplit("/", 1)[1], r.body[:150])
        return _db_requests(server) - before


def _status_loaded(app: MalnuApp) -> bool:
    from malnu_tui.tui.widgets.target_panel import TargetPanel

    s = app.screen
    # The health line is checked once after the status (not again within 30 s): counting
    # starts when both are in, so only the wizard's own requests are counted.
    return isinstance(s, StatusScreen) and all(
        p.report is not None and p.health is not None for p in s.query(TargetPanel)
    )


async def test_console_rollback_costs_at_most_two_requests_more_than_the_cli(
    d1_fresh_server: D1Server, tmp_path: Path, mdirs: MigrationDirs
) -> None:
    server = d1_fresh_server
    d = school_set(mdirs)
    db = server.add_database()
    url = f"d1://{db.account}/{db.id}"
    cfg = _config(tmp_path, url, d)
    env = {"CLOUDFLARE_API_TOKEN": server.token, "MALNU_D1_API_BASE": server.api_base}
    assert run_cli("--config", str(cfg), "up", "--no-backup", env=env).code == 0
    before = _db_requests(server)
    res = run_cli("--config", str(cfg), "rollback", "--yes", env=env)
    assert res.code == 0, res.err
    cli = _db_requests(server) - before
    assert run_cli("--config", str(cfg), "up", "--no-backup", env=env).code == 0

    settings = load_settings(config=str(cfg), env={})
    target = settings.target("school")
    console = await _wizard_rollback(settings, target, server)
    applied = server.sql(db, "SELECT filename FROM migrations ORDER BY filename")
    assert [r[0] for r in applied] == [
        "20250101_000100_create_users.sql",
        "20250101_000200_create_posts.sql",
    ]
    print(f"D1 database requests for a rollback of one migration: CLI {cli}, console {console}")
    assert console <= cli + 2, (cli, console)


async def test_console_recover_on_d1_brings_the_data_back_with_time_travel(
    d1_fresh_server: D1Server, tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The console's recover on D1 is the CLI's: Time Travel to that minute, the data itself
    back (it restored the newest backup and replayed migrations: every row written since that
    backup was lost), no backup needed, the undo restore point shown."""
    server = d1_fresh_server
    d = school_set(mdirs)
    db = server.add_database()
    cfg = _config(tmp_path, f"d1://{db.account}/{db.id}", d)
    env = {"CLOUDFLARE_API_TOKEN": server.token, "MALNU_D1_API_BASE": server.api_base}
    assert run_cli("--config", str(cfg), "up", "--no-backup", env=env).code == 0
    settings = load_settings(config=str(cfg), env={})
    target = settings.target("school")
    app_db = open_backend(target)  # as the application writes: through D1's API
    assert isinstance(app_db, D1Backend)
    app_db.api.batch(["INSERT INTO users (id, email) VALUES (77, 'siti@malnu.sch.id')"],
                     lambda: False)  # fmt: skip
    next_second()  # the time typed (whole seconds) lies between the two writes
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    next_second()
    app_db.api.batch(["DELETE FROM users WHERE id = 77"], lambda: False)  # the bad deploy
    app_db.close()
    app = MalnuApp(settings=settings, target=target)
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: _status_loaded(app), timeout=60)
        await pilot.press("p")
        await wait_until(pilot, lambda: _ready(app, "when"), timeout=60)
        screen = app.screen
        assert isinstance(screen, WizardScreen)
        screen.query_one("#when-input", Input).value = when
        await pilot.press("enter")  # the time field has the focus: Enter goes on
        await wait_until(pilot, lambda: _ready(app, "plan"), timeout=60)
        plan = str(screen.query_one("#recover-plan", Static).render())
        assert "native point-in-time restore" in plan, plan
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.step == "confirm", timeout=60)
        await pilot.press(*db.id, "enter")
        await wait_until(pilot, lambda: screen.step == "result" and not screen.working, 60)
        summary = str(screen.query_one("#recover-summary", Static).render())
        assert "(D1 Time Travel)" in summary and "Restore point that undoes it" in summary
    assert server.sql(db, "SELECT email FROM users WHERE id = 77") == [("siti@malnu.sch.id",)]
