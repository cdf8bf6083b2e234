"""One normal form for every value, whichever side it was read from.

A row's hash is the md5 of its values in that normal form joined by ``|`` (NULL as ``N``; text
and JSON as ``len:text``, so that no text can shift a field boundary; the other kinds print
only digits, hex and ``-:. tf``). So SQLite's ``1`` and PostgreSQL's ``true`` hash alike, as do
a SQLite text timestamp and a PostgreSQL ``timestamp``, an integer and a bigint, a BLOB and a
``bytea``. PostgreSQL computes the same text server-side (:func:`pg_row_hash_sql`) for every
kind but JSON; the Python side (:func:`row_hasher`) is the reference.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from malnu_tui.engine.sync.timetext import (
    CANON_DATE,
    CANON_TS,
    PG_ONLY_DATE,
    PG_ONLY_TS,
    fmt_dt,
    ms_time,
    parse_dt,
    pg_read_time,
    pg_read_tod,
    ts_for_postgres,
    utc_wall_clock,
)
from malnu_tui.engine.translate.types import format_type, map_type

__all__ = [
    "SERVER_KINDS",
    "hash_fields",
    "kind_of",
    "normalizer",
    "pg_field_sql",
    "pg_text_sql",
    "pg_type_for_sqlite",
    "row_hasher",
    "sqlite_decl_for",
    "sqlite_param",
    "to_postgres",
    "to_sqlite",
]

Normalizer = Callable[[Any], str]

_KINDS: dict[str, str] = {
    "bigint": "int", "integer": "int", "smallint": "int",
    "boolean": "bool",
    "timestamp without time zone": "ts", "timestamp with time zone": "tstz",
    "date": "date", "time without time zone": "time",
    "double precision": "float", "real": "float",
    "numeric": "numeric", "bytea": "bytes", "json": "json", "jsonb": "json", "uuid": "uuid",
    "text": "text", "character varying": "text", "character": "text",
}  # fmt: skip

# Kinds whose normal form may hold any character: written ``len:text`` in a row's text.
PREFIXED = frozenset({"text", "json"})
# Kinds PostgreSQL can normalize exactly as Python does (JSON's key order and spacing differ).
SERVER_KINDS = frozenset(
    {"int", "bool", "ts", "tstz", "date", "time", "float", "numeric", "bytes", "uuid", "text"}
)


_MODIFIER = re.compile(r"\(\s*\d+\s*(?:,\s*-?\d+\s*)?\)")


def kind_of(pg_type: str) -> str:
    """The normalization kind of a PostgreSQL type (``format_type()`` spelling), whatever its
    modifier: ``timestamp(3) with time zone`` (Prisma's ``@db.Timestamptz(3)``, and its
    ``DateTime`` is ``timestamp(3)``) is a timestamp, where only the part before ``(`` was
    looked up — such a column was text: a copy of it was refused against a ``timestamp``
    (a SQLite source's DATETIME into a Prisma-made table), and its copy in SQLite or D1
    held it with a zone, ``+00``, where a ``timestamptz`` is copied in UTC without one."""
    base = " ".join(_MODIFIER.sub("", pg_type).lower().split())
    return _KINDS.get(base, "text")


def pg_type_for_sqlite(declared: str) -> str:
    """The PostgreSQL type of a SQLite declared type, through the translation's mapping."""
    mapped = map_type(declared).postgres
    return format_type(mapped) if mapped else "text"


_SQLITE_DECL = {
    "int": "INTEGER", "bool": "BOOLEAN", "ts": "DATETIME", "tstz": "TIMESTAMPTZ", "date": "DATE",
    "time": "TIME", "float": "REAL", "bytes": "BLOB", "uuid": "UUID", "text": "TEXT",
}  # fmt: skip


def sqlite_decl_for(pg_type: str) -> str:
    """A SQLite declared type that the translation maps back to ``pg_type``'s kind."""
    t = pg_type.lower()
    if t.startswith("character varying(") or t.startswith("numeric("):
        return t.replace("character varying", "VARCHAR").replace("numeric", "NUMERIC")
    if t == "jsonb":
        return "JSONB"
    kind = kind_of(t)
    if kind == "json":
        return "JSON"
    if kind == "numeric":
        return "NUMERIC"
    return _SQLITE_DECL.get(kind, "TEXT")


# -- Python normal form -------------------------------------------------------------------------


def _raw(v: Any) -> str:
    # A value that does not fit its kind keeps a marked raw form: it differs from every
    # well-formed value, so it is reported rather than silently equal.
    text = "x" + bytes(v).hex() if isinstance(v, bytes | bytearray | memoryview) else str(v)
    return f"?{len(text)}:{text}"


def _int(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    try:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, str | Decimal):
            d = Decimal(str(v).strip())
            if d == d.to_integral_value():
                return str(int(d))
    except (InvalidOperation, ValueError):
        pass
    return _raw(v)


_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


def _bool(v: Any) -> str:
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, int | float):
        return "t" if v else "f"
    text = str(v).strip().lower()
    if text in _TRUE:
        return "t"
    if text in _FALSE:
        return "f"
    return _raw(v)


def _ts(v: Any) -> str:
    if type(v) is str and (CANON_TS.match(v) or PG_ONLY_TS.match(v)):
        return v
    if type(v) is int:  # Unix milliseconds (Prisma's SQLite DateTime), as their copy holds
        return ms_time(v) or _raw(v)
    dt = parse_dt(v)
    if dt is None:
        return _raw(v)
    return fmt_dt(utc_wall_clock(dt))


def _tstz(v: Any) -> str:
    if type(v) is str and (CANON_TS.match(v) or PG_ONLY_TS.match(v)):
        return v  # naive text is read in the session's zone: UTC
    if type(v) is int:
        return ms_time(v) or _raw(v)
    dt = parse_dt(v)
    if dt is None:
        return _raw(v)
    if dt.tzinfo is not None:  # a naive value is read in the session's zone: UTC
        try:
            dt = dt.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01 00:00:00+07:00 is a time BC in UTC
            return _raw(v)
    return fmt_dt(dt)


def _date(v: Any) -> str:
    if type(v) is str and (CANON_DATE.match(v) or PG_ONLY_DATE.match(v)):
        return v
    if type(v) is str and (read := pg_read_time(v)) is not None:
        return read[0].isoformat()  # a date takes the day as written (24:00:00 too)
    dt = parse_dt(v)
    # isoformat, not strftime: strftime's %Y writes year 1 as '1', not '0001'.
    return _raw(v) if dt is None else dt.date().isoformat()


def _time(v: Any) -> str:
    if isinstance(v, time):
        tod = ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
    else:
        found = pg_read_tod(v) if type(v) is str else None
        if found is None:
            return _raw(v)
        tod = found
    seconds, usec = divmod(tod, 1_000_000)
    minutes, sec = divmod(seconds, 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}:{sec:02d}"  # 24:00:00 as PostgreSQL
    return f"{text}.{usec:06d}".rstrip("0") if usec else text


def _float(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _raw(v)
    return struct.pack(">d", f).hex()


def _numeric(v: Any) -> str:
    try:
        d = Decimal(str(v).strip()) if not isinstance(v, Decimal) else v
    except InvalidOperation:
        return _raw(v)
    if d.is_nan():
        return "NaN"
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


def _bytes(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    return str(v).encode().hex()


def _json(v: Any) -> str:
    try:
        obj = (
            json.loads(v, parse_float=Decimal, parse_int=Decimal)
            if isinstance(v, str | bytes)
            else v
        )
        return _json_text(obj)
    except (TypeError, ValueError, InvalidOperation):
        return _raw(v)


def _json_text(obj: Any) -> str:
    """A JSON value with its keys sorted and each number by its value: jsonb keeps `1e2` as
    `100` (and json as written), so a number's spelling is no difference, its value is."""
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_json_text(k)}:{_json_text(obj[k])}" for k in sorted(obj)) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(map(_json_text, obj)) + "]"
    if isinstance(obj, int | float | Decimal) and not isinstance(obj, bool):
        d = obj if isinstance(obj, Decimal) else Decimal(repr(obj))
        if not d.is_finite():
            raise ValueError("not a JSON number")
        return "0" if d == 0 else str(d.normalize())
    return json.dumps(obj, ensure_ascii=False)


def _uuid(v: Any) -> str:
    return str(v).strip().lower()


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        # A BLOB SQLite keeps in a text column (bytes an application bound for a name): as a
        # PostgreSQL copy holds it, bytea's text (``\x`` and its hex), what its COPY wrote.
        # Its UTF-8 reading was compared with that text: the first sync verified, each one
        # after said the row different (exit 1), and `sync verify` equal.
        return "\\x" + bytes(v).hex()
    return str(v)


_NORMALIZERS: dict[str, Normalizer] = {
    "int": _int, "bool": _bool, "ts": _ts, "tstz": _tstz, "date": _date, "time": _time,
    "float": _float, "numeric": _numeric, "bytes": _bytes, "json": _json, "uuid": _uuid,
    "text": _text,
}  # fmt: skip


def normalizer(kind: str) -> Normalizer:
    """The function writing a non-NULL value of ``kind`` in its normal form."""
    return _NORMALIZERS.get(kind, _text)


_FAST_TS = (
    "v{i} if type(v{i}) is str and len(v{i}) == 19 and v{i}[10] == ' ' and v{i}[17] < '6'"
    " and (v{i}[11] < '2' or v{i}[12] < '4') else n{i}(v{i})"
)
# The common Python type of each kind, written without a function call (the hash of every row
# of a table is computed here, so this is the hot loop); anything else goes to the normalizer.
_FAST: dict[str, str] = {
    "int": "str(v{i}) if type(v{i}) is int else n{i}(v{i})",
    "text": "v{i} if type(v{i}) is str else n{i}(v{i})",
    # 'YYYY-MM-DD HH:MM:SS' by its shape: text of that shape is kept as it is on either side
    # (PostgreSQL would refuse one that is not a time, so nothing can hide behind it) — but a
    # leap second (:60) or 24:00:00, which PostgreSQL stores as the next minute or day.
    "ts": _FAST_TS,
    "tstz": _FAST_TS,
    "date": "v{i} if type(v{i}) is str and len(v{i}) == 10 and v{i}[4] == '-' else n{i}(v{i})",
    "float": "pack(v{i}).hex() if type(v{i}) is float else n{i}(v{i})",
    "bytes": "v{i}.hex() if type(v{i}) is bytes else n{i}(v{i})",
    "bool": "('t' if v{i} else 'f') if type(v{i}) is bool or type(v{i}) is int else n{i}(v{i})",
}


def row_hasher(kinds: Sequence[str]) -> Callable[[Sequence[Any]], int]:
    """A function from a row to its 64-bit signed hash (the first 8 bytes of the md5 of its
    normal form); the same number PostgreSQL computes with :func:`pg_row_hash_sql`.

    The function is generated for the kinds (as :func:`collections.namedtuple` generates its
    classes): only column indexes go into its text, never a name or a value."""
    n = len(kinds)
    names = ", ".join(f"v{i}" for i in range(n))
    exprs = [_FAST.get(k, "n{i}(v{i})").format(i=i) for i, k in enumerate(kinds)]
    fields = "|".join(
        f"{{'N' if v{i} is None else f'{{len((s{i} := ({e})))}}:{{s{i}}}'}}"
        if k in PREFIXED
        else f"{{'N' if v{i} is None else ({e})}}"
        for i, (k, e) in enumerate(zip(kinds, exprs, strict=True))
    )
    source = (
        "def row_hash(row):\n"
        f"    {names}, = row\n"
        '    digest = md5(f"' + fields + '".encode()).digest()\n'
        "    return from_bytes(digest[:8], 'big', signed=True)\n"
    )
    namespace: dict[str, Any] = {
        "md5": hashlib.md5,
        "from_bytes": int.from_bytes,
        "pack": struct.Struct(">d").pack,
        **{f"n{i}": normalizer(k) for i, k in enumerate(kinds)},
    }
    exec(source, namespace)  # generated from column indexes only
    fn: Callable[[Sequence[Any]], int] = namespace["row_hash"]
    return fn


def hash_fields(fields: Sequence[str | None], kinds: Sequence[str]) -> int:
    """The hash :func:`row_hasher` gives a row whose values' normal forms are ``fields``
    (None: NULL)."""
    text = "|".join(
        "N" if f is None else f"{len(f)}:{f}" if k in PREFIXED else f
        for f, k in zip(fields, kinds, strict=True)
    )
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big", signed=True)


def key_normalizer(kinds: Sequence[str]) -> Callable[[Sequence[Any]], tuple[str | None, ...]]:
    """Keys in normal form, so keys read from the two sides can be matched."""
    norms = [normalizer(k) for k in kinds]

    def norm(key: Sequence[Any]) -> tuple[str | None, ...]:
        return tuple(None if v is None else f(v) for v, f in zip(key, norms, strict=True))

    return norm


# -- PostgreSQL normal form -------------------------------------------------------------------

# With DateStyle ISO (set by the PostgreSQL side), timestamps print as the normal form does:
# ``YYYY-MM-DD HH:MM:SS`` and a fraction without trailing zeros (and ::text is cheaper than
# to_char by half).
_PG_TEXT: dict[str, str] = {
    "int": "{c}::text",
    "bool": "CASE WHEN {c} THEN 't' WHEN NOT {c} THEN 'f' END",
    "ts": "{c}::text",
    "tstz": "({c} AT TIME ZONE 'UTC')::text",
    "date": "{c}::text",
    "time": "{c}::text",
    "float": "encode(float8send({c}::float8), 'hex')",
    "numeric": "CASE WHEN {c} = 0 THEN '0' ELSE trim_scale({c})::text END",
    "bytes": "encode({c}, 'hex')",
    "uuid": "lower({c}::text)",
    "text": "{c}::text",
}


def pg_text_sql(expr: str, kind: str) -> str:
    """SQL for the normal form of the non-NULL value of ``expr`` (``N`` aside)."""
    return _PG_TEXT[kind].format(c=expr)


def pg_field_sql(quoted_column: str, kind: str) -> str:
    """SQL for one field of the normal form (``N``, the text, or ``len:text``)."""
    text = _PG_TEXT[kind].format(c=quoted_column)
    if kind not in PREFIXED:
        return f"coalesce({text}, 'N')"
    return (
        f"CASE WHEN {quoted_column} IS NULL THEN 'N' ELSE length({text})::text || ':' || {text} END"
    )


def pg_row_hash_sql(quoted_columns: Sequence[str], kinds: Sequence[str]) -> str:
    """SQL for a row's 64-bit signed hash (same as :func:`row_hasher`)."""
    fields = " || '|' || ".join(
        pg_field_sql(c, k) for c, k in zip(quoted_columns, kinds, strict=True)
    )
    return f"('x' || substr(md5({fields}), 1, 16))::bit(64)::bigint"


# -- values for the destination ---------------------------------------------------------------


def to_postgres(kinds: Sequence[str]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """Converts a row read from any side into values PostgreSQL's COPY takes for the kinds."""

    def conv(kind: str) -> Callable[[Any], Any] | None:
        # Booleans need nothing: COPY's text reads SQLite's 1/0 and 't', 'yes', 'on'… as
        # boolean, exactly the words the normal form accepts.
        if kind == "bytes":
            return lambda v: v if isinstance(v, bytes) else str(v).encode()
        if kind == "json":
            return lambda v: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        if kind == "ts":
            return ts_for_postgres
        if kind == "tstz":  # Unix milliseconds as their UTC time, as into a timestamp
            return lambda v: (ms_time(v) or v) if type(v) is int else v
        # Text, numbers and other datetimes go through COPY as they are (PostgreSQL parses
        # them).
        return None

    return _row_converter([conv(k) for k in kinds])


def to_sqlite(kinds: Sequence[str]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """Converts a row read from any side into values SQLite (and D1) store for the kinds."""

    def conv(kind: str) -> Callable[[Any], Any] | None:
        if kind == "bool":
            return lambda v: (1 if v else 0) if isinstance(v, bool) else v
        if kind in ("ts", "tstz"):
            f = _ts if kind == "ts" else _tstz
            return lambda v: f(v) if isinstance(v, datetime) else v
        if kind == "date":
            return lambda v: v.isoformat() if isinstance(v, date) else v
        if kind == "time":
            return lambda v: _time(v) if isinstance(v, time) else v
        if kind == "numeric":
            return lambda v: _numeric(v) if isinstance(v, Decimal) else v
        if kind == "json":
            return lambda v: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        if kind == "uuid":
            return lambda v: v if isinstance(v, str) else str(v)
        return None

    return _row_converter([conv(k) for k in kinds])


def sqlite_param(value: Any) -> Any:
    """A key value read from PostgreSQL as a parameter for SQLite or D1, spelt as
    :func:`to_sqlite` stored it (a UUID as its text, a NUMERIC as its normal form): a key range
    or a key list of another side is asked of a SQLite-dialect side by these values."""
    if value is None or isinstance(value, int | str | float | bytes):
        return value  # the usual key, as it is
    from uuid import UUID  # here: the module is slow to import (psycopg defers it too)

    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return _numeric(value)
    # A date or time key (a log keyed by its timestamp): its text (D1's JSON has no such
    # value — a traceback —, and SQLite's default adapter spells a fraction otherwise).
    if isinstance(value, datetime):
        return _tstz(value) if value.tzinfo is not None else _ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return _time(value)
    return value


def _row_converter(
    convs: Sequence[Callable[[Any], Any] | None],
) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    active = [(i, c) for i, c in enumerate(convs) if c is not None]
    if not active:
        return tuple

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        out = list(row)
        for i, c in active:
            v = out[i]
            if v is not None:
                out[i] = c(v)
        return tuple(out)

    return convert
