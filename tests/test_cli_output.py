"""The CLI's tables: cells are data, never markup, and a table that fits is laid out as rich
lays it out (the fast path must not change what scripts and operators read)."""

from __future__ import annotations

import io

import pytest

from malnu_tui.cli.output import _rich_table, print_table

TABLES = [
    (["version", "name", "state"], [["1", "a", "✔ applied"], ["22", "bbbb", None],
                                     ["3", "漢字x", "≠ drifted"]], "t: x"),
    (["a", "b"], [], None),
    (["table", "mode", "verified"], [["Siswa", "full", "✔ yes (what it changed)"]], None),
    (["x"], [["é"], [""], ["ü" * 30]], "a title longer than the table is wide"),
    (["a", "b", "c"], [["1"], ["1", "2", "3"]], None),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "rows", "title"), TABLES)
def test_a_table_that_fits_is_laid_out_as_rich_lays_it_out(
    headers: list[str], rows: list[list[object]], title: str | None
) -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    print_table(ours, headers, rows, title=title)
    cells = [[("" if c is None else str(c)) for c in r] + [""] * (len(headers) - len(r))
             for r in rows]  # fmt: skip
    _rich_table(theirs, headers, cells, title, tty=False, colour=False)
    assert ours.getvalue() == theirs.getvalue()


def test_cells_that_look_like_markup_are_printed_as_written() -> None:
    # A migration named fix_[ci]_build, an error quoting "[/]", a config section in a message:
    # rich read them as markup (a traceback: "closing tag '[/]' … has nothing to close").
    for wide in (False, True):
        out = io.StringIO()
        cell = "x" * 200 if wide else "x"
        rows = [["[/] closing", "[bold]z", cell], ["[sync.reporting]", "fix_[ci]_build", "-"]]
        print_table(out, ["[a]", "b", "c"], rows, title="[red]t[/red]")
        text = out.getvalue()
        for word in ("[/] closing", "[bold]z", "[sync.reporting]", "fix_[ci]_build", "[red]t"):
            assert word in text, (word, text)


def test_a_cell_with_a_line_break_is_folded_by_rich() -> None:
    out = io.StringIO()
    print_table(out, ["a", "b"], [["one\ntwo", "x"]])
    assert out.getvalue().splitlines()[1:] == ["one  x", "two   "]
