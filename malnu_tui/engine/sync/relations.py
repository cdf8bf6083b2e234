"""A name given to the sync (``--tables``, a pair's ``tables``) that is no table it copies: said
what it is instead of only "no table" — a view (the sync copies tables: the ones it reads), a
materialized view, a foreign table, a SQLite virtual table (an FTS5 index: derived data) or its
shadow table, another migration tool's history table, or a partition of a PostgreSQL
partitioned table, whose rows the sync copies with the partitioned table
(``PostgresSide.tables`` leaves partitions out: every row was copied twice, into the parent's
copy and the partition's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from malnu_tui.engine.backends.other_runners import HISTORY_TABLES, history_by_columns
from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal
from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.sync.model import TableShape
from malnu_tui.engine.sync.side import STATE_TABLE, CatalogReads, Side

__all__ = ["history_shape", "left_behind", "left_behind_by_table", "unknown_tables"]


_PG = (
    "SELECT c.relkind, c.relispartition, (SELECT p.relname FROM pg_inherits i JOIN pg_class p "
    "ON p.oid = i.inhparent WHERE i.inhrelid = c.oid LIMIT 1) FROM pg_class c JOIN pg_namespace "
    "n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s"
)
_PG_KINDS = {
    "v": "a view (the sync copies tables: name the tables it reads)",
    "m": "a materialized view (the sync copies tables: name the tables it reads)",
    "f": "a foreign table (its rows live on another server)",
    "S": "a sequence",
    "i": "an index",
}
_SQLITE_KINDS = {
    "view": "a view (the sync copies tables: name the tables it reads)",
    "virtual": "a virtual table (such as an FTS5 search index: derived data, rebuilt from its "
    "table)",
    "shadow": "the storage of a virtual table (an FTS5 index's: derived data)",
}
_HISTORY = (
    "a migration tool's history table (Prisma's, Drizzle's, dbmate's…): the sync leaves such "
    "tables out, no data to report on (a copy would read as the destination's own history)"
)


def history_shape(shape: TableShape, named: bool) -> bool:
    """Whether ``shape`` is another tool's history by its columns alone (Drizzle's under its
    ``migrationsTable``'s name, as `up` and `doctor` know it): left out of "every table" (True),
    refused when ``named`` (``--tables``, a pair's), as a history table of its usual name is.
    Copied, it read as data, and into a database whose Drizzle keeps its history under the
    same name, the refusal's hint (add synced_at) led to the primary's history over its own."""
    tool = history_by_columns(shape.names)
    if tool is None:
        return False
    if named:
        raise ConfigError(
            f"{shape.name} is {tool}'s history by its columns ({', '.join(shape.names)}: a "
            f"history table of another name); {_HISTORY}",
            hint="leave it out of --tables (or of the pair's tables)",
        )
    return True


def _what(side: Side, name: str) -> str | None:
    """What ``name`` is at ``side`` when it is no table the sync copies; None when unknown."""
    reads = cast(CatalogReads, side)
    if side.kind == "postgresql":
        schema = cast("Any", side).schema
        for kind, partition, parent in reads._rows(_PG, (schema, name)):
            if kind in ("r", "p") and name in HISTORY_TABLES:
                return _HISTORY
            if partition:
                return f"a partition of {parent}: its rows are synced with {parent}"
            return _PG_KINDS.get(str(kind))
        return None
    for schema, found, kind, *_ in reads._rows("PRAGMA table_list"):
        if schema == "main" and found == name:
            if kind == "table" and name in HISTORY_TABLES:
                return _HISTORY
            return _SQLITE_KINDS.get(str(kind))
    return None


def unknown_tables(
    side: Side, unknown: Sequence[str], listed: str = "", named_in: str = ""
) -> ConfigError:
    """The error for names ``unknown`` at the source ``side`` (``listed``: what follows its
    label, such as the tables there), each said what it is when known; ``named_in``: the
    config's place that named them (``malnu.toml: [sync.reporting] tables``), said first,
    with a hint to change it there (a table renamed at the source stopped the pair's sync
    with no word of where the old name came from)."""
    message = f"no table {', '.join(map(repr, unknown))} at the source {side.label}{listed}"
    what = [f"{n} is {w}" for n in unknown if (w := _what(side, n)) is not None]
    # Names are matched in their case: `kelas` for the source's "Kelas" was "no table" beside
    # a list holding it (SQLite's own SQL ignores the case).
    folded = {t.casefold(): t for t in side.tables()}
    what += [
        f"did you mean {folded[n.casefold()]!r}? (names are matched in their case)"
        for n in unknown
        if n.casefold() in folded
    ]
    message += "".join(f"; {w}" for w in what)
    if not named_in:
        return ConfigError(message)
    return ConfigError(
        f"{named_in}: {message}",
        hint="list only tables the source has there (a table renamed at the source: its new "
        "name), or say which tables to sync with --tables",
    )


def left_behind(src: Side, dst: Side, source: str) -> list[str]:
    """The copies at ``dst`` last synced from ``source`` (a target's name) whose table that
    source no longer has (renamed or dropped there): each is said, with the statements that
    drop it. Nothing syncs them any more; they stayed, silently stale, with ``sync status``
    showing their lag grow, while ``sync`` and ``sync verify`` said every table was equal."""
    return list(left_behind_by_table(src, dst, source).values())


def left_behind_by_table(src: Side, dst: Side, source: str) -> dict[str, str]:
    """:func:`left_behind`'s warnings by the copy's table name (``sync status`` marks those
    rows)."""
    fold = (lambda n: n) if src.kind == dst.kind == "postgresql" else str.lower
    there = {fold(t) for t in src.tables()}
    gone = [st.table_name for st in dst.all_states() if st.source == source]
    gone = [t for t in gone if fold(t) not in there]
    if not gone:
        return {}
    copies = set(dst.tables())
    prefix = ""
    if dst.kind == "postgresql":
        prefix = quote_ident(str(cast("Any", dst).schema)) + "."
    out = {}
    for t in gone:
        drop = f"DROP TABLE {prefix}{quote_ident(t)}; " if t in copies else ""
        forget = f"DELETE FROM {prefix}{STATE_TABLE} WHERE table_name = {sql_literal(t)}"
        out[t] = (
            f"{t}: synced from {source}, which has no table {t} any more (renamed or dropped "
            f"there?): its copy is no longer synced; if it is not needed here: {drop}{forget}"
        )
    return out
