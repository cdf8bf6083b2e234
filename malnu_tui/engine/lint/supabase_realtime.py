"""Supabase Realtime sends the changes of the tables in the ``supabase_realtime`` publication.
A starter's init (``drop publication if exists supabase_realtime; create publication
supabase_realtime;``) run on a live project, or an ``ALTER PUBLICATION … SET TABLE`` (which
replaces the list), takes every other table out of it, those the dashboard's Realtime toggle
added too (no migration names them): the app's subscriptions then get no change, with no
error."""

from __future__ import annotations

import re

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import IDENT, split_top_level, strip_comments
from malnu_tui.engine.lint.ops import pg_key as key
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["REALTIME_RULES", "realtime_replaced", "realtime_restored"]

REALTIME_RULES = (
    Rule(
        "SUPABASE-REALTIME-REPLACED",
        "warning",
        "DROP PUBLICATION supabase_realtime, or ALTER PUBLICATION supabase_realtime SET …",
        "Supabase Realtime sends the changes of the tables in the supabase_realtime "
        "publication: dropping it (or SET, which replaces its list) takes every other table "
        "out, those the dashboard's Realtime toggle added too, and the app's subscriptions get "
        "no change from then on, with no error",
        "ALTER PUBLICATION supabase_realtime ADD TABLE t (DROP TABLE t to take one out), for "
        "the tables the change is about; a new project's first migration (the publication "
        "still empty): lint:ignore it",
    ),
)
register(*REALTIME_RULES)

_F = re.IGNORECASE | re.DOTALL
_PUBLICATION = "supabase_realtime"
_DROP = re.compile(
    r"^DROP\s+PUBLICATION\s+(?:IF\s+EXISTS\s+)?(?P<names>.*?)(?:\s+(?:CASCADE|RESTRICT))?\s*$", _F
)
# `CREATE PUBLICATION supabase_realtime FOR ALL TABLES` (Supabase's older docs, the CLI's issue
# #235) puts every table back in Realtime, those made later too; unless a `publish` option
# leaves out inserts, updates or deletes.
_ALL_TABLES = re.compile(
    rf"^CREATE\s+PUBLICATION\s+(?P<name>{IDENT})\s+FOR\s+ALL\s+TABLES\b(?P<rest>.*)$", _F
)
_PUBLISH = re.compile(r"\bpublish\s*=\s*'(?P<what>[^']*)'", re.IGNORECASE)
_SET = re.compile(rf"^ALTER\s+PUBLICATION\s+(?P<name>{IDENT})\s+SET\s+(?P<what>TABLE|TABLES)\b", _F)


def realtime_replaced(file: str, st: Statement) -> Finding | None:
    """A finding when ``st`` drops the ``supabase_realtime`` publication or replaces its list
    of tables (a Supabase target's migration)."""
    if "publication" not in st.text[:200].lower():
        return None
    text = strip_comments(st.text)
    r = REALTIME_RULES[0]
    if (d := _DROP.match(text)) is not None:
        if _PUBLICATION in (key(n) for n in split_top_level(d["names"])):
            why = (
                "DROP PUBLICATION supabase_realtime takes every table out of Supabase Realtime "
                "(those the dashboard added too, which no migration names; a CREATE "
                "PUBLICATION after it starts empty): the app's subscriptions get no change, "
                "with no error"
            )
            return Finding(r.id, r.severity, file, st.line, why, r.instead)
    elif (s := _SET.match(text)) is not None and key(s["name"]) == _PUBLICATION:
        why = (
            f"ALTER PUBLICATION supabase_realtime SET {s['what'].upper()} replaces its list: "
            "every table not named (those the dashboard's Realtime toggle added too) leaves "
            "Supabase Realtime, and the app's subscriptions to them get no change, with no error"
        )
        return Finding(r.id, r.severity, file, st.line, why, r.instead)
    return None


def realtime_restored(st: Statement) -> bool:
    """Whether ``st`` (re-)creates ``supabase_realtime`` for every table and every change, so a
    ``DROP PUBLICATION supabase_realtime`` before it takes no table out of Realtime."""
    if "publication" not in st.text[:200].lower():
        return False
    m = _ALL_TABLES.match(strip_comments(st.text).strip())
    if m is None or key(m["name"]) != _PUBLICATION:
        return False
    publish = _PUBLISH.search(m["rest"])
    kinds = {w.strip().lower() for w in publish["what"].split(",")} if publish else set()
    return publish is None or {"insert", "update", "delete"} <= kinds
