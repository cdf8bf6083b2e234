"""The README's keys table is the console's bindings (every id, with its keys), and help files a
wizard's own keys under that wizard: what an operator reads before opening the console over SSH
is what the console does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import DataTable

from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.keys import KEY_NAMES, key_entries
from tests.tui_demo import Demo, at_rest, build_demo, demo_app, status_loaded, wait_until

README = Path(__file__).resolve().parent.parent / "README.md"

pytestmark = pytest.mark.anyio


def keys_table() -> list[list[str]]:
    """The rows (cells) of the console section's keys table: `| where | key | id | does |`."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| where | key | id | does |") + 2
    rows: list[list[str]] = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


def fold(key: str) -> str:
    """``PgUp`` and ``pgup``, ``F5`` and ``f5`` alike; ``P`` and ``p`` not (two bindings)."""
    return key.lower() if len(key) > 1 else key


def readme_keys(cell: str) -> set[str]:
    """The keys a key cell names: every word inside its backquotes."""
    return {fold(w) for quoted in re.findall(r"`([^`]+)`", cell) for w in quoted.split()}


def test_the_readme_keys_table_names_every_binding_with_its_keys() -> None:
    rows = keys_table()
    assert all(len(r) == 4 for r in rows), [r for r in rows if len(r) != 4]
    bindings = {e.id: e for e in key_entries(MalnuApp)}
    documented: dict[str, set[str]] = {}
    for _where, key_cell, id_cell, _does in rows:
        for binding_id in re.findall(r"`([a-z_]+\.[a-z_]+)`", id_cell):
            documented.setdefault(binding_id, set()).update(readme_keys(key_cell))
    unknown = sorted(set(documented) - set(bindings))
    assert unknown == [], f"ids in the README's keys table that no binding has: {unknown}"
    missing = sorted(set(bindings) - set(documented))
    assert missing == [], f"bindings the README's keys table leaves out: {missing}"
    wrong = {}
    for binding_id, entry in bindings.items():
        keys = {fold(KEY_NAMES.get(k.strip(), k.strip())) for k in entry.keys.split(",")}
        if not keys <= documented[binding_id]:
            wrong[binding_id] = sorted(keys - documented[binding_id])
    assert wrong == {}, f"keys of a binding its README row does not name: {wrong}"


async def test_help_files_accept_edited_under_its_own_wizard(tmp_path: Path) -> None:
    # `a` (accept edited) is the rollback and recovery wizards' key: help listed it twice under
    # "Wizards (every one)", as if the apply or import wizard took it.
    demo: Demo = build_demo(tmp_path / "demo")
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app))
        await pilot.press("f1")
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count > 0)
        await at_rest(pilot)
        section, sections = "", {}
        for i in range(table.row_count):
            key, does, binding_id = (str(c) for c in table.get_row_at(i))
            if not key and not binding_id:
                section = does
            elif binding_id:
                sections[binding_id] = section
        assert sections["rollback.accept_edited"] == "Emergency rollback wizard"
        assert sections["recover.accept_edited"] == "Point-in-time recovery wizard"
        assert sections["wizard.next"] == "Wizards (every one)"


async def test_the_idle_quit_question_names_its_key(tmp_path: Path) -> None:
    # "ctrl+c again quits", as the README says: the dialog's Quit button named no key.
    from textual.widgets import Button

    from tests.tui_demo import bare_text, dialog_ready

    app = demo_app(build_demo(tmp_path / "demo"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app))
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: dialog_ready(app))
        await at_rest(pilot)
        assert str(app.screen.query_one("#yes", Button).label) == "Quit (ctrl+c)"
        assert "ctrl+c again quits; esc stays." in bare_text(app)
        await pilot.press("ctrl+c")
        await pilot.pause(0.1)
    assert app.return_code == 0
