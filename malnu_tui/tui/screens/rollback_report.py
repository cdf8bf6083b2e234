"""What the rollback wizard says once its run is over: the verification (the status read
again, checksums) and the summary, with what the safety backup is for now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text

from malnu_tui.tui.screens.wizard import warn_unreleased

if TYPE_CHECKING:
    from malnu_tui.engine.migrate import ApplyResult
    from malnu_tui.tui.session import RunOutcome


def verify_text(outcome: RunOutcome | None, run_error: str | None, planned: Sequence[str]) -> Text:
    """The verification step: whether the ``planned`` files are rolled back and the applied
    files' checksums still match, then the status summary as read afterwards."""
    text = Text()
    if run_error:
        text.append("✘ the rollback stopped: ", style="bold red")
        text.append(run_error + "\n")
    after = outcome.after if outcome is not None else None
    if after is None:
        text.append("⚠ the status afterwards could not be read\n", style="bold yellow")
        return text
    if planned and not after.not_done:
        text.append(
            f"✔ {len(planned)} migration(s) rolled back: their tracking rows are gone\n",
            style="green",
        )
    elif after.not_done:
        text.append(f"⚠ still applied: {', '.join(after.not_done)}\n", style="bold yellow")
    result = after.verified
    if result.ok:
        text.append(f"✔ checksums of {result.checked} applied file(s) match\n", style="green")
    else:
        text.append(
            f"⚠ {len(result.drifted)} drifted, {len(result.missing)} missing\n",
            style="bold yellow",
        )
    text.append(after.report.summary())
    return text


def summary_text(
    where: str,
    result: ApplyResult | None,
    outcome: RunOutcome | None,
    run_error: str | None,
    backup_id: str | None,
) -> Text:
    """The summary step: what was rolled back on ``where`` (or why not), the status now, and
    the safety backup with what it is for."""
    text = Text()
    if result is not None:
        text.append(f"✔ rolled back {len(result.done)} migration(s) ", style="bold")
        text.append(f"on {where}\n")
        for filename, ms in result.done:
            text.append(f"  ↶ {filename} ({ms} ms)\n")
        for filename in result.skipped:
            text.append(f"  – {filename}: already rolled back by someone else\n")
        warn_unreleased(text, "rolled back", result.warnings)
    else:
        text.append("✘ the rollback did not complete\n", style="bold red")
        if run_error:
            text.append(f"  {run_error}\n")
    if outcome is not None and outcome.after is not None:
        text.append(f"\nNow: {outcome.after.report.summary()}\n")
    text.append("\n")
    text.append_text(backup_advice(result, outcome, backup_id))
    return text


def backup_advice(
    result: ApplyResult | None, outcome: RunOutcome | None, backup_id: str | None
) -> Text:
    """What the safety backup is for now: never advise a restore that would undo other
    operators' work when this rollback changed nothing."""
    text = Text()
    o = outcome
    backup_id = backup_id or (o.backup_id if o is not None else None)
    changed = result is not None or (o is not None and bool(o.done))
    if backup_id is None:
        text.append("No safety backup was taken", style="bold")
        text.append(": nothing was changed.\n" if not changed else ".\n")
        return text
    text.append("Safety backup: ", style="bold")
    text.append(f"{backup_id}\n", style="bold reverse")
    if not changed:
        text.append(
            "Nothing was changed; the safety backup is kept. Do not restore it: the "
            "database is still as it was, and a restore would also undo whatever was "
            "written since (another operator's migration, new rows).\n"
        )
    elif result is None:
        text.append(
            "Part of the plan ran (each file is one transaction: none is half-done). Fix "
            "the cause and roll back again; restoring the backup (b) would also undo "
            "whatever was written since it was taken.\n"
        )
    else:
        text.append(
            "It holds the database as it was just before this rollback. Restoring it "
            "(Backups, b, then o) undoes the rollback, and also whatever was written "
            "since.\n"
        )
    return text
