"""Statement rewrites: CREATE TABLE (column types, identities, defaults, references) and
INSERT (conflict resolution, booleans, identity sequences)."""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

from malnu_tui.engine.translate.columnvalues import (
    DT_TAG,
    KEEP_INTEGER,
    as_sqlite_text,
    bool_literal,
    strftime_default,
    text_columns,
)
from malnu_tui.engine.translate.common import (
    POSTGRES,
    Context,
    as_template,
    lit,
    normalise_identifiers,
    pg_expr,
    pg_sql,
    plain_index_order,
    table_name,
)
from malnu_tui.engine.translate.expressions import DATE_FUNCS
from malnu_tui.engine.translate.functions import Untranslatable
from malnu_tui.engine.translate.keys import rewrite_foreign_keys
from malnu_tui.engine.translate.schema import ColumnInfo, SchemaState
from malnu_tui.engine.translate.triggers import pg_ident
from malnu_tui.engine.translate.truth import stored_truth, truth_value, update_truths
from malnu_tui.engine.translate.types import map_type

__all__ = [
    "insert_text_datetimes",
    "listed_columns",
    "rewrite_column",
    "rewrite_create_table",
    "rewrite_insert",
]


def listed_columns(tree: exp.Insert) -> list[str]:
    """The column list an INSERT names (``INSERT INTO t (a, b)``), or [] when it names none."""
    target = tree.this
    if not isinstance(target, exp.Schema):
        return []
    return [str(i.name) for i in target.expressions if isinstance(i, _NAMED)]


_NAMED = (exp.Identifier, exp.Column)


def insert_text_datetimes(tree: exp.Insert, state: SchemaState) -> bool:
    """Date/time values inserted into TEXT columns in SQLite's text form; True when one was
    replaced."""
    table = table_name(tree.this)
    values = tree.expression
    if table is None or not isinstance(values, exp.Values):
        return False
    listed = listed_columns(tree)
    cols = listed or [c.name for c in state.columns(table) if c.hidden == 0]
    text = text_columns([table], state)
    done = False
    for row in values.expressions:
        if not isinstance(row, exp.Tuple):
            continue
        for i, item in enumerate(list(row.expressions)):
            if i < len(cols) and cols[i].lower() in text and DT_TAG in (item.meta or {}):
                item.replace(as_sqlite_text(item))
                done = True
    return done


# -- statement kinds --------------------------------------------------------------------------
def _text_default(kind: str) -> exp.Expr:
    fmt = {"ts": "YYYY-MM-DD HH24:MI:SS", "date": "YYYY-MM-DD", "time": "HH24:MI:SS"}[kind]
    return pg_expr(f"TO_CHAR(now() AT TIME ZONE 'UTC', '{fmt}')")


@functools.lru_cache(maxsize=256)
def _parsed_type(pg_type: str) -> exp.DataType:
    return exp.DataType.build(pg_type, dialect=POSTGRES)


def _data_type(pg_type: str) -> exp.DataType:
    parsed = _parsed_type(pg_type)
    if not parsed.expressions:  # a plain type: a new node is cheaper than a copy
        return exp.DataType(this=parsed.this, nested=False)
    return parsed.copy()


def rewrite_column(
    col: exp.ColumnDef,
    table: str,
    ctx: Context,
    table_pk: list[str] | None = None,
    by_name: dict[str, ColumnInfo] | None = None,
) -> None:
    """``by_name``: the table's columns by lower-cased name, when the caller has them."""
    name = str(col.name)
    if by_name is None:
        by_name = {c.name.lower(): c for c in ctx.state.columns(table)}
    info = by_name.get(name.lower())
    kind = col.args.get("kind")
    declared = info.declared if info is not None else (kind.sql() if kind is not None else "")
    mapping = map_type(declared)
    if mapping.postgres is None:
        raise Untranslatable(
            f"column {name}",
            mapping.note or "no type",
            "declare a type (SQLite accepts untyped columns, PostgreSQL does not)",
        )
    if mapping.note:
        ctx.note(f"column {name} type {declared}", mapping.note)
    pg_type = mapping.postgres
    col.set("kind", _data_type(pg_type))
    constraints: list[exp.ColumnConstraint] = []
    identity = ctx.state.is_rowid_alias(table, name)
    if identity:
        constraints.append(
            exp.ColumnConstraint(kind=exp.GeneratedAsIdentityColumnConstraint(this=False))
        )
    is_bool = pg_type == "BOOLEAN"
    is_text = pg_type == "TEXT" or pg_type.startswith("VARCHAR")
    given = col.args.get("constraints") or []
    # `endpoint TEXT NULL NOT NULL` (a D1 set's rebuild): SQLite lets NOT NULL win whatever the
    # order, PostgreSQL refused the pair ("conflicting NULL/NOT NULL declarations").
    not_null = any(_not_null(c.args.get("kind"), False) for c in given)
    for c in given:
        k = c.args.get("kind")
        if isinstance(k, exp.AutoIncrementColumnConstraint) or (not_null and _not_null(k, True)):
            continue
        if isinstance(k, exp.CollateColumnConstraint):
            coll = k.this.name.upper() if isinstance(k.this, exp.Column) else str(k.this).upper()
            if coll == "BINARY":
                continue
            raise Untranslatable(
                f"COLLATE {coll}",
                "PostgreSQL has no such collation: comparisons and UNIQUE would differ",
                "use citext, or a unique index on lower(column)",
            )
        if isinstance(k, exp.ComputedColumnConstraint) and not k.args.get("persisted"):
            k.set("persisted", True)
            ctx.note(f"column {name}", "a VIRTUAL generated column became STORED")
        if (
            isinstance(k, exp.ComputedColumnConstraint | exp.DefaultColumnConstraint)
            and not is_bool
            and truth_value(k.this)
            and not (pg_type in _INTEGER_TYPES and isinstance(k.this, exp.Boolean))
        ):
            stored_truth(k.this)  # (age >= 18): SQLite stores 1/0
        if isinstance(k, exp.DefaultColumnConstraint):
            value = k.this
            if isinstance(value, exp.Paren):
                value = value.this
            if is_bool and (b := bool_literal(value)) is not None:
                k.set("this", b)
            elif pg_type == "TIMESTAMPTZ" and isinstance(value, exp.CurrentTimestamp):
                k.set("this", exp.Anonymous(this="now", expressions=[]))  # an instant
            elif (cast := strftime_default(value, pg_type, name)) is not None:
                k.set("this", cast)
            elif pg_type in _INTEGER_TYPES and isinstance(value, exp.Boolean):
                k.set("this", exp.Literal.number(1 if value.this else 0))
                ctx.note(
                    f"column {name} DEFAULT {'true' if value.this else 'false'}",
                    f"became {1 if value.this else 0}: the column is an integer, and SQLite "
                    "stores true/false in it as 1/0",
                )
            elif is_text and isinstance(value, exp.CurrentTimestamp):
                k.set("this", _text_default("ts"))
            elif is_text and isinstance(value, exp.CurrentDate):
                k.set("this", _text_default("date"))
            elif is_text and isinstance(value, exp.CurrentTime):
                k.set("this", _text_default("time"))
            elif (
                is_text
                and isinstance(value, exp.Anonymous)
                and str(value.this).upper() in DATE_FUNCS
                and [lit(a) for a in value.expressions] in (["now"], [])
            ):
                kind_key = {"DATETIME": "ts", "DATE": "date", "TIME": "time"}
                k.set("this", _text_default(kind_key[str(value.this).upper()]))
        constraints.append(c)
    col.set("constraints", constraints)


def _not_null(kind: exp.Expr | None, allow_null: bool) -> bool:
    """``kind`` is NOT NULL (``allow_null`` False) or a plain NULL (True)."""
    return (
        isinstance(kind, exp.NotNullColumnConstraint)
        and bool(kind.args.get("allow_null")) is allow_null
    )


def rewrite_create_table(tree: exp.Create, ctx: Context) -> None:
    schema = tree.this
    props = tree.args.get("properties")
    if props is not None:
        kept = [p for p in props.expressions if not isinstance(p, exp.StrictProperty)]
        if len(kept) != len(props.expressions):
            ctx.note("STRICT", "dropped: PostgreSQL columns are always strictly typed")
        if kept:
            props.set("expressions", kept)
        else:
            tree.set("properties", None)
    if not isinstance(schema, exp.Schema):
        return  # CREATE TABLE … AS SELECT: types follow the query
    table = table_name(schema)
    if table is None:
        return
    rewrite_foreign_keys(schema, table, ctx)
    _unique_constraint_names(schema, table, ctx)
    by_name = {c.name.lower(): c for c in ctx.state.columns(table)}
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            rewrite_column(item, table, ctx, by_name=by_name)
        elif isinstance(item, exp.Identifier):
            raise Untranslatable(
                f"column {item.this}",
                "the column has no declared type",
                "declare a type (SQLite accepts untyped columns, PostgreSQL does not)",
            )


_INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT")
_INDEXED = (exp.PrimaryKey, exp.PrimaryKeyColumnConstraint, exp.UniqueColumnConstraint)


def _unique_constraint_names(schema: exp.Schema, table: str, ctx: Context) -> None:
    """A named PRIMARY KEY/UNIQUE constraint is an index in PostgreSQL, and index names are per
    schema there (SQLite's constraint names are per table): a name already used is renamed
    ``<table>_<name>`` (deterministic), with a note."""
    state = ctx.state
    named: list[exp.Expr] = []
    for item in schema.expressions:
        if isinstance(item, exp.Constraint) and any(
            isinstance(e, _INDEXED) for e in item.expressions
        ):
            named.append(item)
        elif isinstance(item, exp.ColumnDef):
            named.extend(
                c
                for c in item.args.get("constraints") or []
                if c.this is not None and isinstance(c.args.get("kind"), _INDEXED)
            )
    for holder in named:
        ident = holder.this
        if not isinstance(ident, exp.Identifier):
            continue
        name = str(ident.this).lower()
        if name in state.constraint_names or (name != table.lower() and state.object_exists(name)):
            new, n = f"{table.lower()}_{name}", 2
            while new in state.constraint_names or state.object_exists(new):
                new, n = f"{table.lower()}_{name}_{n}", n + 1
            ctx.note(
                f"CONSTRAINT {name}",
                f"renamed {new}: PostgreSQL names PRIMARY KEY/UNIQUE constraints per schema, "
                "SQLite per table, and the name is already taken",
            )
            ident.set("this", new)
            name = new
        state.constraint_names.add(name)


def _select_into_booleans(
    select: exp.Select, cols: list[str], bools: set[str], state: SchemaState
) -> None:
    """``INSERT INTO t (flag) SELECT 1 …`` / ``SELECT other.int_col …``: SQLite stores the
    integer in the BOOLEAN column; PostgreSQL needs a boolean (0 is false, anything else true)."""
    sources = [str(t.name) for t in select.find_all(exp.Table)]
    integer_cols = {
        c.name.lower()
        for t in sources
        for c in state.columns(t)
        if map_type(c.declared).postgres in _INTEGER_TYPES
    }
    for i, item in enumerate(list(select.expressions)):
        if i >= len(cols) or cols[i].lower() not in bools:
            continue
        value = item.this if isinstance(item, exp.Alias) else item
        if (b := bool_literal(value)) is not None:
            value.replace(b)
        elif isinstance(value, exp.Column) and value.name.lower() in integer_cols:
            test = exp.NEQ(this=value.copy(), expression=exp.Literal.number(0))
            test.meta[KEEP_INTEGER] = True  # an integer test, whatever the column's name
            value.replace(exp.Paren(this=test))


def _targetless_update(conflict: exp.Expr) -> bool:
    action = conflict.args.get("action")
    return (
        isinstance(action, exp.Var)
        and str(action.this).upper() == "DO UPDATE"
        and not conflict.args.get("conflict_keys")
        and not conflict.args.get("constraint")
    )


def _conflict_target(conflict: exp.Expr, table: str, ctx: Context) -> None:
    """``ON CONFLICT DO UPDATE`` with no target (SQLite 3.35+: any uniqueness conflict):
    PostgreSQL needs the target. With one uniqueness constraint on the table it is that one's
    columns; with several SQLite updates on whichever fails, which one target cannot say."""
    keys = ctx.state.unique_keys(table)
    if len(keys) != 1 or ctx.state.unique_constraint_count(table) != 1:
        raise Untranslatable(
            "ON CONFLICT DO UPDATE without a target",
            f"{table!r} has {ctx.state.unique_constraint_count(table)} uniqueness constraints: "
            "SQLite updates on whichever one fails, PostgreSQL needs one named",
            "name the conflict target: ON CONFLICT (col) DO UPDATE",
        )
    conflict.set("conflict_keys", [exp.column(k) for k in keys[0]])
    ctx.note(
        "ON CONFLICT DO UPDATE without a target",
        f"the target is the only key of {table!r} ({', '.join(keys[0])}), which PostgreSQL "
        "needs named",
    )


def _known(name: str, columns: list[ColumnInfo]) -> bool:
    return bool(name) and any(c.name.lower() == name for c in columns)


@functools.lru_cache(maxsize=1024)
def _parsed_conflict(keys_sql: str, action: str) -> exp.Expr:
    template = sqlglot.parse_one(
        f"INSERT INTO x VALUES (1) ON CONFLICT ({keys_sql}) {action}", read=POSTGRES
    )
    conflict: exp.Expr = template.args["conflict"]
    for column in list(conflict.find_all(exp.Column)):
        if column.name.upper() == "DEFAULT" and not column.table:
            column.replace(exp.var("DEFAULT"))
    return as_template(conflict)


def _on_conflict(keys_sql: str, action: str) -> exp.Expr:
    """``ON CONFLICT (keys) action`` as a node whose PostgreSQL is generated once per form.

    The later passes leave such a clause as it is, apart from the identifier and index-order
    forms, which are applied here (its keys and SET targets are the table's own columns, so
    the double-quoted-string pass never reads them; it holds no functions, no 0/1 literals
    and no date/time values), and a clause is generated the same wherever it stands: so the
    text is generated once and the statement holds it as is (no copy of the template, no
    walk over it)."""
    return exp.Var(this=_conflict_sql(keys_sql, action))


@functools.lru_cache(maxsize=1024)
def _conflict_sql(keys_sql: str, action: str) -> str:
    conflict = _parsed_conflict(keys_sql, action).copy()
    normalise_identifiers(conflict)
    plain_index_order(conflict)
    return pg_sql(conflict, copy=False)


@functools.lru_cache(maxsize=1)
def _do_nothing_sql() -> str:
    """``ON CONFLICT DO NOTHING`` as PostgreSQL (generated once: see _on_conflict)."""
    return pg_sql(exp.OnConflict(action=exp.var("DO NOTHING")), copy=False)


@functools.lru_cache(maxsize=1024)
def _replace_action(
    names: tuple[str, ...], key: tuple[str, ...], given: frozenset[str]
) -> tuple[str, str]:
    """INSERT OR REPLACE's conflict keys and action for a table whose (not generated) columns
    are ``names``, on ``key``, inserting the columns ``given`` (lower-cased)."""
    keyset = {k.lower() for k in key}
    sets: list[str] = []
    for name in names:
        if name.lower() in keyset:
            continue
        # REPLACE deletes the old row: columns not inserted go back to their defaults.
        value = f"EXCLUDED.{pg_ident(name)}" if name.lower() in given else "DEFAULT"
        sets.append(f"{pg_ident(name)} = {value}")
    keys_sql = ", ".join(pg_ident(k) for k in key)
    return keys_sql, "DO UPDATE SET " + ", ".join(sets) if sets else "DO NOTHING"


def rewrite_insert(tree: exp.Insert, ctx: Context) -> None:
    alternative = str(tree.args.get("alternative") or "").upper()
    table = table_name(tree.this)
    state = ctx.state
    if table is None:
        if alternative:
            raise Untranslatable(f"INSERT OR {alternative}", "cannot find the target table", "")
        return
    listed = listed_columns(tree)
    table_cols = [c for c in state.columns(table) if c.hidden == 0]
    cols = listed or [c.name for c in table_cols]
    colset = {c.lower() for c in cols}

    native = tree.args.get("conflict")
    if native is not None and not alternative and _targetless_update(native):
        _conflict_target(native, table, ctx)
    if native is not None and not alternative:
        # SQLite resolves a bare column in DO UPDATE to the existing row; PostgreSQL calls it
        # ambiguous (it could be EXCLUDED's), so qualify it with the table.
        for assignment in native.expressions:
            value = assignment.expression if isinstance(assignment, exp.EQ) else assignment
            for column in list(value.find_all(exp.Column)):
                if not column.table:
                    column.set("table", exp.to_identifier(table))
        where = native.args.get("where")
        if where is not None:
            for column in list(where.find_all(exp.Column)):
                if not column.table:
                    column.set("table", exp.to_identifier(table))
    if alternative:
        tree.set("alternative", None)
        if tree.args.get("conflict") is not None:
            raise Untranslatable(
                f"INSERT OR {alternative} … ON CONFLICT",
                "both a conflict resolution and an upsert clause",
                "keep only the ON CONFLICT clause",
            )
    if alternative == "IGNORE":
        tree.set("conflict", exp.Var(this=_do_nothing_sql()))  # (as _on_conflict does)
        ctx.note(
            "INSERT OR IGNORE",
            "became ON CONFLICT DO NOTHING, which skips duplicate keys only; SQLite also "
            "skipped rows breaking NOT NULL or CHECK, PostgreSQL raises for those",
        )
    elif alternative == "REPLACE":
        if not state.has_table(table):
            raise Untranslatable(
                "INSERT OR REPLACE",
                f"the keys of {table!r} are unknown (not created by earlier migrations)",
                "write INSERT … ON CONFLICT (key) DO UPDATE by hand",
            )
        keys = state.unique_keys(table)
        candidates = [k for k in keys if all(c.lower() in colset for c in k)]
        if not keys:
            ctx.note("INSERT OR REPLACE", f"{table!r} has no keys: a plain INSERT")
        elif len(candidates) != 1:
            why = (
                "none of its keys is given by the inserted columns"
                if not candidates
                else "more than one key is given and SQLite replaces on each of them; "
                "ON CONFLICT accepts one"
            )
            raise Untranslatable(
                "INSERT OR REPLACE", why, "write INSERT … ON CONFLICT (key) DO UPDATE by hand"
            )
        else:
            names = tuple(c.name for c in table_cols)
            keys_sql, action = _replace_action(names, tuple(candidates[0]), frozenset(colset))
            tree.set("conflict", _on_conflict(keys_sql, action))
    elif alternative in ("ABORT", "FAIL", "ROLLBACK"):
        ctx.note(
            f"INSERT OR {alternative}",
            "a plain INSERT: the tool runs each migration in one transaction, so any error "
            "aborts the whole migration anyway",
        )
    elif alternative:
        raise Untranslatable(f"INSERT OR {alternative}", "unknown conflict resolution", "")

    # 0/1 into BOOLEAN columns, truth values as 1/0 into others; NULL into the rowid alias
    # means "assign one" in SQLite.
    bools = state.boolean_columns(table)
    if native is not None and not alternative:
        update_truths(list(native.expressions), table, ctx)
    alias = state.rowid_alias(table)
    identity: set[str] = set()
    if alias is not None and any(c.name.lower() == alias for c in table_cols):
        identity.add(alias)
    values = tree.expression
    explicit_ids = False
    if isinstance(values, exp.Values):
        for row in values.expressions:
            if not isinstance(row, exp.Tuple):
                continue
            for i, item in enumerate(list(row.expressions)):
                if i >= len(cols):
                    break
                name = cols[i].lower()
                if name in bools and (b := bool_literal(item)) is not None:
                    item.replace(b)
                elif truth_value(item) and name not in bools and _known(name, table_cols):
                    stored_truth(item)
                if name in identity:
                    if isinstance(item, exp.Null):
                        item.replace(exp.var("DEFAULT"))
                    else:
                        explicit_ids = True
    else:
        if identity & colset:
            explicit_ids = True  # INSERT … SELECT into the identity column
        if isinstance(values, exp.Select) and bools:
            _select_into_booleans(values, cols, bools, state)
        if isinstance(values, exp.Select):
            for i, item in enumerate(list(values.expressions)):
                value = item.this if isinstance(item, exp.Alias) else item
                name = cols[i].lower() if i < len(cols) else ""
                if truth_value(value) and name not in bools and _known(name, table_cols):
                    stored_truth(value)

    # Explicit values for an identity column do not move its sequence in PostgreSQL.
    for c in table_cols if explicit_ids and identity else ():
        if c.name.lower() in identity and c.name.lower() in colset and explicit_ids:
            t, col = pg_ident(table), pg_ident(c.name)
            ctx.extra.append(
                f"SELECT setval(pg_get_serial_sequence('{t.replace(chr(39), chr(39) * 2)}', "
                f"'{c.name.lower()}'), coalesce((SELECT max({col}) FROM {t}), 0) + 1, false)"
            )
