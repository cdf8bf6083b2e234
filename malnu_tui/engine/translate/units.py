"""A SQLite-dialect migration set as PostgreSQL units the engine can run on a PostgreSQL target
(the secondary keeping copies of the primary's tables): every migration and rollback file
translated, each PostgreSQL statement keeping the line of the SQLite statement it came from, so
a failure still names the SQLite file's line."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.files import Migration, MigrationSet
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.translate.core import translate_migration, translate_script
from malnu_tui.engine.translate.model import FileTranslation, Finding
from malnu_tui.engine.translate.schema import SchemaState

if TYPE_CHECKING:
    from malnu_tui.engine.migrate import Plan

__all__ = ["PostgresUnits", "Untranslated", "postgres_plan", "postgres_units"]


class Untranslated(MalnuError):
    """Some statements have no faithful PostgreSQL translation: nothing is run."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        lines = "; ".join(f"{f.file}:{f.line}: {f.construct}: {f.why}" for f in self.findings)
        super().__init__(
            f"cannot run on PostgreSQL as translated: {lines}",
            hint="see `malnu-tui plan`; write a PostgreSQL-specific migration for these",
        )


def _statements(ft: FileTranslation) -> tuple[Statement, ...]:
    return tuple(Statement(text, st.line) for st in ft.statements for text in st.output)


@dataclass(frozen=True)
class PostgresUnits:
    """PostgreSQL statements per migration filename (and per migration for its rollback)."""

    migrations: Mapping[str, tuple[Statement, ...]]
    rollbacks: Mapping[str, tuple[Statement, ...]]
    findings: Mapping[str, tuple[Finding, ...]]  # by migration filename, rollback's included

    def require(self, filenames: Iterable[str], *, rollback: bool | None = None) -> None:
        """Raise :class:`Untranslated` when any of ``filenames`` has an untranslatable
        statement: in the migration (``rollback=False``), its rollback (``True``) or either
        (``None``)."""
        bad = [
            f
            for name in filenames
            for f in self.findings.get(name, ())
            if f.severity == "error" and (rollback is None or (f.file != name) == rollback)
        ]
        if bad:
            raise Untranslated(bad)


def postgres_units(
    migrations: MigrationSet | Iterable[Migration], keep: Collection[str] | None = None
) -> PostgresUnits:
    """Translate every migration in order, and each rollback against the schema as it stands
    right after its migration (so e.g. ``DROP TRIGGER`` knows the trigger's table).
    ``keep``: the migrations whose statements are wanted (None: all); a large file among the
    others is translated as it is read, for the schema it leaves (its errors kept)."""
    items = migrations.migrations if isinstance(migrations, MigrationSet) else tuple(migrations)
    state = SchemaState()
    units: dict[str, tuple[Statement, ...]] = {}
    rollbacks: dict[str, tuple[Statement, ...]] = {}
    findings: dict[str, tuple[Finding, ...]] = {}
    try:
        for m in items:
            ft = translate_migration(m, state, keep=keep is None or m.filename in keep)
            units[m.filename] = _statements(ft)
            found = list(ft.findings)
            if m.rollback is not None:
                scratch = state.clone()
                try:
                    rb = translate_script(m.rollback.read_text(), m.rollback.filename, scratch)
                finally:
                    scratch.close()
                rollbacks[m.filename] = _statements(rb)
                found.extend(rb.findings)
            findings[m.filename] = tuple(found)
    finally:
        state.close()
    return PostgresUnits(units, rollbacks, findings)


def postgres_plan(plan: Plan, mset: MigrationSet) -> Plan:
    """The same plan with each step's SQLite statements replaced by their PostgreSQL
    translation, for a PostgreSQL target that keeps copies of the primary's tables.

    Raises :class:`Untranslated` (before anything runs) when a step cannot be translated.
    """
    down = plan.direction == "down"
    # Rolled back, a migration's own statements are not run: only the schema it left.
    units = postgres_units(mset, () if down else {s.filename for s in plan.steps})
    units.require((s.filename for s in plan.steps), rollback=down)
    source = units.rollbacks if down else units.migrations
    note = "translated from SQLite to PostgreSQL (see `malnu-tui plan`)"
    steps = tuple(
        dataclasses.replace(s, statements=source[s.filename], notes=(*s.notes, note))
        for s in plan.steps
    )
    return dataclasses.replace(plan, steps=steps)
