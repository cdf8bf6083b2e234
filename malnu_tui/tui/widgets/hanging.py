"""Text whose wrapped lines stay under their label: ``why:``'s reason, a problem's ``✘``.

Textual wraps a long line back to column 0, so at 80 columns an error's reason and its way out
ran on under ``why:`` and ``way out:`` themselves, and a problem's second line read as a new
item. :class:`Hanging` wraps each line at the width it is given, its continuation lines
indented under the text after the line's label.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.content import Content
from textual.visual import Visual

if TYPE_CHECKING:
    from textual.css.styles import RulesMap
    from textual.strip import Strip
    from textual.style import Style
    from textual.visual import RenderOptions

# What a line's continuation goes under: its indentation, a mark (✘ ⚠ ✔ ℹ · …) or a step's
# number (2. ) and a label (why:, way out:, also:) as the error box, the preflights' problem
# lists and the recover plan write them.
_LABEL = re.compile(
    r" *(?:[✘⚠✔ℹ·○≠?✗✓⊘–↑↓↶] |\d+\. )?(?:(?:why|way out|also|hint|note|warning|failed with): )?"
)


def _pieces(plain: str, width: int, indent: int) -> list[tuple[int, int]]:
    """(start, end) of each wrapped piece of ``plain``: the first ``width`` cells wide, the
    others ``width - indent``; broken at a space, a word longer than a line folded."""
    pieces: list[tuple[int, int]] = []
    start, room, floor = 0, width, indent
    while cell_len(plain[start:]) > room:
        end, used = start, 0
        while end < len(plain) and used + cell_len(plain[end]) <= room:
            used += cell_len(plain[end])
            end += 1
        space = plain.rfind(" ", start + floor + 1, end + 1)
        cut = space if space > start + floor else max(end, start + 1)
        pieces.append((start, cut))
        start = cut
        while start < len(plain) and plain[start] == " ":
            start += 1
        room, floor = max(1, width - indent), 0
    pieces.append((start, len(plain)))
    return pieces


def hang(text: Text, width: int) -> Text:
    """``text`` wrapped at ``width`` cells, each line's continuation under its label."""
    out = Text(style=text.style)  # the base style kept as such: Textual colours it otherwise
    for n, line in enumerate(text.split("\n", allow_blank=True)):
        line.style = ""  # (each line carries the base style: it is ``out``'s)
        if n:
            out.append("\n")
        plain = line.plain
        match = _LABEL.match(plain)
        indent = min(match.end() if match else 0, width // 2)
        for i, (start, end) in enumerate(_pieces(plain, width, indent)):
            if i:
                out.append("\n" + " " * indent)
            piece = line[start:end]
            piece.rstrip()
            out.append_text(piece)
    return out


class Hanging(Visual):
    """``text`` shown as :func:`hang` wraps it at the widget's width (again when it changes);
    ``str()`` of it is the text as written, unwrapped."""

    def __init__(self, text: Text) -> None:
        self.text = text
        self._wrapped: tuple[int, Content] | None = None

    def __str__(self) -> str:
        return self.text.plain

    @property
    def plain(self) -> str:
        return self.text.plain

    def _content(self, width: int) -> Content:
        if self._wrapped is None or self._wrapped[0] != width:
            self._wrapped = (width, Content.from_rich_text(hang(self.text, max(width, 1))))
        return self._wrapped[1]

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max((cell_len(line) for line in self.text.plain.split("\n")), default=0)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self._content(width).get_height(rules, width)

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        return self._content(width).render_strips(width, height, style, options)
