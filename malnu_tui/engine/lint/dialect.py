"""Which dialect the lint judges a set by, and why: ``--dialect``, the target's ``dialect``,
the target's kind, or, when nothing names one (no config, no URL: the embedded SQLite
database), a guess from the files themselves.

The guess: a set under ``supabase/migrations`` is PostgreSQL's; otherwise PostgreSQL's when
its files say something only PostgreSQL says (a ``$$`` body, a ``::`` cast, CONCURRENTLY,
SERIAL, TIMESTAMPTZ, ``ALTER COLUMN … TYPE``…) and nothing only SQLite says
(AUTOINCREMENT, PRAGMA, ``INSERT OR IGNORE``, ``datetime(…)``…); SQLite's otherwise. The
first clue is named with its file and line, so the operator sees what the guess rests on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.config_schema import DIALECTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from malnu_tui.engine.config import Settings, Target
    from malnu_tui.engine.files import MigrationSet

__all__ = [
    "DialectChoice",
    "choose_dialect",
    "guess_dialect",
    "in_supabase_folder",
    "judged_as",
    "lint_dialect",
]

_HEAD_BYTES = 64 * 1024  # enough of a large file (a seed of INSERTs) to see its dialect
_F = re.IGNORECASE
_POSTGRES = (
    (re.compile(r"\$(?:[A-Za-z_]\w*)?\$"), "a $$ body"),
    (re.compile(r"\w\)?\s*::\s*[A-Za-z_]"), "a :: cast"),
    (re.compile(r"\bCONCURRENTLY\b", _F), "CONCURRENTLY"),
    (re.compile(r"\b(?:big|small)?serial\b", _F), "SERIAL"),
    (re.compile(r"\btimestamptz\b|\btime\s+zone\b", _F), "TIMESTAMPTZ"),
    (re.compile(r"\bjsonb\b", _F), "JSONB"),
    (re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(?:SET\s+DATA\s+)?TYPE\b", _F), "ALTER COLUMN … TYPE"),
    (re.compile(r"\bLANGUAGE\s+'?plpgsql\b", _F), "LANGUAGE plpgsql"),
    (re.compile(r"\bCREATE\s+(?:EXTENSION|POLICY|DOMAIN)\b", _F), "CREATE EXTENSION/POLICY"),
    (re.compile(r"\bROW\s+LEVEL\s+SECURITY\b", _F), "ROW LEVEL SECURITY"),
    (re.compile(r"\bAS\s+IDENTITY\b", _F), "AS IDENTITY"),
)
_SQLITE = (
    (re.compile(r"\bAUTOINCREMENT\b", _F), "AUTOINCREMENT"),
    (re.compile(r"^\s*PRAGMA\b", _F | re.MULTILINE), "PRAGMA"),
    (re.compile(r"\bWITHOUT\s+ROWID\b", _F), "WITHOUT ROWID"),
    (re.compile(r"\bINSERT\s+OR\s+(?:IGNORE|REPLACE|ABORT|FAIL|ROLLBACK)\b", _F), "INSERT OR …"),
    (re.compile(r"\b(?:datetime|strftime|julianday)\s*\(", _F), "datetime()"),
    (re.compile(r"\bCREATE\s+VIRTUAL\s+TABLE\b", _F), "CREATE VIRTUAL TABLE"),
)
_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class DialectChoice:
    """The dialect the lint judges by (``sqlite`` or ``postgresql``), and what says so, in
    words for the operator (``target primary (d1)``, ``guessed from the files: …``)."""

    dialect: str
    source: str
    guessed: bool = False

    def line(self) -> str:
        name = "PostgreSQL's" if self.dialect == "postgresql" else "SQLite's"
        return f"judged in {name} dialect ({self.source})"


def _head(path: Path, text: str | None) -> str:
    if text is not None:
        return text[:_HEAD_BYTES]
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""


def _first(
    files: Iterable[tuple[Path, str | None]], rules: tuple[tuple[re.Pattern[str], str], ...]
) -> str | None:
    """``file:line: what`` of the first clue of ``rules`` in ``files`` (comments and, but for
    a ``$$`` body's, strings blanked), or None."""
    for path, text in files:
        raw = _COMMENT.sub("", _head(path, text))
        code = _STRING.sub(lambda s: "''" + "\n" * s[0].count("\n"), raw)
        hits = [
            (m.start(), what)
            for rx, what in rules
            if (m := rx.search(raw if what.startswith("a $$") else code)) is not None
        ]
        if hits:
            at, what = min(hits)
            return f"{path.name}:{raw.count(chr(10), 0, at) + 1}: {what}"
    return None


def in_supabase_folder(migrations_dir: Path) -> bool:
    """Whether the set is in Supabase's folder, ``supabase/migrations``."""
    return [p.lower() for p in Path(migrations_dir).resolve().parts[-2:]] == [
        "supabase",
        "migrations",
    ]


def guess_dialect(migrations_dir: Path, files: Iterable[tuple[Path, str | None]]) -> DialectChoice:
    """The set's dialect guessed from its folder and ``files`` ((path, text or None: read
    from the path)), for a set no target, flag or config names the dialect of."""
    hint = "say --dialect, or name a target, to be sure"
    if in_supabase_folder(migrations_dir):
        return DialectChoice("postgresql", f"guessed from the folder supabase/migrations; {hint}",
                             guessed=True)  # fmt: skip
    seen = list(files)
    pg = _first(seen, _POSTGRES)
    if pg is None:
        return DialectChoice("sqlite", "no target names one: the default, SQLite's")
    lite = _first(seen, _SQLITE)
    if lite is not None:
        why = f"no target names one; the files say both {pg} and {lite}, so SQLite's, the "
        return DialectChoice("sqlite", why + "default: for PostgreSQL's say --dialect postgresql")
    return DialectChoice("postgresql", f"guessed from the files, {pg}; {hint}", guessed=True)


def choose_dialect(
    target: Target, *, flag: str | None, named: bool, mset: MigrationSet | None = None
) -> DialectChoice:
    """The lint's dialect for ``target``: ``flag`` (``--dialect``), else the target's
    ``dialect`` option, else its kind's when a config, flag or variable ``named`` it, else
    guessed from ``mset``'s files (the embedded default database, which nobody chose)."""
    if flag:
        return DialectChoice(DIALECTS[flag.strip().lower()], f"--dialect {flag}")
    said = target.options.get("dialect")
    if said is not None:
        return DialectChoice(target.files_dialect, f'target {target.name}: dialect = "{said}"')
    if named or mset is None:
        return DialectChoice(target.files_dialect, f"target {target.name}, {target.kind}")
    files = [(m.path, m.text) for m in mset.migrations]
    return guess_dialect(mset.migrations_dir, files)


def lint_dialect(
    settings: Settings,
    target: Target,
    files: Callable[[], MigrationSet],
    *,
    flag: str | None = None,
) -> DialectChoice:
    """The dialect ``lint`` and ``test`` (the CLI) and the console's SQL view judge
    ``target``'s set by: ``flag`` (``--dialect``), the target's, or, for the embedded default
    database that no config, flag or variable named, guessed from ``files()``."""
    from malnu_tui.engine.config import DEFAULT_TARGET
    from malnu_tui.engine.urls import database_key

    default = settings.targets.get(DEFAULT_TARGET)
    embedded = (
        settings.config_path is None
        and default is not None
        and database_key(target.url) == database_key(default.url)
    )
    mset = files() if embedded else None
    return choose_dialect(target, flag=flag, named=not embedded, mset=mset)


def judged_as(
    target: Target, mset: MigrationSet, choice: DialectChoice | None
) -> tuple[Target, MigrationSet]:
    """``target`` and its set, read in ``choice``'s dialect when it is not the target's (the
    target then carries it as its ``dialect``)."""
    if choice is None or choice.dialect == target.files_dialect:
        return target, mset
    from dataclasses import replace

    from malnu_tui.engine.files import discover

    target = replace(target, options={**target.options, "dialect": choice.dialect})
    return target, discover(target.migrations_dir, target.rollback_dir, choice.dialect)
