"""Per-migration SQLite source beside its PostgreSQL translation (``plan`` / ``diff``, and the
TUI's side-by-side view). Values are frozen dataclasses; ``dataclasses.asdict`` gives JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from malnu_tui.engine.files import Migration
from malnu_tui.engine.lazy import cached
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.textdiff import unified_lines
from malnu_tui.engine.translate import (
    FileTranslation,
    Finding,
    SchemaState,
    name_dependents,
    translate_migration,
    translate_script,
)
from malnu_tui.engine.translate.model import NOT_CHECKED

__all__ = [
    "LinePair",
    "MigrationTranslation",
    "as_written",
    "translate_plan",
    "translate_rollback",
    "unified_diff",
]


@dataclass(frozen=True)
class LinePair:
    """One statement: its SQLite text (first line ``line``), the PostgreSQL it became, and its
    findings. ``postgres`` is empty when the statement was dropped or withheld. ``checked``:
    the PostgreSQL ran on a scratch schema of a real server (``plan --check``)."""

    line: int
    sqlite: str
    postgres: str
    findings: tuple[Finding, ...]
    checked: bool = False

    @property
    def withheld(self) -> bool:
        return any(f.severity == "error" for f in self.findings) and not self.postgres

    @property
    def status(self) -> str:
        """``ok`` (ran on PostgreSQL), ``unchecked`` (translated, not run: no server given, or
        the check could not try it),
        ``rejected`` (PostgreSQL refused it), ``withheld``, or ``dropped`` (nothing to run)."""
        if any(f.severity == "error" for f in self.findings):
            return "rejected" if self.postgres else "withheld"
        if not self.postgres:
            return "dropped"
        tried = self.checked and not any(f.construct == NOT_CHECKED for f in self.findings)
        return "ok" if tried else "unchecked"


@dataclass(frozen=True)
class MigrationTranslation:
    """A migration file and its PostgreSQL translation."""

    filename: str
    version: str
    sqlite_source: str
    postgres_sql: str
    statements: tuple[LinePair, ...]
    findings: tuple[Finding, ...]
    checked: bool = False  # every statement ran on a scratch PostgreSQL schema

    @cached
    def diff(self) -> str:
        """The unified diff from the source to the translation, made when asked (`diff`, `--json`):
        difflib's time grows with the square of a file's changed lines (a 2 MB seed of INSERTs
        took 36 s), which `plan` spent on a diff it never shows."""
        return unified_diff(
            self.sqlite_source,
            self.postgres_sql,
            self.filename,
            [(p.line, p.postgres) for p in self.statements],
        )

    @property
    def ok(self) -> bool:
        """True when every statement was translated (and, when checked, PostgreSQL took it)."""
        return not any(f.severity == "error" for f in self.findings)

    @property
    def rejected(self) -> int:
        """How many statements PostgreSQL rejected (checked plans only)."""
        return sum(1 for p in self.statements if p.status == "rejected")

    def as_json(self) -> dict[str, Any]:
        """Plain data (``ok`` and each statement's ``status`` included)."""
        data = dataclasses.asdict(self)
        head = ("filename", "version", "sqlite_source", "postgres_sql")
        data = {**{k: data[k] for k in head}, "diff": self.diff, **data}  # the order it had
        data["ok"] = self.ok
        for item, pair in zip(data["statements"], self.statements, strict=True):
            item["status"] = pair.status
        return data


def unified_diff(
    sqlite_text: str,
    postgres_text: str,
    filename: str,
    statements: Iterable[tuple[int, str]] = (),
) -> str:
    """A unified diff from the SQLite source to the PostgreSQL translation. ``statements``
    (each one's first source line and its PostgreSQL): a large file's diff is built piece by
    piece between them, in linear time (:mod:`malnu_tui.engine.textdiff`)."""
    if not sqlite_text.endswith("\n"):
        sqlite_text += "\n"
    if not postgres_text.endswith("\n"):
        postgres_text += "\n"
    return "".join(
        unified_lines(
            sqlite_text.splitlines(keepends=True),
            postgres_text.splitlines(keepends=True),
            statements,
            f"{filename} (SQLite)",
            f"{filename} (PostgreSQL)",
        )
    )


def _pairs(ft: FileTranslation, checked: bool) -> tuple[LinePair, ...]:
    pairs = [
        LinePair(st.line, st.source, "\n".join(s + ";" for s in st.output), st.findings, checked)
        for st in ft.statements
    ]
    pairs.extend(LinePair(f.line, "", "", (f,)) for f in ft.findings_outside)
    return tuple(sorted(pairs, key=lambda p: p.line))


def _with_rejections(ft: FileTranslation, rejections: Sequence[Finding]) -> FileTranslation:
    by_line: dict[int, list[Finding]] = {}
    for f in rejections:
        by_line.setdefault(f.line, []).append(f)
    statements = tuple(
        dataclasses.replace(st, findings=(*st.findings, *by_line[st.line]))
        if st.line in by_line
        else st
        for st in ft.statements
    )
    return dataclasses.replace(ft, statements=statements)


def translate_plan(
    migrations: Sequence[Migration],
    only: Iterable[str] | None = None,
    *,
    postgres_url: str | None = None,
) -> list[MigrationTranslation]:
    """Translate every migration in order (later files need the schema earlier ones made) and
    return those named in ``only`` (filenames), or all when ``only`` is None.

    With ``postgres_url`` every translated statement of every migration then runs, in order,
    on a scratch schema of that server (rolled back); each rejection is an error finding on its
    statement, and the statements PostgreSQL took are ``ok``."""
    wanted = None if only is None else set(only)
    # A migration not asked for is translated for the schema it leaves (a large one as it is
    # read, nothing of it kept), unless --check runs them all.
    every = wanted is None or postgres_url is not None
    state = SchemaState()
    try:
        fts = name_dependents(
            [
                translate_migration(
                    m, state, keep=every or m.filename in (wanted or ()), refuse=_REFUSE
                )
                for m in migrations
            ],
            state,
        )
    finally:
        state.close()
    if postgres_url is not None:
        from malnu_tui.engine.parity.scratch import check_translations

        rejections, _ran = check_translations(fts, postgres_url)
        fts = [_with_rejections(ft, [f for f in rejections if f.file == ft.file]) for ft in fts]
    result: list[MigrationTranslation] = []
    for m, ft in zip(migrations, fts, strict=True):
        if wanted is not None and m.filename not in wanted:
            continue
        source = m.read_text()  # (a file over TRANSLATE_WHOLE_BYTES was refused above)
        pg = ft.postgres_sql()
        result.append(
            MigrationTranslation(
                filename=m.filename,
                version=m.version,
                sqlite_source=source,
                postgres_sql=pg,
                statements=_pairs(ft, postgres_url is not None),
                findings=ft.findings,
                checked=postgres_url is not None,
            )
        )
    return result


def as_written(
    migrations: Sequence[Migration],
    only: Iterable[str] | None = None,
    *,
    postgres_url: str | None = None,
) -> list[MigrationTranslation]:
    """For a set already written in PostgreSQL's dialect (e.g. the analytics set): each file's
    SQL as it will run, with nothing translated. With ``postgres_url`` every statement of every
    file runs, in order, on a scratch schema of that server first (like ``translate_plan``)."""
    wanted = None if only is None else set(only)
    rejected: dict[tuple[str, int], list[Finding]] = {}
    if postgres_url is not None:
        from malnu_tui.engine.parity.scratch import check_statements

        files = [(m.filename, m.statements()) for m in migrations]
        for f in check_statements(files, postgres_url)[0]:
            rejected.setdefault((f.file, f.line), []).append(f)
    checked = postgres_url is not None
    result: list[MigrationTranslation] = []
    for m in migrations:
        if wanted is not None and m.filename not in wanted:
            continue
        _refuse_large(m)
        source = m.read_text()
        pairs = tuple(
            LinePair(
                st.line,
                st.text,
                st.text + ";",
                tuple(rejected.get((m.filename, st.line), ())),
                checked,
            )
            for st in m.statements()
        )
        findings = tuple(f for p in pairs for f in p.findings)
        result.append(
            MigrationTranslation(m.filename, m.version, source, source, pairs, findings, checked)
        )
    return result


# What else to do than split a file too large to show translated (`plan`, `diff`).
_REFUSE = "name the migrations to show instead of --all (`plan VERSION`)"


def _refuse_large(m: Migration) -> None:
    """A file over TRANSLATE_WHOLE_BYTES shown as written (held whole, twice) is refused as
    a translated one is."""
    from malnu_tui.engine.errors import MigrationFileError
    from malnu_tui.engine.translate.core import TRANSLATE_WHOLE_BYTES, too_large_to_translate

    size = 0 if m.text is not None else m.path.stat().st_size
    if size > TRANSLATE_WHOLE_BYTES:
        raise MigrationFileError(str(m.path), too_large_to_translate(size, _REFUSE))


def translate_rollback(
    migrations: Sequence[Migration],
    filename: str,
    *,
    postgres_url: str | None = None,
    written_for_postgres: bool = False,
) -> MigrationTranslation | None:
    """The rollback file of migration ``filename`` as it runs on PostgreSQL: translated with the
    schema every migration up to and including that one made (what it undoes), or as written
    for a PostgreSQL-dialect set. With ``postgres_url`` those migrations and then the rollback
    run, in order, on a scratch schema of that server (rolled back), as ``translate_plan``
    does; the rollback's statements are ``ok`` only when PostgreSQL took them. None when the
    migration or its rollback file does not exist. The rollback's findings name it
    ``<rollback dir>/<file>`` (a rollback file often has its migration's name)."""
    upto: list[Migration] = []
    for m in migrations:
        upto.append(m)
        if m.filename == filename:
            break
    else:
        return None
    rb = upto[-1].rollback
    if rb is None:
        return None
    key = f"{rb.path.parent.name}/{rb.filename}"
    source = rb.read_text()
    checked = postgres_url is not None
    if written_for_postgres:
        rejected: dict[int, list[Finding]] = {}
        rb_statements = rb.parts().statements
        if postgres_url is not None:
            from malnu_tui.engine.parity.scratch import check_statements

            files = [(m.filename, m.statements()) for m in upto] + [(key, rb_statements)]
            for f in check_statements(files, postgres_url)[0]:
                if f.file == key:
                    rejected.setdefault(f.line, []).append(f)
        pairs = tuple(
            LinePair(st.line, st.text, st.text + ";", tuple(rejected.get(st.line, ())), checked)
            for st in rb_statements
        )
        findings = tuple(f for p in pairs for f in p.findings)
        return MigrationTranslation(
            rb.filename, upto[-1].version, source, source, pairs, findings, checked
        )
    state = SchemaState()
    try:
        fts = [translate_migration(m, state, keep=checked, refuse=_REFUSE) for m in upto]
        fts.append(translate_script(source, key, state))
        fts = name_dependents(fts, state)
    finally:
        state.close()
    ft = fts[-1]
    if postgres_url is not None:
        from malnu_tui.engine.parity.scratch import check_statements

        files = [
            (t.file, [Statement(text, st.line) for st in t.statements for text in st.output])
            for t in fts
        ]
        rejections = check_statements(files, postgres_url)[0]
        ft = _with_rejections(ft, [f for f in rejections if f.file == key])
    pg = ft.postgres_sql()
    return MigrationTranslation(
        filename=rb.filename,
        version=upto[-1].version,
        sqlite_source=source,
        postgres_sql=pg,
        statements=_pairs(ft, checked),
        findings=ft.findings,
        checked=checked,
    )
