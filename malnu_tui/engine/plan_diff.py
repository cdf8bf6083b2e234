"""Per-migration SQLite source beside its PostgreSQL translation (``plan`` / ``diff``, and the
TUI's side-by-side view). Values are frozen dataclasses; ``dataclasses.asdict`` gives JSON."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from malnu_tui.engine.files import Migration
from malnu_tui.engine.translate import FileTranslation, Finding, SchemaState, translate_script

__all__ = ["LinePair", "MigrationTranslation", "as_written", "translate_plan", "unified_diff"]


@dataclass(frozen=True)
class LinePair:
    """One statement: its SQLite text (first line ``line``), the PostgreSQL it became, and its
    findings. ``postgres`` is empty when the statement was dropped or withheld."""

    line: int
    sqlite: str
    postgres: str
    findings: tuple[Finding, ...]

    @property
    def withheld(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


@dataclass(frozen=True)
class MigrationTranslation:
    """A migration file and its PostgreSQL translation."""

    filename: str
    version: str
    sqlite_source: str
    postgres_sql: str
    diff: str
    statements: tuple[LinePair, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when every statement was translated."""
        return not any(f.severity == "error" for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        """Plain data (``ok`` included)."""
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        return data


def unified_diff(sqlite_text: str, postgres_text: str, filename: str) -> str:
    """A unified diff from the SQLite source to the PostgreSQL translation."""
    if not sqlite_text.endswith("\n"):
        sqlite_text += "\n"
    if not postgres_text.endswith("\n"):
        postgres_text += "\n"
    return "".join(
        difflib.unified_diff(
            sqlite_text.splitlines(keepends=True),
            postgres_text.splitlines(keepends=True),
            fromfile=f"{filename} (SQLite)",
            tofile=f"{filename} (PostgreSQL)",
        )
    )


def _pairs(ft: FileTranslation) -> tuple[LinePair, ...]:
    pairs = [
        LinePair(st.line, st.source, "\n".join(s + ";" for s in st.output), st.findings)
        for st in ft.statements
    ]
    pairs.extend(LinePair(f.line, "", "", (f,)) for f in ft.findings_outside)
    return tuple(sorted(pairs, key=lambda p: p.line))


def translate_plan(
    migrations: Sequence[Migration], only: Iterable[str] | None = None
) -> list[MigrationTranslation]:
    """Translate every migration in order (later files need the schema earlier ones made) and
    return those named in ``only`` (filenames), or all when ``only`` is None."""
    wanted = None if only is None else set(only)
    state = SchemaState()
    result: list[MigrationTranslation] = []
    try:
        for m in migrations:
            source = m.read_text()
            ft = translate_script(source, m.filename, state)
            if wanted is not None and m.filename not in wanted:
                continue
            pg = ft.postgres_sql()
            result.append(
                MigrationTranslation(
                    filename=m.filename,
                    version=m.version,
                    sqlite_source=source,
                    postgres_sql=pg,
                    diff=unified_diff(source, pg, m.filename),
                    statements=_pairs(ft),
                    findings=ft.findings,
                )
            )
    finally:
        state.close()
    return result


def as_written(
    migrations: Sequence[Migration], only: Iterable[str] | None = None
) -> list[MigrationTranslation]:
    """For a set already written in PostgreSQL's dialect (e.g. the analytics set): each file's
    SQL as it will run, with nothing translated."""
    wanted = None if only is None else set(only)
    result: list[MigrationTranslation] = []
    for m in migrations:
        if wanted is not None and m.filename not in wanted:
            continue
        source = m.read_text()
        pairs = tuple(LinePair(st.line, st.text, st.text + ";", ()) for st in m.statements())
        result.append(MigrationTranslation(m.filename, m.version, source, source, "", pairs, ()))
    return result
