"""Textual's text widgets with their text taken as written, never as markup.

Everything this console shows is data: error messages, SQL, file and table names, audit
details, sync keys. As markup, ``x[i]`` showed as ``x``, ``regexp [a-z]+`` as ``regexp +``, a
``[notice]`` vanished, and an audit detail holding ``[/]`` stopped the screen with a
MarkupError. The screens import these instead of Textual's own.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import widgets
from textual.visual import VisualType

__all__ = ["DataTable", "Label", "Static"]


class Static(widgets.Static):
    """:class:`textual.widgets.Static`, its text literal."""

    def __init__(self, content: VisualType = "", **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(content, **kwargs)


class Label(widgets.Label):
    """:class:`textual.widgets.Label`, its text literal."""

    def __init__(self, content: VisualType = "", **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(content, **kwargs)


def _literal(cell: object) -> object:
    return Text(cell, end="") if isinstance(cell, str) else cell


class DataTable(widgets.DataTable[Any]):
    """:class:`textual.widgets.DataTable`, its text cells literal (Textual reads a ``str``
    cell as markup)."""

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        return super().add_row(*map(_literal, cells), **kwargs)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, **kwargs: Any) -> None:
        super().update_cell(row_key, column_key, _literal(value), **kwargs)
