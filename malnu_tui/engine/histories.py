"""Other tools' migration histories in a target's database, as ``status`` says them: wrangler's
``d1_migrations`` (d1/wrangler.py), the Supabase CLI's table (pg_record.py) and the other
runners' (Prisma, Drizzle, dbmate, Rails, golang-migrate, Flyway, Alembic: other_runners.py).
One reading, one wording, for the CLI's ``status`` and the console's status screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backends.d1.wrangler import WranglerRow
    from malnu_tui.engine.backends.other_runners import Finding
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.status import StatusReport

__all__ = ["HistoryNote", "OtherHistories", "read_other_histories"]


@dataclass(frozen=True)
class HistoryNote:
    """One thing ``status`` says about another tool's history."""

    warning: bool  # `up` refuses what it applied until `adopt` records it (else: a note)
    text: str  # the sentence, without its "warning:"/"note:" word
    line: str  # as the CLI's `status` prints it (stderr)
    about: str  # whose history, in a few words: ``Prisma (_prisma_migrations, 2 row(s))``

    @property
    def word(self) -> str:
        return "warning" if self.warning else "note"


def _names(names: list[str]) -> str:
    return f"{', '.join(names[:3])}{'…' if len(names) > 3 else ''}"


@dataclass(frozen=True)
class OtherHistories:
    """wrangler's history beside ours (D1, SQLite) and every other runner's finding, the
    Supabase CLI's with them (PostgreSQL), as ``up`` judges them."""

    wrangler: tuple[WranglerRow, ...] = ()
    findings: tuple[Finding, ...] = ()
    wrangler_table: str = "d1_migrations"  # as wrangler's config names it (d1/wrangler.py)

    def notes(self) -> list[HistoryNote]:
        """What ``status`` says, in its order: wrangler's, the Supabase CLI's, the others'."""
        out: list[HistoryNote] = []
        untracked = [r.name for r in self.wrangler if not r.tracked and r.in_files]
        if untracked:
            text = (
                f"wrangler applied {len(untracked)} migration(s) this tool does not track "
                f"({_names(untracked)}): run `malnu-tui adopt` to record them without running them"
            )
            about = f"wrangler ({self.wrangler_table}, {len(untracked)} untracked row(s))"
            out.append(HistoryNote(True, text, text, about))
        # A row naming no file of this set (another set's, a file since removed): `up` refuses
        # nothing for it and `adopt` has nothing to record, so it is no warning.
        elsewhere = [r.name for r in self.wrangler if not r.tracked and not r.in_files]
        if elsewhere:
            text = (
                f"wrangler's {self.wrangler_table} names {len(elsewhere)} migration(s) with no "
                f"file here ({_names(elsewhere)}): nothing to adopt, `up` refuses nothing for "
                "them; `malnu-tui d1 wrangler-status` shows both histories"
            )
            about = f"wrangler ({self.wrangler_table}, {len(elsewhere)} row(s) with no file here)"
            out.append(HistoryNote(False, text, f"note: {text}", about))
        for f in self.findings:
            if not f.runner.known:
                continue
            theirs = [name for name, _w in f.applied_here]
            if theirs:
                text = (
                    f"{f.runner.tool} applied {len(theirs)} migration(s) this tool does not "
                    f"track ({_names(theirs)}): run `malnu-tui adopt` to record them without "
                    "running them (`up` refuses them)"
                )
                out.append(HistoryNote(True, text, text, f.runner.describe()))
        for f in self.findings:
            if not f.runner.known:
                warning, text = f.status_note()
                out.append(HistoryNote(warning, text, f.status_line(), f.runner.describe()))
        return out

    def as_json(self) -> dict[str, object]:
        """``status --json``'s ``wrangler`` and ``other_runners`` (each only when found)."""
        data: dict[str, object] = {}
        if self.wrangler:
            data["wrangler"] = [r.as_json() for r in self.wrangler]
        if self.findings:
            data["other_runners"] = [f.as_json() for f in self.findings]
        return data


def _wrangler(backend: Backend, mset: MigrationSet) -> tuple[tuple[WranglerRow, ...], str]:
    if backend.kind not in ("d1", "sqlite"):
        return (), "d1_migrations"
    from malnu_tui.engine.backends.d1.wrangler import (
        DEFAULT_TABLE,
        read_from_backend,
        table_for,
        wrangler_status,
    )
    from malnu_tui.engine.errors import MalnuError

    table = DEFAULT_TABLE
    try:
        table = table_for(backend, mset.migrations_dir)
        applied = read_from_backend(backend, table)
        if applied:
            return tuple(wrangler_status(mset, applied, backend.fetch_records())), table
    except MalnuError:
        pass
    return (), table


def read_other_histories(
    backend: Backend, mset: MigrationSet, report: StatusReport
) -> OtherHistories:
    """Every other tool's history in the database of ``report`` (read on ``backend``; reads
    only): wrangler's rows with whether this tool tracks each, and the other runners' findings
    (the Supabase CLI's with them) for the pending files of ``report``, as `up` judges them."""
    from malnu_tui.engine.backends.other_runners import applied_by_other_runners
    from malnu_tui.engine.status import DONE_STATES, MigrationState

    waiting = (MigrationState.PENDING, MigrationState.FAILED)
    pending = [m.filename for m in report.migrations if m.state in waiting]
    taken_over = any(m.state in DONE_STATES for m in report.migrations)
    findings = applied_by_other_runners(backend, taken_over, pending, mset, with_known=True)
    rows, table = _wrangler(backend, mset)
    return OtherHistories(rows, tuple(findings), table)
