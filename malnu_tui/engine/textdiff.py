"""A unified diff of a migration and its translation that stays linear on a large file.

difflib's time grows with the square of a file's changed lines (a 2 MB seed of INSERTs, one
in three changed: 87 s). The translation maps statement to statement, so past
``WHOLE_FILE_LINES`` the two texts are cut where each statement starts on both sides and
difflib compares each piece alone; the hunks are then grouped and printed as
``difflib.unified_diff`` does. Up to that size the diff is difflib's of the whole file."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise

__all__ = ["PIECE_LINES", "WHOLE_FILE_LINES", "pieces", "unified_lines"]

WHOLE_FILE_LINES = 2000  # a side up to this: difflib over the whole file, as always
PIECE_LINES = 2000  # a piece longer than this on a side is shown replaced whole

Opcode = tuple[str, int, int, int, int]


def pieces(
    before: Sequence[str], after: Sequence[str], statements: Iterable[tuple[int, str]]
) -> list[tuple[int, int, int, int]]:
    """Where the two texts are cut: ``(i0, i1, j0, j1)`` ranges of ``before``/``after`` lines
    covering both in order. ``statements``: each statement's first line in ``before``
    (1-based) and the text it became in ``after`` (empty: nothing to line up)."""
    firsts: dict[str, list[int]] = {}
    for k, text in enumerate(after):
        firsts.setdefault(text.rstrip("\r\n"), []).append(k)
    seen: dict[str, int] = {}  # how far each list of candidates has been used
    cuts = [(0, 0)]
    for line, text in statements:
        if not text:
            continue
        want = text.split("\n")
        cands = firsts.get(want[0], [])
        at = seen.get(want[0], 0)
        i, j0 = line - 1, cuts[-1][1]
        while at < len(cands) and cands[at] < j0:
            at += 1
        seen[want[0]] = at
        if at == len(cands) or i < cuts[-1][0] or i > len(before):
            continue
        j = cands[at]
        if [s.rstrip("\r\n") for s in after[j : j + len(want)]] != want:
            continue  # not this statement's text after all: no cut here
        seen[want[0]] = at + 1
        if (i, j) != cuts[-1]:
            cuts.append((i, j))
    cuts.append((len(before), len(after)))
    return [(a[0], b[0], a[1], b[1]) for a, b in pairwise(cuts)]


def _opcodes(
    before: Sequence[str], after: Sequence[str], statements: Iterable[tuple[int, str]]
) -> list[Opcode]:
    codes: list[Opcode] = []
    for i0, i1, j0, j1 in pieces(before, after, statements):
        if i1 - i0 > PIECE_LINES or j1 - j0 > PIECE_LINES:
            tag = "replace" if i1 > i0 and j1 > j0 else ("delete" if i1 > i0 else "insert")
            whole: Opcode = (tag, 0, i1 - i0, 0, j1 - j0)
            found: Sequence[Opcode] = [whole] if (i1 > i0 or j1 > j0) else []
        else:
            found = difflib.SequenceMatcher(None, before[i0:i1], after[j0:j1]).get_opcodes()
        for tag, a0, a1, b0, b1 in found:
            if a0 == a1 and b0 == b1:
                continue
            op = (tag, a0 + i0, a1 + i0, b0 + j0, b1 + j0)
            if codes and tag == "equal" and codes[-1][0] == "equal":
                last = codes[-1]
                op = ("equal", last[1], op[2], last[3], op[4])
                codes[-1] = op
            else:
                codes.append(op)
    return codes or [("equal", 0, 1, 0, 1)]


def _grouped(codes: list[Opcode], n: int) -> Iterator[list[Opcode]]:
    """difflib.SequenceMatcher.get_grouped_opcodes over ready opcodes."""
    codes = list(codes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    nn = n + n
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > nn:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    beginning, length = start + 1, stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


def unified_lines(
    before: Sequence[str],
    after: Sequence[str],
    statements: Iterable[tuple[int, str]],
    fromfile: str,
    tofile: str,
    *,
    n: int = 3,
    lineterm: str = "\n",
) -> Iterator[str]:
    """``difflib.unified_diff(before, after, fromfile, tofile, n=n, lineterm=lineterm)``; past
    ``WHOLE_FILE_LINES`` a side, built piece by piece (see :func:`pieces`)."""
    if len(before) <= WHOLE_FILE_LINES and len(after) <= WHOLE_FILE_LINES:
        yield from difflib.unified_diff(before, after, fromfile, tofile, n=n, lineterm=lineterm)
        return
    started = False
    for group in _grouped(_opcodes(before, after, statements), n):
        if not started:
            started = True
            yield f"--- {fromfile}{lineterm}"
            yield f"+++ {tofile}{lineterm}"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@{lineterm}"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in before[i1:i2]:
                    yield " " + line
                continue
            if tag in {"replace", "delete"}:
                for line in before[i1:i2]:
                    yield "-" + line
            if tag in {"replace", "insert"}:
                for line in after[j1:j2]:
                    yield "+" + line
