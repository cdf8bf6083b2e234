"""SQLite-only syntax that must never survive into a translation's PostgreSQL text (sqlglot
passes some of it through unchanged): the last check on every generated statement."""

from __future__ import annotations

import re

__all__ = ["leftover_syntax"]

# SQLite-only syntax that must not survive into the PostgreSQL text, by name.
_LEFTOVER_PATTERNS = {
    "insert_or": r"\bINSERT\s+OR\s+\w+",
    "without_rowid": r"\bWITHOUT\s+ROWID\b",
    "autoincrement": r"\bAUTOINCREMENT\b",
    "pragma": r"^\s*PRAGMA\b",
    "strict": r"\)\s*STRICT\s*$",
    "glob": r"\bGLOB\b",
    "nocase": r"\bCOLLATE\s+NOCASE\b",
}
_LEFTOVERS = re.compile(
    "|".join(f"(?P<{name}>{pattern})" for name, pattern in _LEFTOVER_PATTERNS.items()),
    re.IGNORECASE,
)
_LEFTOVER_NAMES = {
    "insert_or": "INSERT OR …",
    "without_rowid": "WITHOUT ROWID",
    "autoincrement": "AUTOINCREMENT",
    "pragma": "PRAGMA",
    "strict": "STRICT",
    "glob": "GLOB",
    "nocase": "COLLATE NOCASE",
}
# Each alternative of _LEFTOVERS alone, and the word (upper case) it cannot match without.
_LEFTOVER_ONE = {
    name: re.compile(pattern, re.IGNORECASE) for name, pattern in _LEFTOVER_PATTERNS.items()
}
# The same, case-sensitive (their words are upper-case): for upper-cased ASCII text.
_LEFTOVER_UPPER = {name: re.compile(pattern) for name, pattern in _LEFTOVER_PATTERNS.items()}
_LEFTOVER_WORDS = (
    ("insert_or", "INSERT"),
    ("without_rowid", "WITHOUT"),
    ("autoincrement", "AUTOINCREMENT"),
    ("pragma", "PRAGMA"),
    ("strict", "STRICT"),
    ("glob", "GLOB"),
    ("nocase", "COLLATE"),
)


def leftover_syntax(out: str) -> str | None:
    """The first SQLite-only construct ``_LEFTOVERS`` finds in ``out`` (as findings name it),
    or None. On ASCII text (where IGNORECASE is plain ASCII case) only the alternatives whose
    keyword occurs are tried: none for most statements, one alone (much cheaper) for most."""
    if out.isascii():
        upper = out.upper()
        present = [name for name, word in _LEFTOVER_WORDS if word in upper]
        if not present:
            return None
        if len(present) == 1:
            # (Its upper-case form, case-sensitively: the same matches on ASCII text, and a
            # literal prefix a case-blind search cannot use.)
            found = present[0] if _LEFTOVER_UPPER[present[0]].search(upper) else None
            return None if found is None else _LEFTOVER_NAMES[found]
    leftover = _LEFTOVERS.search(out)
    return None if leftover is None else _LEFTOVER_NAMES[str(leftover.lastgroup)]
