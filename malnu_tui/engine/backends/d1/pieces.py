"""BLOBs larger than D1 gives back whole: its JSON has no bytes, so a reader asks for a BLOB
as ``hex()``, twice its size, which D1 refuses over its 2,000,000 bytes a value (hex() of more
than 999,999 bytes). A D1 row holds a BLOB up to 2 MB (a scanned report card, a photo an
application's Worker stored): a reader selects such a value's length in its place
(:func:`hex_or_length`) and reads it afterwards by its row's key in pieces of 999,999 bytes
(:func:`read_pieces`), joined here, exact. A page whose values were read so is taken only as
one state of the table (:func:`settled`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from malnu_tui.engine.backends.d1.limits import (
    MAX_HEX_BLOB_BYTES,
    MAX_ROW_BYTES,
    MAX_STATEMENT_BYTES,
)
from malnu_tui.engine.errors import BackendError

__all__ = [
    "PIECE_BYTES",
    "Cell",
    "PiecesChanged",
    "hex_or_length",
    "read_pieces",
    "settled",
    "too_large_sql",
]

PIECE_BYTES = MAX_HEX_BLOB_BYTES  # the most hex() gives back under D1's 2 MB a value
PIECES = -(-MAX_ROW_BYTES // PIECE_BYTES)  # pieces enough for any value D1 stores
# D1 refuses an answer over 50 MB (its limits page): one request's pieces, as hex, under 40.
ANSWER_BYTES = 40_000_000
MAX_PARAMS = 90  # D1 binds at most 100 parameters a statement
STATEMENT_BYTES = MAX_STATEMENT_BYTES - 4_000  # room for the key literals D1 cannot bind

Rows = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
R = TypeVar("R")
SETTLE_TRIES = 3  # readings of a page whose rows kept changing while read in pieces (settled)


class PiecesChanged(BackendError):
    """A value read in pieces was gone, or of another size, when its pieces were read."""


def _size(c: str) -> str:
    return f"length(CAST({c} AS BLOB))"  # a text's bytes, as hex() reads them


def too_large_sql(c: str) -> str:
    """SQL: whether the value of ``c`` (quoted) is too large for one hex()."""
    return f"{_size(c)} > {PIECE_BYTES}"


def hex_or_length(c: str) -> str:
    """SQL: the hex of the value of ``c`` (quoted), or, too large for one hex(), its size in
    bytes (an integer, where hex is text: read afterwards with :func:`read_pieces`)."""
    return f"CASE WHEN {too_large_sql(c)} THEN {_size(c)} ELSE hex({c}) END"


@dataclass(frozen=True)
class Cell:
    """One value to read in pieces: its column (quoted), its row's key (parameters of the
    ``key_where`` of :func:`read_pieces`), its size as the page read it, and how an error
    names it (``"row id=7, column scan"``)."""

    column: str
    key: tuple[Any, ...]
    size: int
    named: str


def _literal_bytes(p: Any) -> int:
    """At most what ``p`` takes in the statement (a BLOB key or a big integer goes in as a
    literal: D1's JSON parameters carry neither)."""
    return 2 * len(p) + 3 if isinstance(p, bytes | bytearray) else len(str(p)) + 2


def read_pieces(
    rows: Rows, table: str, key_where: str, cells: Sequence[Cell], label: str
) -> list[bytes]:
    """The values of ``cells`` (``table`` quoted; ``key_where`` the condition on one row's
    key, with its parameters), each read as PIECES hex() pieces of a substr(), in as few
    statements as D1's 50 MB answer, 100 KB statement and 100 parameters allow (one
    UNION ALL arm a value, each by the key's index). A value whose row is gone or whose
    size changed since its page was read is an error: the reading is run again."""
    out: list[bytes | None] = [None] * len(cells)
    arms: list[str] = []
    params: list[Any] = []
    at: list[int] = []
    answer = sent = 0

    def flush() -> None:
        if not arms:
            return
        for i, size, *hexes in rows(" UNION ALL ".join(arms), params):
            data = b"".join(bytes.fromhex(h) for h in hexes if h)
            if size == cells[i].size == len(data):
                out[i] = data
        missing = [i for i in at if out[i] is None]
        if missing:
            raise PiecesChanged(
                f"{label}: {cells[missing[0]].named}: the value changed while it was read "
                f"in pieces (a BLOB of {cells[missing[0]].size:,} bytes)",
                hint="run it again",
            )
        arms.clear()
        params.clear()
        at.clear()

    for i, cell in enumerate(cells):
        c = cell.column
        pieces = ", ".join(
            f"hex(substr(CAST({c} AS BLOB), {1 + k * PIECE_BYTES}, {PIECE_BYTES}))"
            for k in range(PIECES)
        )
        arm = f"SELECT {i}, {_size(c)}, {pieces} FROM {table} WHERE {key_where}"
        arm_bytes = len(arm.encode()) + 11 + sum(map(_literal_bytes, cell.key))
        if arms and (
            answer + 2 * cell.size > ANSWER_BYTES
            or sent + arm_bytes > STATEMENT_BYTES
            or len(params) + len(cell.key) > MAX_PARAMS
        ):
            flush()
            answer = sent = 0
        arms.append(arm)
        params.extend(cell.key)
        at.append(i)
        answer += 2 * cell.size
        sent += arm_bytes
    flush()
    return [b for b in out if b is not None]


def settled(
    read: Callable[[], tuple[list[Any], list[Any]]],
    decode: Callable[[list[Any], list[Any]], list[R]],
    blobs: Sequence[int],
    named: str,
    pieced: Callable[[Sequence[Any]], bool] | None = None,
) -> list[R]:
    """A D1 page: its rows as ``read`` gives them (and their ids, where they come apart),
    ``decode``-d, which reads the values at ``blobs`` that came as their size in pieces
    (:func:`read_pieces`), a request later. By then the row may be another (a keyless
    table's: the application deleted the last row and added one, which SQLite gives the
    freed id) or changed (the application replaced a file and its name): its other values
    were copied with the later BLOB, a row that never was. Such a page is read again after
    its pieces and taken only when its rows are as they were (rows added after it aside);
    else, or when a value's size changed before its pieces were read, it is read anew, up
    to SETTLE_TRIES times. (Each value's pieces are one statement's: one state.)
    ``pieced``: whether a row holds a value that came as its size, where ``blobs`` cannot
    say it (a row of (type, value) pairs, whose REAL 1 comes as the integer 1)."""
    if pieced is None:
        pieced = lambda r: any(isinstance(r[i], int) for i in blobs)  # noqa: E731
    for _ in range(SETTLE_TRIES):
        rows, ids = read()
        try:
            page = decode(rows, ids)
        except PiecesChanged:
            continue
        if not any(pieced(r) for r in rows):
            return page
        again, again_ids = read()
        if again[: len(rows)] == rows and again_ids[: len(ids)] == ids:
            return page
    raise BackendError(
        f"{named}: its rows changed each time their BLOBs too large for one hex() were read "
        f"in pieces ({SETTLE_TRIES} times)",
        hint="run it again when the application writes less to the table",
    )
