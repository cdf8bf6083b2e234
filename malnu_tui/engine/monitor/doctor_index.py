"""``doctor``'s "audit index" check: the audit table's indexes (base.AUDIT_INDEX,
AUDIT_OBJECT_INDEX, AUDIT_OUTCOME_INDEX) missing, or made empty (``WHERE 0`` on SQLite/D1 when
D1 stopped the build at its 30 s, ``WHERE false`` on PostgreSQL when statement_timeout did),
or left invalid by a ``CREATE INDEX CONCURRENTLY`` that failed. The command that left one so
said it once, as a warning, and nothing said it again while ``check``'s lookups of the sync
pairs that never completed read the whole trail. One catalog read; a warning (it only slows
``check``), with the statements that build them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.base import AUDIT_TABLE

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

__all__ = ["audit_index_state"]

# Each index and its columns (the same as sqlite_sql's and pg_schema's CREATEs).
_COLUMNS = {
    "malnu_audit_action_id": "action, id",
    "malnu_audit_action_object_id": "action, object, id",
    "malnu_audit_action_object_outcome_id": "action, object, outcome, id",
}


def _sqlite_like(backend: Backend) -> dict[str, str] | None:
    """{index: "empty"/"missing"} on SQLite or D1; None without the audit table."""
    names = ", ".join(f"'{n}'" for n in (AUDIT_TABLE, *_COLUMNS))
    sql = f"SELECT type, name, sql FROM sqlite_master WHERE name IN ({names})"
    if backend.kind == "sqlite":
        rows = [tuple(r) for r in backend.conn.execute(sql).fetchall()]  # type: ignore[attr-defined]
    else:
        d1: Any = backend
        rows = [(r["type"], r["name"], r["sql"]) for r in d1.query(sql)]
    have = {str(name): str(create or "") for _t, name, create in rows}
    if AUDIT_TABLE not in have:
        return None
    out = {}
    for name in _COLUMNS:
        if name not in have:
            out[name] = "missing"
        elif " WHERE " in have[name].upper():  # (sqlite_sql.empty_audit_index: WHERE 0)
            out[name] = "empty"
    return out


def _postgresql(backend: Backend) -> dict[str, str] | None:
    """{index: "empty"/"invalid"/"missing"} on PostgreSQL; None without the audit table."""
    conn: Any = backend.conn  # type: ignore[attr-defined]
    schema = str(getattr(backend, "schema", "public"))
    table = conn.execute(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (schema, AUDIT_TABLE),
    ).fetchone()
    if table is None:
        return None
    rows = conn.execute(
        "SELECT i.relname, x.indpred IS NOT NULL, x.indisvalid FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s AND i.relname = ANY(%s)",
        (table[0], list(_COLUMNS)),
    ).fetchall()
    have = {
        str(name): ("empty" if partial else "" if valid else "invalid")
        for name, partial, valid in rows
    }
    return {n: have.get(n, "missing") for n in _COLUMNS if have.get(n, "missing")}


def _fix(backend: Backend, bad: dict[str, str]) -> str:
    """The statements that build the ``bad`` indexes, as the table's owner."""
    if backend.kind == "postgresql":
        from malnu_tui.engine.backends.pg_session import sql_name

        schema = sql_name(str(getattr(backend, "schema", "public")))
        steps = [f"DROP INDEX {schema}.{n};" for n, s in bad.items() if s != "missing"]
        steps.append("SET statement_timeout = 0;")
        steps += [
            f"CREATE INDEX CONCURRENTLY {n} ON {schema}.{AUDIT_TABLE} ({_COLUMNS[n]});" for n in bad
        ]
        return "as the table's owner (psql): " + " ".join(steps)
    steps = [f"DROP INDEX {n};" for n, s in bad.items() if s != "missing"]
    steps += [f"CREATE INDEX IF NOT EXISTS {n} ON {AUDIT_TABLE} ({_COLUMNS[n]});" for n in bad]
    fix = " ".join(steps)
    if backend.kind == "d1":
        return (
            f"{fix} (D1 stops a build past its 30 s and the next command makes it empty "
            "again: on a long trail delete old rows of malnu_audit in ranges of ids first)"
        )
    return fix


def audit_index_state(backend: Backend) -> tuple[str, str] | None:
    """(detail, fix) when an audit index is missing, empty or invalid; ("all N …", "") when
    all are in place; None when the target has no audit table (not initialised)."""
    bad = _postgresql(backend) if backend.kind == "postgresql" else _sqlite_like(backend)
    if bad is None:
        return None
    if not bad:
        return f"the {len(_COLUMNS)} indexes of {AUDIT_TABLE} are in place", ""
    said = ", ".join(
        f"{n} {'made empty (the build stopped at a timeout)' if s == 'empty' else s}"
        for n, s in bad.items()
    )
    detail = (
        f"{said}: `check` reads {AUDIT_TABLE} without it, slower on a long trail (each sync "
        "pair that never ran or never completed is a walk of every run row)"
    )
    return detail, _fix(backend, bad)
