"""The sync screen's report under its tables, in the CLI's words: what a run says before its
tables (warnings, plan notes), its progress, each table's outcome, and, when it fails, what it
synced before the error and where it stopped."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from malnu_tui.engine.sync import TablePlan, TableReport

VERIFIED = {True: ("✔ yes", "green"), False: ("✘ no", "bold red"), None: ("—", "")}
MAX_KEYS_SHOWN = 20


def said_lines(warnings: Sequence[str], plans: Sequence[TablePlan] = ()) -> tuple[str, ...]:
    """What the CLI prints on stderr before a run's table, in its words: the engine's warnings
    (:func:`engine.sync.left_behind`) and each table's plan notes (a full pass and why, the
    copy's triggers that fire on the sync's writes…)."""
    return tuple(f"warning: {w}" for w in warnings) + tuple(
        f"{p.table}: note: {n}" for p in plans for n in p.notes
    )


def said_text(said: Sequence[str]) -> Text:
    """:func:`said_lines` shown first in the report: warnings in words and in colour."""
    out = Text()
    for line in said:
        if line.startswith("warning: "):
            out.append("⚠ warning: ", style="bold yellow")
            out.append(line.removeprefix("warning: ") + "\n")
        else:
            table, note = line.split(": note: ", 1)
            out.append(f"{table}: ", style="bold")
            out.append("note: ", style="yellow")
            out.append(note + "\n")
    return out


def progress_report(working: str, lines: Mapping[str, str]) -> Text:
    """What a running sync, verify or dry run has done so far, a line per table (under the
    tables: their progress column is past the right edge of an 80-column terminal)."""
    shown = Text(f"{working}: ", style="bold")
    for name, line in lines.items():
        shown.append(f"\n  {'✔' if line == 'done' else '⟳'} {name}: {line}")
    return shown


def table_lines(r: TableReport, what: str, indent: str = "  ") -> Text:
    """One table's outcome of a sync, verify or dry run: the CLI's columns in words, then why
    it differs and the differing keys (``indent`` before each of those lines)."""
    out = Text()
    verbs = (
        ("would insert", "would update", "would delete")
        if what == "dry run"
        else ("inserted", "updated", "deleted")
    )
    label, style = VERIFIED[r.verified if what != "dry run" else None]
    out.append(f"{r.table}: ", style="bold")
    if what != "verify":
        out.append(
            f"{r.mode}, read {r.read:,}, {verbs[0]} {r.inserted:,}, "
            f"{verbs[1]} {r.updated:,}, {verbs[2]} {r.deleted:,}; "
        )
    out.append(f"source {r.source_count:,} rows, destination {r.dest_count:,}; verified ")
    out.append(label, style=style)
    if r.scope == "changed" and what != "dry run":
        out.append(" (what it changed; v verifies every row)")
    out.append("\n")
    if r.note:  # why it differs (columns added since), or that it has no copy yet
        out.append(f"{indent}note: ", style="yellow")
        out.append(f"{r.note}\n")
    for w in r.warnings:  # a sequence it could not move, with the setval to run
        out.append(f"{indent}warning: ", style="yellow")
        out.append(f"{w}\n")
    for d in r.differences[:MAX_KEYS_SHOWN]:
        out.append(f"{indent}{d.describe(r.key)}\n")
    if len(r.differences) > MAX_KEYS_SHOWN:
        out.append(
            f"{indent}… and {len(r.differences) - MAX_KEYS_SHOWN} more "
            "(malnu-tui sync verify --json lists them all)\n"
        )
    return out


def stopped_text(r: TableReport) -> Text:
    """The table a sync stopped at, as its audit row says it: what its whole chunks wrote, and
    both sides counted as it stopped (``not counted``: a side that could not be counted, the
    server gone, say, never the plan's count of before)."""

    def rows(side: str, n: int) -> str:
        return f"{side} not counted" if side in r.uncounted else f"{side} {n:,} rows"

    out = Text()
    out.append(f"{r.table}: ", style="bold")
    out.append("stopped", style="bold red")
    out.append(
        f": {r.mode}, read {r.read:,}, inserted {r.inserted:,}, updated {r.updated:,}, "
        f"deleted {r.deleted:,}; as it stopped: {rows('source', r.source_count)}, "
        f"{rows('destination', r.dest_count)}; verified "
    )
    out.append(VERIFIED[False][0], style=VERIFIED[False][1])
    if r.inserted + r.updated + r.deleted:
        out.append(
            "\n    what whole chunks wrote before it stopped stays in the destination; "
            "the next sync resumes after them"
        )
    return out


def failed_report(
    working: str,
    lines: Mapping[str, str],
    done: Sequence[TableReport] = (),
    stopped: Sequence[TableReport] = (),
    planned: Sequence[str] = (),
) -> Text:
    """What a run that failed leaves under its error: that it stopped; of a sync, each table
    it synced before the error (``done``, as a finished sync reports it), the one it stopped
    at (``stopped``: :func:`stopped_text`) and the ``planned`` ones it did not reach; of any
    other table, its last progress (its "reading both sides…" or "⟳ copy 5,000" stayed, as
    if it still ran)."""
    shown = Text(f"✘ {working} failed: see the error above", style="bold")
    ended = {r.table: r for r in done}
    at = {r.table: r for r in stopped}
    for name in dict.fromkeys([*planned, *ended, *at, *lines]):
        if name in ended:
            r = ended[name]
            shown.append(f"\n  {'✔' if r.verified else '✘'} ")
            line = table_lines(r, "sync", indent="    ")
            line.rstrip()
            shown.append_text(line)
        elif name in at:
            shown.append("\n  ✘ ")
            shown.append_text(stopped_text(at[name]))
        elif name not in lines:
            shown.append(f"\n  ○ {name}: not synced (the sync stopped before it)")
        elif lines[name] == "done":
            shown.append(f"\n  ✔ {name}: done")
        else:
            shown.append(f"\n  ✘ {name}: stopped at {lines[name]}")
    return shown


# The CLI's flag, in a hint: the console's run takes the pair's tables from the config.
_TABLES_FLAG = re.compile(r"--tables(?: (?P<names>[\w.,-]+))?")


def pair_tables_hint(hint: str, pair: str) -> str:
    """``hint`` with the CLI's ``--tables`` (which the console has not) said as the pair's
    ``[sync.PAIR] tables`` (``--tables a,b`` as ``tables = ["a", "b"]``)."""

    def swap(m: re.Match[str]) -> str:
        names = m.group("names")
        listed = ", ".join(f'"{n}"' for n in names.split(",")) if names else ""
        return f"[sync.{pair}] tables" + (f" = [{listed}]" if names else "")

    return _TABLES_FLAG.sub(swap, hint.replace("out with --tables", "out of --tables"))


def refused_report(
    working: str, message: str, hint: str, pair: str, config: Path | None, *, writes: bool
) -> Text:
    """A run the engine refused before it began (the CLI's exit 2: a cycle of the copy's
    foreign keys, a copy whose columns need an ALTER, a table with no key…), said whole in
    the report, which scrolls: the reason, then each way out on its own line, the CLI's
    ``--tables`` as the pair's tables. In the error box at 80×24 the way out was cut after
    six lines (a cycle's showed "drop one of these foreign keys at the copy (academic_…"),
    under "✘ sync of reporting failed". ``writes``: a sync (not a verify or a dry run), said
    to have written nothing."""
    from malnu_tui.tui.widgets.error_box import console_hint, failure_text

    told = pair_tables_hint(console_hint(hint), pair) if hint else ""
    shown = failure_text(
        working, message.removeprefix("sync refused: "), told, refused=True, writes=writes
    )
    if told != console_hint(hint) and config is not None:
        shown.append(f"\n  ([sync.{pair}] is in {config})", style="dim")
    shown.rstrip()
    return shown
