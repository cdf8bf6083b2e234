"""A table renamed on PostgreSQL keeps the names its constraints and identity column gave their
index and sequence (``new_users_pkey``, ``new_users_id_seq``, ``new_users_email_key``), where
SQLite renames its own (``sqlite_autoindex_users_1``). Every SQLite table rebuild (Prisma's
``new_T``, Drizzle's ``__new_t``, Django's ``new__app_t``) ends in such a rename, so on the
mirror the rebuilt table's key index and sequence kept the scratch name, and a rollback that
rebuilds the table again made ``new_users_pkey1`` beside them: `test --postgres` failed such a
stair ("index users_pkey lost") though the rollback was right. The rename now carries them
along, under the names PostgreSQL gives a table of the new name (its ``makeObjectName``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from malnu_tui.engine.translate.tableinfo import quote_name
from malnu_tui.engine.translate.triggers import pg_ident

if TYPE_CHECKING:
    from malnu_tui.engine.translate.schema import SchemaState

__all__ = ["implicit_renames", "object_name"]

_NAMEDATALEN = 64
# A constraint the file names itself (`CONSTRAINT users_pk PRIMARY KEY`): PostgreSQL keeps that
# name, and no derived one is looked for (unqualified, it could be another schema's).
_NAMED = re.compile(r"\bCONSTRAINT\s+(?:\S+|\"[^\"]*\")\s+(PRIMARY\s+KEY|UNIQUE)\b", re.IGNORECASE)


def object_name(name1: str, name2: str, label: str) -> str | None:
    """The name PostgreSQL makes of a table's name, a column part and a label (``users``,
    ``id``, ``seq`` → ``users_id_seq``), cut as its ``makeObjectName`` cuts it to 63 bytes;
    None for a non-ASCII name (cut by characters there)."""
    if not (name1 + name2 + label).isascii():
        return None
    overhead = (1 if name2 else 0) + len(label) + 1
    avail = _NAMEDATALEN - 1 - overhead
    n1, n2 = len(name1), len(name2)
    while n1 + n2 > avail:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    middle = f"_{name2[:n2]}" if name2 else ""
    return f"{name1[:n1]}{middle}_{label}"


def _unique_constraints(state: SchemaState, table: str) -> list[str]:
    """The column parts of ``table``'s UNIQUE constraints (not CREATE UNIQUE INDEX, which
    names its index), as PostgreSQL joins them: ``a_b``."""
    name = state.real_name(table)
    if name is None:
        return []
    out: list[str] = []
    for row in state.conn.execute(f"PRAGMA index_list({quote_name(name)})").fetchall():
        if str(row[3]) != "u" or int(row[4]):
            continue
        info = state.conn.execute(f"PRAGMA index_info({quote_name(str(row[1]))})").fetchall()
        if info and all(r[2] is not None for r in info):
            out.append("_".join(str(r[2]).lower() for r in info))
    return out


def implicit_renames(old: str, new: str, state: SchemaState) -> list[str]:
    """``ALTER … IF EXISTS … RENAME`` of the primary key's index, the identity column's
    sequence and the UNIQUE constraints' indexes that PostgreSQL named after ``old``, to the
    names it gives them for ``new`` (``state`` already knows the table as ``new``). Only what
    PostgreSQL named itself (a constraint the file names keeps its name); one it numbered to
    avoid another name is not there under the derived name and stays as it is."""
    o, n = old.lower(), new.lower()
    real = state.real_name(new)
    if o == n or real is None:
        return []
    row = state.conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (real,)
    ).fetchone()
    named = {" ".join(m.upper().split()) for m in _NAMED.findall(str(row[0] if row else ""))}
    parts: list[tuple[str, str, str]] = []
    if state.primary_key(new) and "PRIMARY KEY" not in named:
        parts.append(("INDEX", "", "pkey"))
    alias = state.rowid_alias(new)
    if alias is not None:
        parts.append(("SEQUENCE", alias, "seq"))
    if "UNIQUE" not in named:
        parts += [("INDEX", cols, "key") for cols in _unique_constraints(state, new)]
    out: list[str] = []
    for kind, middle, label in parts:
        before, after = object_name(o, middle, label), object_name(n, middle, label)
        if before is not None and after is not None and before != after:
            out.append(f"ALTER {kind} IF EXISTS {pg_ident(before)} RENAME TO {pg_ident(after)}")
    return out
