"""What the engine leaves for the shell to say after work that succeeded (an audit index an
upgrade could not make), said by the console on the result of the operation, as the CLI's
``warning:`` lines say it: the console said a plain success."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.config import load_settings
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.backups import BackupBrowser
from malnu_tui.tui.widgets.error_box import ErrorBox
from tests.d1server import TIMEOUT_MESSAGE, Fault
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc
from tests.secret_support import d1_config
from tests.test_privileges import _as
from tests.test_privileges import role as role  # the fixture
from tests.tui_demo import at_rest, screen_text, status_loaded, wait_until

pytestmark = pytest.mark.anyio

INDEX = "malnu_audit_action_object_id"


def _shown(app: MalnuApp) -> str:
    return " ".join(screen_text(app).split())


def _app_of_a_role_not_owning_the_trail(
    tmp_path: Path, role: str, pg_url: str, *, sequences: bool = True
) -> MalnuApp:
    """The console on ``pg_url`` as ``role``: the tool's tables made by the superuser (the
    DBA's role) before the (action, object, id) index, ``role`` granted what `log` says (and
    their sequences, which pg_dump reads, unless not ``sequences``)."""
    assert run_cli("--database", pg_url, "status").code == 0  # made by the superuser
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {INDEX}")
        conn.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON public.migrations, public.malnu_audit, "
            f"public.malnu_lock TO {role}"
        )
        if sequences:
            conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    for folder in ("migrations", "rollback"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "20250101_000000_t.sql").write_text("SELECT 1;\n")
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[backup]\ndir = "backups"\n\n[targets.school]\nurl = "{_as(pg_url, role)}"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n',
        encoding="utf-8",
    )
    settings = load_settings(config=str(config), env={})
    return MalnuApp(settings=settings, target=settings.target("school"))


async def test_an_audit_index_the_role_may_not_make_is_said_once_on_the_result(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """The tool's tables made by the DBA's role before the (action, object, id) index, the
    operator's role granted what `log` says: a console backup (an apply, a sync…) made no
    index (only the table's owner may), went on, and said its "✔" alone; the CLI says a
    ``warning:`` with the CREATE INDEX to run as the owner. Now said under the result, whole
    at 80×24, once: the next backup meets the same cause and does not say it again."""
    app = _app_of_a_role_not_owning_the_trail(tmp_path, role, pg_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupBrowser), timeout=30)
        browser = app.screen
        assert isinstance(browser, BackupBrowser)
        await at_rest(pilot)
        locks = browser.query_one("#backup-locks")
        for made in (1, 2):
            await pilot.press("c")
            await wait_until(pilot, lambda: len(browser.manifests) == made, timeout=60)  # noqa: B023
            await at_rest(pilot)
            shown = _shown(app)
            assert "✔ backup " in shown, shown
            if made == 2:  # the same cause met again by the next operation: not said again
                assert not locks.display and "audit index" not in shown, shown
                break
            assert locks.display, shown
            said = shown[shown.index("⚠ warning: the audit index") :]
            assert said.startswith(
                f"⚠ warning: the audit index {INDEX} was not made (must be owner of table "
                f"malnu_audit [SQLSTATE 42501]; role {role}): `check` reads the trail without "
                "it, slower on a long one; a command run once by the table's owner, or this "
                f"CREATE INDEX, makes it: CREATE INDEX IF NOT EXISTS {INDEX} ON "
                '"public".malnu_audit (action, object, id);'
            ), said
            assert shown.count("audit index") == 1, shown


async def test_an_audit_index_met_by_work_that_then_failed_is_said_with_the_failure(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """A backup that failed (pg_dump may not read a sequence) after its open met the index
    it could not make: said as the failure's ``also:`` line (left for later, it was said on
    the result of some other work)."""
    app = _app_of_a_role_not_owning_the_trail(tmp_path, role, pg_url, sequences=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupBrowser), timeout=30)
        await at_rest(pilot)
        box = app.screen.query_one(ErrorBox)
        await pilot.press("c")
        await wait_until(pilot, lambda: bool(box.text), timeout=60)
        said = " ".join(box.text.split())
    assert "pg_dump may not read sequence malnu_audit_id_seq" in said, said
    assert (
        f"also: the audit index {INDEX} was not made (must be owner of table malnu_audit "
        f"[SQLSTATE 42501]; role {role})"
    ) in said, said
    assert (
        f'CREATE INDEX IF NOT EXISTS {INDEX} ON "public".malnu_audit (action, object, id);' in said
    )


async def test_an_audit_index_d1_stopped_as_the_unlock_opened_is_said_in_its_dialog(
    tmp_path: Path, mdirs: MigrationDirs, d1: D1Target
) -> None:
    """D1 stopped the audit index's build at its 30 s as the unlock dialog's release opened
    the tool's tables: the dialog closed on its release (a toast), and the index, made empty
    so that no command tries it again, was said nowhere. Now said in the dialog, whole at
    80×24, until it is closed."""
    from malnu_tui.tui.screens.unlock import UnlockScreen

    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    cfg = d1_config(tmp_path / "malnu.toml", d1.db.account, d1.db.id, mdirs)
    at = ("--config", str(cfg), "--target", "production")
    assert run_inproc(*at, "up", "--yes", "--no-backup").code == 0
    d1.sql(f"DROP INDEX {INDEX}")  # as the version before it left the database
    d1.sql(
        "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
        "VALUES (1, 'ops@box-b', 'box-b', 4242, '2026-01-01 00:00:00', '2999-01-01 00:00:00', "
        "'up')"
    )
    d1.server.inject(
        Fault("status", count=9, status=400, match="(action, object, id)\\n;",
              message=TIMEOUT_MESSAGE)
    )  # fmt: skip
    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=settings.target("production"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.press("U")
        await wait_until(
            pilot, lambda: isinstance(app.screen, UnlockScreen) and app.screen.state is not None
        )
        dialog = app.screen
        assert isinstance(dialog, UnlockScreen) and dialog.state is not None
        await pilot.press(*dialog.state.database_name, "enter")
        await wait_until(pilot, lambda: dialog.done, timeout=30)
        await at_rest(pilot)
        body = " ".join(str(dialog.query_one("#unlock-body").render()).split())
        assert app.screen is dialog and body.startswith("✔ lock released (audited) "), body
        said = body[body.index("⚠ warning: ") :]
        assert said == (
            f"⚠ warning: {d1.url}: D1 stopped the build of the audit index {INDEX} at its 30 s "
            "(the audit trail is too long for one request): made empty, so no command tries "
            "it again; reads go without it (`check`'s of each [sync.NAME] pair, slower on a "
            "long trail). To have it: delete old rows of malnu_audit in ranges of ids, then "
            f"DROP INDEX {INDEX}; the next command builds it"
        ), said
        # Whole on the screen, at 80×24: nothing of it scrolled out of the dialog.
        assert dialog.query_one("#unlock-body").max_scroll_y == 0
        shown = _shown(app)
        assert "the next command builds" in shown and "Close (esc)" in shown, shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
    assert d1.sql("SELECT count(*) FROM malnu_lock") == [(0,)]
