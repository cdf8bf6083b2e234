"""What may not run in a scratch schema of a LIVE PostgreSQL database (``test`` on a target's
own database): a statement that names one of its schemas.

``search_path`` keeps a migration's unqualified names in the scratch, and the whole stairway is
rolled back, but a schema-qualified name (``public.students``: pg_dump's and Supabase's files
write them so), ``… SCHEMA public``, a ``search_path`` set to a live schema, or a
``'public.x_id_seq'`` handed to ``nextval``/``setval``/``::regclass`` reaches the live objects:
their locks are held until the stairway ends (production waits), sequences move for good. Such
a set is refused before anything runs, naming the file and line; ``--postgres`` a throwaway
server tests it. A call of a function that cannot write (Supabase's ``auth.uid()`` in a policy,
``extensions.uuid_generate_v4()`` in a default) reaches nothing live, and is let through.
Read from the statements' text only: comments and string literals are not code (a string
holding exactly ``schema.name`` excepted), dollar-quoted bodies are (a ``DO`` block runs at
once).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "LiveReach",
    "database_schemas",
    "first_live_reach",
    "is_managed",
    "live_reach_of",
    "names_objects_in",
    "path_schemas",
]

# The database's own schemas: not the system's, not the tool's scratch schemas.
_SCHEMAS = (
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
    "AND nspname <> 'information_schema' AND nspname NOT LIKE 'malnu\\_stairway\\_%' "
    "AND nspname NOT LIKE 'malnu\\_scratch\\_%'"
)


def database_schemas(conn: Any) -> set[str]:
    """The schemas of the database ``conn`` (a psycopg connection) is on, by catalog name."""
    return {str(r[0]) for r in conn.execute(_SCHEMAS).fetchall()}


# Functions of the database's schemas that a statement may call by their qualified name
# without reaching live data: STABLE or IMMUTABLE ones (PostgreSQL refuses a write in them:
# Supabase's auth.uid(), auth.jwt()), and those of an extension that has no table or sequence
# (uuid-ossp's extensions.uuid_generate_v4(), pgcrypto's gen_random_bytes(); not pg_cron's
# cron.schedule(), which inserts into cron.job). Every function of that name must be so.
_CALLABLE = f"""
    SELECT n.nspname || '.' || p.proname
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    LEFT JOIN pg_depend e ON e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                          AND e.deptype = 'e'
    WHERE n.nspname IN ({_SCHEMAS})
    GROUP BY n.nspname, p.proname
    HAVING bool_and(p.provolatile <> 'v' OR (
        e.refobjid IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM pg_depend r WHERE r.refclassid = 'pg_extension'::regclass
            AND r.refobjid = e.refobjid AND r.classid = 'pg_class'::regclass
            AND r.deptype = 'e')))"""


def live_reach_of(files: Iterable[tuple[str, Sequence[Statement]]], conn: Any) -> LiveReach | None:
    """:func:`first_live_reach` of ``files`` against the database ``conn`` is on: its schemas,
    and the functions there that a call reaches no live data through."""
    calls = {str(r[0]) for r in conn.execute(_CALLABLE).fetchall()}
    return first_live_reach(files, database_schemas(conn), calls)


# The schemas of the session's search path that hold no table, view or sequence of their own
# (only an extension's, as Supabase's `extensions` with uuid-ossp and pg_stat_statements), in
# path order: a scratch on a live database may look there, so that `uuid_generate_v4()` is
# found as `up` finds it, and still reaches no live table by an unqualified name.
_EXTENSION_ONLY_PATH = """
    SELECT quote_ident(p.s) FROM unnest(current_schemas(false)) WITH ORDINALITY AS p(s, i)
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = p.s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e'))
    ORDER BY p.i"""


def extension_only_path(conn: Any) -> str:
    """The search path's schemas that hold only extensions' objects, as ``"a", "b"`` ("" for
    none): what a scratch on a live database may add after its own schema."""
    return ", ".join(str(r[0]) for r in conn.execute(_EXTENSION_ONLY_PATH).fetchall())


def path_schemas(conn: Any) -> set[str]:
    """The schemas of the session's search path that exist (``public`` for ``"$user",
    public``): where a bare name of a file lands, and is found, when ``up`` runs it."""
    return {str(r[0]) for r in conn.execute("SELECT unnest(current_schemas(false))").fetchall()}


def is_managed(conn: Any) -> bool:
    """Whether the tool manages that database (its audit table is there): live data, whatever
    the URL it was reached by."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'malnu_audit')")
    return bool(row.fetchone()[0])


_TOKEN = re.compile(
    r"(?P<comment>--[^\n]*|/\*.*?\*/)"
    r"|(?P<estr>(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*')"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<qid>\"(?:[^\"]|\"\")*\")"
    r"|(?P<dollar>\$(?:[A-Za-z_]\w*)?\$)"
    r"|(?P<word>[A-Za-z_][\w$]*)"
    r"|(?P<dot>\.)"
    r"|(?P<punct>[^\s])",
    re.DOTALL,
)
_QUALIFIED_TEXT = re.compile(r'\s*("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s*\.\s*\S')


@dataclass(frozen=True)
class LiveReach:
    """The first statement that would reach a live schema: where, and what it names."""

    file: str
    line: int
    what: str  # e.g. "public.students", "SCHEMA public", "search_path public"


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Tok]:
    return [
        _Tok(m.lastgroup or "", m.group(), m.start())
        for m in _TOKEN.finditer(text)
        if m.lastgroup not in ("comment", "dollar")
    ]


def _name(tok: _Tok) -> str | None:
    """The catalog name a word or quoted-name token stands for."""
    if tok.kind == "word":
        return tok.text.lower()
    if tok.kind == "qid":
        return tok.text[1:-1].replace('""', '"')
    return None


def _string(tok: _Tok) -> str | None:
    if tok.kind == "str":
        return tok.text[1:-1].replace("''", "'")
    if tok.kind == "estr":
        return tok.text[2:-1]
    return None


def _reach(st: Statement, live: set[str], calls: set[str]) -> tuple[int, str] | None:
    toks = _tokens(st.text)
    first = _name(toks[0]) if toks else None
    for k, tok in enumerate(toks):
        name = _name(tok)
        if name in live:
            before = toks[k - 1] if k else None
            after = toks[k + 1] if k + 1 < len(toks) else None
            if (
                after is not None
                and after.kind == "dot"
                and (before is None or before.kind != "dot")
            ):
                nxt = toks[k + 2] if k + 2 < len(toks) else None
                if _is_call(toks, k, calls):
                    continue
                shown = f"{tok.text}.{nxt.text}" if nxt is not None else f"{tok.text}."
                return tok.at, shown
            if before is not None and _name(before) == "schema":
                return tok.at, f"SCHEMA {tok.text}"
            if first == "set" and any(_name(t) == "search_path" for t in toks[:k]):
                return tok.at, f"search_path … {tok.text}"  # SET search_path TO "$user", public
        text = _string(tok)
        if text is None:
            continue
        m = _QUALIFIED_TEXT.match(text)
        if m and _name(_Tok("qid" if m[1].startswith('"') else "word", m[1], 0)) in live:
            return tok.at, text.strip()  # 'public.students_id_seq' for nextval/setval/regclass
        if text == "search_path" and k >= 2 and _name(toks[k - 2]) == "set_config":
            value = _string(toks[k + 2]) if k + 2 < len(toks) else None
            for part in (value or "").split(","):
                part = part.strip()
                bare = part[1:-1] if part.startswith('"') else part.lower()
                if bare in live:
                    return tok.at, f"search_path … {part}"
    return None


def _is_call(toks: Sequence[_Tok], k: int, calls: set[str]) -> bool:
    """Whether ``toks[k]`` starts a call of one of ``calls`` (``auth.uid()``), not its
    definition or any other mention (``CREATE OR REPLACE FUNCTION auth.uid()``, ``GRANT
    EXECUTE ON FUNCTION …``, ``DROP ROUTINE …``)."""
    if k + 3 >= len(toks) or toks[k + 3].text != "(":
        return False
    if k and _name(toks[k - 1]) in ("function", "procedure", "routine"):
        return False
    return f"{_name(toks[k])}.{_name(toks[k + 2])}" in calls


def names_objects_in(files: Iterable[tuple[str, Sequence[Statement]]], schemas: set[str]) -> bool:
    """Whether a statement of ``files`` names an object of one of ``schemas`` by its
    qualified name (``public.todos``, ``"public"."users"``, ``'public.t_id_seq'``); a ``SCHEMA
    public`` or a ``search_path`` alone does not count."""
    for _file, statements in files:
        for st in statements:
            toks = _tokens(st.text)
            for k, tok in enumerate(toks):
                dotted = k + 1 < len(toks) and toks[k + 1].kind == "dot"
                if dotted and _name(tok) in schemas and (not k or toks[k - 1].kind != "dot"):
                    return True
                text = _string(tok)
                m = _QUALIFIED_TEXT.match(text) if text is not None else None
                if m and _name(_Tok("qid" if m[1].startswith('"') else "word", m[1], 0)) in schemas:
                    return True
    return False


def first_live_reach(
    files: Iterable[tuple[str, Sequence[Statement]]], live: set[str], calls: set[str]
) -> LiveReach | None:
    """The first statement of ``files`` (name, statements) that names one of the ``live``
    schemas (catalog names), or None; a call of one of ``calls`` (``schema.function``) does
    not count."""
    for file, statements in files:
        for st in statements:
            found = _reach(st, live, calls)
            if found is not None:
                at, what = found
                return LiveReach(file, st.line + st.text.count("\n", 0, at), what)
    return None
