"""SQLite functions with no faithful PostgreSQL form, and why (each becomes an error finding
and the statement is withheld), by name (sqlglot's anonymous calls) or by node class (calls
sqlglot parses into a node of its own, which it would write out under a PostgreSQL name that
means something else, or that PostgreSQL does not have)."""

from __future__ import annotations

from sqlglot import exp

__all__ = ["HINTS", "NO_EQUIVALENT", "TYPED_NODES", "TYPED_NO_EQUIVALENT", "typed_reason"]

# SQLite's planner hints, and their number of arguments: the value of the first is returned.
HINTS = {"LIKELY": 1, "UNLIKELY": 1, "LIKELIHOOD": 2}

_JSON_TEXT = (
    'SQLite writes JSON text minified, keys in their order ({"a":1}); PostgreSQL\'s json '
    'functions write other text ({"a" : 1}; jsonb sorts the keys), which reports and '
    "comparisons read"
)
_JSON_EDIT = (
    "SQLite edits JSON text by a '$.a' path and writes it back minified; PostgreSQL's "
    "jsonb_set / #- / || take text[] paths and write jsonb's own text"
)
_JSON_BLOB = "SQLite's binary JSONB (a BLOB, SQLite 3.45+) has no PostgreSQL form"

NO_EQUIVALENT: dict[str, tuple[str, str]] = {
    "LAST_INSERT_ROWID": ("there is no session rowid in PostgreSQL", "use INSERT … RETURNING"),
    "CHANGES": ("no PostgreSQL function counts the last statement's rows", "use RETURNING"),
    "TOTAL_CHANGES": ("no PostgreSQL equivalent", ""),
    "TYPEOF": ("SQLite's storage classes do not exist in PostgreSQL", "use pg_typeof()"),
    "RANDOMBLOB": ("no PostgreSQL equivalent without pgcrypto", "use gen_random_bytes()"),
    "ZEROBLOB": ("no PostgreSQL equivalent", "use decode(repeat('00', n), 'hex')"),
    "QUOTE": ("SQLite literal quoting differs", "use quote_literal()"),
    "PRINTF": ("printf formats differ", "use format() by hand"),
    "FORMAT": ("printf formats differ", "use format() by hand"),
    "HEX": ("no hex() in PostgreSQL", "use encode(x, 'hex')"),
    "UNHEX": ("no unhex() in PostgreSQL", "use decode(x, 'hex')"),
    "TOTAL": ("total() over a window (0.0 where sum() is NULL)", "coalesce(sum(x) OVER …, 0)"),
    "RAISE": ("RAISE() exists only inside SQLite triggers", ""),
    "JSON": ("SQLite's json() minifies text", "cast to json/jsonb"),
    "JSONB": (_JSON_BLOB, "keep JSON as text, or a jsonb column by hand"),
    "JSON_ARRAY": (_JSON_TEXT, "jsonb_build_array() by hand, if the text need not be SQLite's"),
    "JSONB_ARRAY": (_JSON_BLOB, "jsonb_build_array() by hand"),
    "JSONB_OBJECT": (_JSON_BLOB, "jsonb_build_object() by hand"),
    "JSONB_GROUP_ARRAY": (_JSON_BLOB, "jsonb_agg() by hand"),
    "JSONB_GROUP_OBJECT": (_JSON_BLOB, "jsonb_object_agg() by hand"),
    "JSON_QUOTE": (_JSON_TEXT, "to_json(x)::text by hand"),
    "JSON_INSERT": (_JSON_EDIT, "jsonb_set(…, create_if_missing) by hand"),
    "JSON_REPLACE": (_JSON_EDIT, "jsonb_set() by hand"),
    "JSON_PATCH": (_JSON_EDIT, "jsonb || jsonb by hand (it merges one level only)"),
    "JSONB_SET": (_JSON_BLOB, "jsonb_set() by hand"),
    "JSONB_INSERT": (_JSON_BLOB, "jsonb_set() by hand"),
    "JSONB_REPLACE": (_JSON_BLOB, "jsonb_set() by hand"),
    "JSONB_REMOVE": (_JSON_BLOB, "jsonb #- text[] by hand"),
    "JSONB_PATCH": (_JSON_BLOB, "jsonb || jsonb by hand"),
    "JSON_EACH": (
        "a table-valued function whose columns (key, value, type, atom, id, parent, fullkey, "
        "path) and their SQL types PostgreSQL's jsonb_each / jsonb_array_elements do not give",
        "jsonb_each() / jsonb_array_elements() by hand",
    ),
    "JSON_TREE": (
        "a table-valued function walking the whole JSON tree; PostgreSQL has none",
        "a recursive query over jsonb_each() by hand",
    ),
    "JSON_ARRAY_LENGTH": (
        "SQLite gives 0 for a value that is no array, PostgreSQL's jsonb_array_length raises",
        "jsonb_array_length() by hand where the value is always an array",
    ),
    "JSON_VALID": (
        "outside a CHECK a cast to json raises where SQLite's json_valid() returns 0 (IS JSON "
        "needs PostgreSQL 16)",
        "x IS JSON on PostgreSQL 16+, by hand",
    ),
    "JSON_ERROR_POSITION": ("PostgreSQL reports no position of a JSON error", ""),
}

# Calls sqlglot reads into nodes of their own, by class name.
TYPED_NO_EQUIVALENT: dict[str, tuple[str, str, str]] = {
    "JSONObject": ("json_object()", _JSON_TEXT, "jsonb_build_object() by hand"),
    "JSONArrayAgg": (
        "json_group_array()",
        _JSON_TEXT + "; json_agg() of no rows is NULL where SQLite gives '[]'",
        "coalesce(jsonb_agg(x), '[]') by hand",
    ),
    "JSONObjectAgg": (
        "json_group_object()",
        _JSON_TEXT + "; json_object_agg() of no rows is NULL where SQLite gives '{}'",
        "coalesce(jsonb_object_agg(k, v), '{}') by hand",
    ),
    "JSONSet": ("json_set()", _JSON_EDIT, "jsonb_set() by hand"),
    "JSONRemove": ("json_remove()", _JSON_EDIT, "jsonb #- text[] by hand"),
    "JSONType": (
        "json_type()",
        "SQLite's type names ('integer', 'real', 'true', 'text'…) are not jsonb_typeof's "
        "('number', 'boolean', 'string'…)",
        "jsonb_typeof() by hand",
    ),
    "JSONBExtract": ("jsonb_extract()", _JSON_BLOB, "CAST(x AS JSONB) -> 'key' by hand"),
    # (Format: what patterns.printf_format cannot write as text; listed to be gathered.)
    "Format": (
        "format() / printf()",
        "printf's %d, %5.2f, %x… are not PostgreSQL format()'s (%s, %I, %L only), and "
        "format() fails only when the view or statement is run",
        "to_char() / lpad() by hand",
    ),
    "LowerHex": (
        "lower(hex())",
        "no hex() in PostgreSQL (encode(x, 'hex') takes bytea)",
        "encode(convert_to(x, 'UTF8'), 'hex') by hand",
    ),
    "Hex": (
        "hex()",
        "no hex() in PostgreSQL (encode(x, 'hex') takes bytea and writes lower case)",
        "upper(encode(convert_to(x, 'UTF8'), 'hex')) by hand",
    ),
}


_EXTRACTS = ("JSONExtract", "JSONExtractScalar")  # (translated where exact: jsonvalues.py)


def _typed(name: str) -> bool:
    return name not in _EXTRACTS and (name in TYPED_NO_EQUIVALENT or name.startswith("JSON"))


# The node classes of those calls (for the walk that gathers the calls to rewrite).
TYPED_NODES: tuple[type[exp.Func], ...] = tuple(
    cls
    for name, cls in vars(exp).items()
    if isinstance(cls, type) and issubclass(cls, exp.Func) and _typed(name)
)


def _random_bytes(node: exp.Expr) -> bool:
    """hex(randomblob(n)) that is no random id: the finding names randomblob()."""
    inner = node.this if isinstance(node, exp.Hex) else None
    return isinstance(inner, exp.Anonymous) and str(inner.this).upper() == "RANDOMBLOB"


def typed_reason(node: exp.Expr) -> tuple[str, str, str] | None:
    """Why a call sqlglot read into ``node``'s class has no faithful PostgreSQL form, or None
    (any other JSON function node too: sqlglot would write SQLite's call out as is, or under
    another dialect's name)."""
    name = type(node).__name__
    if not _typed(name) or _random_bytes(node):
        return None
    found = TYPED_NO_EQUIVALENT.get(name)
    if found is None:
        found = (f"{name} (a JSON function)", _JSON_TEXT, "write the PostgreSQL by hand")
    return found
