"""The console shows data as written. Textual reads a ``str`` as markup: the import preview of a
legacy export holding ``[/]`` in a name stopped with a MarkupError, ``X[IPA]1`` showed as
``X1``, and a message quoting ``x[i]`` or ``[a-z]+`` lost its brackets. The screens now use
the literal widgets of ``tui/widgets/plain.py``; the audit log (already literal) is kept so."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from malnu_tui.engine.backends.base import AuditEntry
from malnu_tui.engine.config import open_backend
from malnu_tui.tui.screens.audit import AuditScreen
from tests.tui_demo import at_rest, build_demo, demo_app, status_loaded, wait_until

pytestmark = pytest.mark.anyio

DETAIL = "UPDATE t SET x[i] = 1 failed: pattern [a-z]+ and a closing [/] tag, [notice] kept"


async def test_the_audit_log_shows_a_detail_with_brackets_as_written(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo")
    backend = open_backend(demo.target("primary"))
    try:
        backend.append_audit(AuditEntry.now("import", "users[0]", "failed", DETAIL))
    finally:
        backend.close()
    app = demo_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app))
        await pilot.press("l")
        await wait_until(
            pilot, lambda: isinstance(app.screen, AuditScreen) and bool(app.screen.entries)
        )
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        table = screen.query_one("#audit-table", DataTable)
        row = next(
            i for i, e in enumerate(screen.entries) if e.detail == DETAIL
        )  # the newest first
        table.move_cursor(row=row)
        await at_rest(pilot)  # the highlight's message handled: the detail shown
        shown = " ".join(str(c) for c in table.get_row_at(row))
        assert "users[0]" in shown, shown
        detail = str(screen.query_one("#audit-detail", Static).render())
        assert DETAIL in detail, detail
        assert "users[0]" in app.export_screenshot().replace("&#91;", "[")


async def test_the_import_preview_shows_values_with_brackets_as_written(tmp_path: Path) -> None:
    # A legacy export's values are data: a class written "X[IPA]1" showed as "X1", and one
    # holding "[/]" stopped the preview's table.
    import shutil

    from textual.widgets import Input

    from malnu_tui.tui.screens.data_import import ImportWizard
    from malnu_tui.tui.screens.wizard import WizardScreen
    from tests.import_support import EXAMPLES

    demo = build_demo(tmp_path / "demo")
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(EXAMPLES / "legacy_users.toml", root / "legacy_users.toml")
    (root / "legacy_users.csv").write_text(
        "legacy_id,email_address,full_name,user_type,class_section,created_date\n"
        "1001,siti@malnu.sch.id,Siti [b] Rahmawati,S,X[IPA]1,15/07/2024 07:30\n"
        "1002,ahmad@malnu.sch.id,Ahmad [/] Fauzi,T,,01/07/2020 08:00\n"
    )
    app = demo_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app))
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportWizard))
        screen = app.screen
        assert isinstance(screen, WizardScreen)
        screen.query_one("#import-file", Input).value = str(root / "legacy_users.csv")
        screen.query_one("#import-table", Input).value = "users"
        screen.query_one("#import-map", Input).value = str(root / "legacy_users.toml")
        screen.query_one("#import-max", Input).value = "2"
        await pilot.click("#next")
        await wait_until(
            pilot,
            lambda: screen.step == "preview" and not screen.working and screen.blocked is None,
            timeout=60,
        )
        shown = " ".join(
            str(c)
            for table in screen.query(DataTable)
            for i in range(table.row_count)
            for c in table.get_row_at(i)
        )
        for value in ("X[IPA]1", "Siti [b] Rahmawati", "Ahmad [/] Fauzi"):
            assert value in shown, (value, shown)
        app.export_screenshot()  # the screen renders (a MarkupError stopped it)
