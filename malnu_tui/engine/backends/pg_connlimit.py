"""A role's or database's ``CONNECTION LIMIT`` reached: the way out, and whether a client
tool's refused connection was that, read from the catalog where the server said it in another
language (a refusal at connection time has no SQLSTATE a client tool prints)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["limit_reached", "limit_way_out"]

# libpq's own words (English: the tools run with LC_MESSAGES=C), before the server's.
_REFUSED = re.compile(r"connection to server .*? failed: ")
_LIMITS = """
SELECT quote_ident(r.rolname), r.rolconnlimit, (SELECT count(*) FROM pg_stat_activity a
                                   WHERE a.usename = r.rolname),
       quote_ident(d.datname), d.datconnlimit, (SELECT count(*) FROM pg_stat_activity a
                                   WHERE a.datname = d.datname),
       r.rolsuper
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
"""


def limit_way_out(kind: str, name: str) -> str:
    """The hint for the ``kind`` ("role" or "database") whose limit is reached, ``name`` as
    SQL writes it."""
    return (
        f"the {kind}'s CONNECTION LIMIT is reached: this command needs several connections at "
        "once (its own, and for a backup the snapshot's and pg_dump's); end the "
        f"{kind}'s idle sessions, or as a superuser: ALTER {kind.upper()} {name} "
        "CONNECTION LIMIT 10;"
    )


def limit_reached(conn: Any, err: str) -> tuple[str, str] | None:
    """``(kind, name)`` (``name`` as SQL writes it) of the role's or database's limit that
    a client tool's refused connection met (``err``: ``connection to server … failed: FATAL:
    zu viele Verbindungen für Rolle »app«``): the catalog, read over ``conn`` (a session of
    the same role and database), finds that many sessions open; None for another refusal,
    or when it cannot be read, or for a superuser (no limit holds one back: its refusal was
    another, ``sorry, too many clients already``)."""
    if not _REFUSED.search(err):
        return None
    try:
        row = conn.execute(_LIMITS).fetchone()
    except Exception:  # (the server gone meanwhile: its words stand alone)
        return None
    if row is None:
        return None
    role, role_limit, role_count, db, db_limit, db_count, superuser = row
    if superuser:
        return None
    if 0 <= role_limit <= role_count:
        return "role", str(role)
    if 0 <= db_limit <= db_count:
        return "database", str(db)
    return None
