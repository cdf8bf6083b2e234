"""How the lint reads a name: an identifier in any dialect's quoting, and folded for comparing,
as SQLite does (:func:`key`) or as PostgreSQL does (:func:`pg_key`); statements' comments
stripped and lists split at their top-level commas."""

from __future__ import annotations

import re

__all__ = [
    "IDENT",
    "PG_DROP_TABLE",
    "PG_RENAME_TO",
    "PG_TABLE_NAMED",
    "QNAME",
    "fold",
    "key",
    "pg_key",
    "split_top_level",
    "strip_comments",
    "unquote",
]

_IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
_QNAME = rf"(?:{_IDENT}\s*\.\s*)?(?P<name>{_IDENT})"
IDENT, QNAME = _IDENT, _QNAME  # (a name in any quoting; one maybe schema-qualified, as "name")
_F = re.IGNORECASE | re.DOTALL


def key(name: str) -> str:
    """A name unquoted and case-folded, for comparing."""
    closing = {'"': '"', "`": "`", "[": "]"}
    if name[:1] in closing and len(name) >= 2 and name[-1] == closing[name[0]]:
        inner = name[1:-1]
        name = inner.replace('""', '"') if name[0] == '"' else inner
    return name.lower()


def pg_key(name: str) -> str:
    """A name as PostgreSQL folds it: unquoted lower-cased, quoted as written (``"Siswa"`` and
    ``siswa`` are two tables, where :func:`key` folds both, as SQLite does)."""
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name.lower()


def fold(dialect: str, name: str, pg: str = "") -> str:
    """A name for comparing on ``dialect``: on PostgreSQL as PostgreSQL folds it (``pg``, an
    Op's ``pg_…`` read from the name as written), else as SQLite does (:func:`key`)."""
    return (pg or key(name)) if dialect == "postgresql" else key(name)


# Names as written, for the PostgreSQL rules that fold them as PostgreSQL does (:func:`pg_key`;
# an Op's names are unquoted: "Kelas" is not kelas): the table a CREATE or ALTER TABLE names
# (its schema too), the tables a DROP TABLE names, and an ALTER's RENAME TO.
PG_TABLE_NAMED = re.compile(
    r"^(?:CREATE\s+(?:\w+\s+){0,2}?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"|ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?)"
    rf"(?:(?P<schema>{IDENT})\s*\.\s*)?(?P<name>{IDENT})",
    _F,
)
PG_DROP_TABLE = re.compile(
    r"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<names>.*?)(?:\s+(?:CASCADE|RESTRICT))?\s*;?\s*$", _F
)
PG_RENAME_TO = re.compile(rf"\bRENAME\s+TO\s+(?:{IDENT}\s*\.\s*)?(?P<new>{IDENT})", _F)


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_LINE_COMMENT = re.compile(r"--[^\n]*")


def strip_comments(text: str) -> str:
    """``text`` without ``--`` and ``/* */`` comments, whitespace collapsed."""
    if "/*" in text:
        text = _BLOCK_COMMENT.sub(" ", text)
    if "--" in text:
        text = _LINE_COMMENT.sub(" ", text)
    return " ".join(text.split())


def split_top_level(text: str) -> list[str]:
    """``text`` split at commas outside parentheses and quotes."""
    if not any(c in text for c in "()'\"`"):  # nothing nests: every comma splits
        return [p for p in (part.strip() for part in text.split(",")) if p]
    parts: list[str] = []
    depth = 0
    quote = ""
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def unquote(name: str) -> str:
    """A name without its quotes, as written otherwise."""
    if name[:1] in '"`[' and len(name) >= 2:
        inner = name[1:-1]
        return inner.replace('""', '"') if name[0] == '"' else inner
    return name
