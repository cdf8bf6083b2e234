"""Migration files written for other runners or in other house styles, read as far as they
can be: another runner's numbered names (the hint that says how to rename them) and a
``-- Dependencies:`` header written as prose (``Requires 15_image_processing.sql``), which is
no list of migrations to check."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["prose_dependencies", "rename_hint"]

# Other runners' numbering: wrangler's and drizzle-kit's ``0001_name.sql`` (and the Supabase
# CLI's, which takes any digits), Flyway's ``V1__name.sql``.
_NUMBERED = re.compile(r"^(\d+)_(?:\d+_)*(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)\.sql$")
_FLYWAY = re.compile(r"^[VUR]\d[\d._]*__(?P<name>.+)\.sql$", re.IGNORECASE)


def rename_hint(fname: str) -> str | None:
    """How to rename another runner's numbered file (the error said only what was expected:
    a wrangler, drizzle-kit or Supabase project's whole directory was refused so)."""
    m = _NUMBERED.match(fname) or _FLYWAY.match(fname)
    if m is None:
        return None
    rename = (
        "rename each file to a timestamp that keeps the files' order, and keep its name "
        f"(e.g. 20240101_000001_{m['name']}.sql)"
    )
    if m.re is _FLYWAY:
        return f"this is Flyway's numbering (V1__name.sql): {rename}"
    return (
        "this is another runner's numbering (wrangler's and drizzle-kit's 0001_name.sql; the "
        f"Supabase CLI takes any digits): {rename}; wrangler's and the Supabase CLI's history "
        "in the database match a file renamed so by that name (`malnu-tui adopt --dry-run`)"
    )


# A word of prose in a dependency header: letters only (``Requires``, ``table``), perhaps with
# a trailing colon or full stop, or a token holding brackets or quotes (``(migration``).
_PROSE_WORD = re.compile(r"[A-Za-z]+[:.;!?]?|.*[()\[\]<>'\"].*")


def prose_dependencies(value: str, resolves: Callable[[str], bool]) -> bool:
    """Whether a ``-- Dependencies:`` header (``value``, as written) is prose rather than a
    list of migrations: a phrase of several words between its commas, one of them a word of
    prose that names no migration (``resolves``). Real migration sets write their headers so
    ("Dependencies: Requires existing table:"), and every command stopped on "unknown
    dependency 'Requires'". A list (``create_user_table, posts``) stays checked: a name in
    it that names nothing is still an error."""
    items = [item.split() for item in value.split(",")]
    if not any(len(words) > 1 for words in items):
        return False
    return any(_PROSE_WORD.fullmatch(w) is not None and not resolves(w) for ws in items for w in ws)
