"""A migration's statements as D1 takes them: what it refuses before running anything
(transaction control, a statement over its size), and which statement of a failed batch
failed, which D1 does not say (the error's object name, else probe batches that bisect).

Plain functions over :class:`~malnu_tui.engine.backends.d1.client.D1Api`; the backend
(:mod:`malnu_tui.engine.backends.d1.backend`) calls them around each migration's batch, and a
rehearsal or stairway on a local copy of a D1 database refuses what D1 would (engine/scratch.py).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.d1.client import join_statements
from malnu_tui.engine.backends.d1.errors import D1Error, D1QueryError
from malnu_tui.engine.backends.d1.limits import (
    MAX_STATEMENT_BYTES,
    parsed_limit_refusal,
    sent_bytes,
)
from malnu_tui.engine.errors import StatementFailed
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.backends.d1.client import D1Api

__all__ = ["BISECT_MAX_SECONDS", "guess_failing", "locate_failure", "refuse_unsendable"]

_TXN_VERBS = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"}

BISECT_MAX_SECONDS = 2.0
_ERROR_OBJECT = re.compile(
    r"no such (?:table|column|index|view|trigger): (?:\w+\.)?(?P<a>\S+?)(?::|$)"
    r"|(?:table|index|view|trigger) (?P<b>\S+) already exists"
    r"|near \"(?P<c>[^\"]+)\": syntax error"
    r"|(?:UNIQUE|NOT NULL|PRIMARY KEY) constraint failed: (?P<d>[\w]+)\.",
)


def guess_failing(statements: Sequence[Statement], error: str) -> Statement | None:
    """The one statement that names the object of a SQLite error message, if exactly one."""
    m = _ERROR_OBJECT.search(error)
    if not m:
        return None
    name = next(g for g in m.groups() if g).strip("\"'`[]")
    word = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)
    hits = [st for st in statements if word.search(st.text)]
    if m["b"]:  # "already exists": the statement that creates it
        hits = [st for st in hits if st.first_words.startswith(("CREATE", "ALTER"))]
    if m["d"]:  # a constraint: the statement that writes into that table
        writes = re.compile(rf"\b(?:INSERT|UPDATE|REPLACE)\b[^;]*?{word.pattern}", re.I | re.S)
        hits = [st for st in statements if writes.search(st.text)]
    return hits[0] if len(hits) == 1 else None


def _verb(text: str) -> str:
    return Statement(text, 1).first_words.split(" ", 1)[0]


def refuse_unsendable(filename: str, statements: Sequence[Statement]) -> None:
    """:class:`StatementFailed` for the first statement D1 refuses before running anything:
    transaction control, over D1's size per statement, a table of over 100 columns or a
    function of over 32 arguments (SQLite refuses them as it reads the statement). Also what
    a rehearsal or stairway on a local copy of a D1 database refuses (engine/scratch.py)."""
    for st in statements:
        verb = _verb(st.text)
        if verb in _TXN_VERBS:
            raise StatementFailed(
                filename,
                st.line,
                st.text,
                f"D1 rejects {verb} in SQL sent over its API: remove the transaction "
                "control (the tool runs each migration as one batch)",
            )
        if (size := sent_bytes(st.text)) > MAX_STATEMENT_BYTES:
            raise StatementFailed(
                filename,
                st.line,
                st.text[:200],
                f"statement is {size} bytes as sent; D1 allows "
                f"{MAX_STATEMENT_BYTES} per statement: split it",
            )
        if (refused := parsed_limit_refusal(st.text)) is not None:
            raise StatementFailed(
                filename,
                st.line,
                st.text[:200],
                f"D1 refuses it: {refused} (D1 allows 100 columns a table, 32 arguments a "
                "function): split the table or the call",
            )


def locate_failure(
    api: D1Api, statements: Sequence[Statement], error: str, batch_seconds: float = 0.0
) -> tuple[int, str]:
    """Which statement failed: D1 does not say. First the error's object name (``no such
    table: x``, ``near "x"``…) when exactly one statement mentions it; else, when the
    failed batch was quick, bisect with probe batches ending in a statement certain to
    fail (each probe is rolled back whole and changes nothing). A slow batch is not
    re-run: on D1 that would block the database again for every probe."""
    if not statements:
        return 0, ""
    if len(statements) == 1:
        return statements[0].line, statements[0].text
    guess = guess_failing(statements, error)
    if guess is not None:
        return guess.line, guess.text
    if batch_seconds > BISECT_MAX_SECONDS:
        return statements[0].line, statements[0].text
    probe_table = f"malnu_probe_{secrets.token_hex(6)}"
    probe = f'SELECT * FROM "{probe_table}"'
    lo, hi = 0, len(statements) - 1  # the failing index is in [lo, hi]
    try:
        while lo < hi:
            mid = (lo + hi) // 2
            try:
                api.call(
                    "POST",
                    "raw",
                    body={
                        "sql": join_statements([s.text for s in statements[: mid + 1]] + [probe])
                    },
                )
                break  # cannot happen: the probe always fails
            except D1QueryError as exc:
                if probe_table in str(exc):
                    lo = mid + 1  # statements 0..mid all ran
                else:
                    hi = mid
        else:
            return statements[lo].line, statements[lo].text
    except D1Error:
        pass
    return statements[0].line, statements[0].text
