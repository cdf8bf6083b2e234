"""How wrangler's migration names stand for this tool's files: the same name, or wrangler's
own ``0002_name.sql`` numbering for the one file with the same descriptive part (a team that
switched tools renamed its files to timestamps). Used by adopt, status and rollback alike."""

from __future__ import annotations

import re
from collections.abc import Sequence

from malnu_tui.engine.files import Migration, MigrationSet

__all__ = ["by_name_part", "match", "names_of"]

_NUMBER_PREFIX = re.compile(r"^\d+_")


def by_name_part(mset: MigrationSet) -> dict[str, list[Migration]]:
    """Our files by descriptive part (``create_users.sql``), lowercased."""
    found: dict[str, list[Migration]] = {}
    for m in mset.migrations:
        found.setdefault(f"{m.name}.sql".lower(), []).append(m)
    return found


def names_of(mset: MigrationSet, applied: Sequence[str], filename: str) -> list[str]:
    """The names in wrangler's history (``applied``) that stand for our ``filename``: its own
    name, and wrangler's ``0002_name.sql`` that adopt matched to it."""
    files, by_part = mset.by_filename(), by_name_part(mset)
    found = [n for n in applied if (m := match(files, by_part, n)) and m.filename == filename]
    return found if filename in found else [filename, *found]


def match(
    files: dict[str, Migration], by_part: dict[str, list[Migration]], name: str
) -> Migration | None:
    """Our file for wrangler's ``name``: the same name, else the one file with the same
    descriptive part (wrangler's ``0001_`` numbering against our timestamps)."""
    m = files.get(name)
    if m is None:
        same = by_part.get(_NUMBER_PREFIX.sub("", name).lower(), [])
        m = same[0] if len(same) == 1 else None
    return m
