"""Backup commands: ``backup create | list | verify | restore | prune | delete`` and
``recover --to TIME``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from malnu_tui.cli.argtypes import count, times_read

if TYPE_CHECKING:
    from datetime import datetime

    from malnu_tui.cli.context import Context
    from malnu_tui.engine.backup import BackupManifest, BackupProgress, BackupProgressCallback
    from malnu_tui.engine.backup.restore import RestoreResult
    from malnu_tui.engine.plan import Preflight


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from malnu_tui.engine.backup.store import REASONS

    bp = sub.add_parser(
        "backup", parents=[common], help="create, list, verify, restore, delete, prune backups"
    )
    bsub = bp.add_subparsers(dest="backup_command", metavar="ACTION", required=True)

    p = bsub.add_parser("create", parents=[common], help="back the database up now")
    p.add_argument("--reason", default="manual", choices=REASONS, help="recorded in the manifest")
    p.set_defaults(handler=cmd_create)

    p = bsub.add_parser("list", parents=[common], help="backups of the target, newest first")
    p.set_defaults(handler=cmd_list)

    p = bsub.add_parser("verify", parents=[common], help="re-hash and re-check a backup")
    p.add_argument("id", help="backup id (a unique prefix is enough)")
    p.add_argument("--deep", action="store_true", help="also restore into a scratch database")
    p.set_defaults(handler=cmd_verify)

    p = bsub.add_parser("restore", parents=[common], help="replace the database with a backup")
    p.add_argument("id", help="backup id (a unique prefix is enough)")
    p.add_argument(
        "--from-another-database",
        action="store_true",
        help="with --yes: restore a backup taken of another database over this one (refused "
        "without it: --yes alone never does)",
    )
    p.set_defaults(handler=cmd_restore)

    p = bsub.add_parser("prune", parents=[common], help="delete old backups (retention)")
    p.add_argument("--keep", type=count, metavar="N", help="keep the N newest")
    p.add_argument(
        "--older-than", type=float, metavar="DAYS", help="delete backups older than DAYS"
    )
    p.set_defaults(handler=cmd_prune)

    p = bsub.add_parser("delete", parents=[common], help="delete one backup")
    p.add_argument("id", help="backup id")
    p.set_defaults(handler=cmd_delete)

    p = sub.add_parser("recover", parents=[common], help="point-in-time recovery to --to TIME")
    p.add_argument(
        "--to", required=True, metavar="TIME", help="ISO 8601 (UTC if no zone) or -2h, -30m, -1d"
    )
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument(
        "--accept-edited-rollback",
        action="store_true",
        help="run rollback files edited since their migration was applied (audited)",
    )
    p.set_defaults(handler=cmd_recover, line_check=times_read("to"))


# -- helpers ----------------------------------------------------------------------------------


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _progress(ctx: Context) -> BackupProgressCallback:
    """Phase messages on stderr; a live percentage when stderr is a terminal."""
    tty = ctx.stderr.isatty()
    last: list[str] = [""]

    def show(p: BackupProgress) -> None:
        if p.message and p.phase != "done":
            if tty and last[0]:
                ctx.stderr.write("\n")
            ctx.message(p.message)
            last[0] = ""
        elif tty and p.fraction is not None:
            text = f"\r  {p.phase} {p.fraction * 100:5.1f}%"
            ctx.stderr.write(text)
            ctx.stderr.flush()
            last[0] = text

    return show


def _manifest_row(m: BackupManifest) -> tuple[str, ...]:
    return (
        m.id,
        m.created_at[:19].replace("T", " "),
        m.reason,
        _size(m.size),
        m.head or "—",
        m.verified_label,
        m.sha256[:12],
    )


def _show_manifest(ctx: Context, m: BackupManifest) -> None:
    ctx.message(
        f"  {m.id}  taken {m.created_at} ({m.reason}), {_size(m.size)}, head {m.head or '—'}, "
        f"{len(m.migrations)} migration(s), {sum(m.row_counts.values())} row(s)"
    )


# -- commands ---------------------------------------------------------------------------------


def cmd_create(ctx: Context) -> int:
    from malnu_tui.engine.backup import create_backup
    from malnu_tui.engine.config import require_existing

    # A mistyped path (cron's `sqlite:///srv/sekolah/app.db` for ////): opening it made a new,
    # empty database, and its backup was "checked", every hour, for months.
    require_existing(ctx.target)
    backend = ctx.backend()
    manifest = create_backup(backend, ctx.target, reason=ctx.args.reason, progress=_progress(ctx))
    if ctx.json:
        ctx.out_json(manifest.shown_json())
    else:
        ctx.out(manifest.id)
    ctx.message(
        f"backup {manifest.id}: {_size(manifest.size)}, sha256 {manifest.sha256[:16]}…, "
        f"checked; stored in {ctx.target.backup_dir}"
    )
    return 0


def cmd_list(ctx: Context) -> int:
    from malnu_tui.engine.backup import backups_of
    from malnu_tui.engine.backup.owners import other_owners
    from malnu_tui.engine.backup.store import unreadable_manifests

    backups, others = backups_of(ctx.target)
    for bid, why in unreadable_manifests(ctx.target.backup_dir):
        ctx.message(f"warning: backup {bid} is not listed (nor restored or pruned): {why}")
    for m in backups:
        if "missing" in m.details:
            ctx.message(f"warning: backup {m.id} cannot be restored: {m.details['missing']}")
        elif m.changed:
            ctx.message(
                f"warning: backup {m.id} is not counted as verified: {m.changed}; run "
                f"`malnu-tui backup verify {m.id}`"
            )
    if others:
        ctx.message(
            f"note: {len(others)} backup(s) of other databases in {ctx.target.backup_dir} are "
            f"not listed: {other_owners(others, ctx.target.name)} (list them with --target)"
            + (
                f"; those taken as {ctx.target.name} at another URL (its URL before a move?) "
                "are restored by id only, with --from-another-database beside --yes"
                if any(m.target_name == ctx.target.name for m in others)
                else ""
            )
        )
    if ctx.json:
        ctx.out_json([m.shown_json() for m in backups])
        return 0
    if not backups:
        ctx.message(f"no backups in {ctx.target.backup_dir}")
        return 0
    from malnu_tui.cli.output import print_table

    # Its database's backups taken under another name (another config's, `--database`'s)
    # are found in their stores beside its own: each is listed with the name it was taken as.
    stores = sorted({m.details["store"] for m in backups if "store" in m.details})
    beside = bool(stores)
    where = ", ".join([str(ctx.target.backup_dir), *stores])
    print_table(
        ctx.stdout,
        ["id", "created (UTC)", "reason", "size", "head", "verified", "sha256"]
        + (["taken as"] if beside else []),
        [_manifest_row(m) + ((m.target_name or "—",) if beside else ()) for m in backups],
        title=f"{ctx.target.name}: {len(backups)} backup(s) in {where}",
    )
    return 0


def cmd_verify(ctx: Context) -> int:
    from malnu_tui.engine.backup import verify_backup

    report = verify_backup(ctx.target, ctx.args.id, deep=ctx.args.deep, progress=_progress(ctx))
    if ctx.json:
        ctx.out_json(report.as_json())
    else:
        for c in report.checks:
            said = "✔ ok  " if c.ok else "– not run" if c.not_run else "✘ FAIL"
            ctx.out(f"{said}  {c.name}: {c.detail}")
    if report.unrecorded:
        was = "verified" if report.manifest.verified_at else "not verified"
        ctx.message(
            f"warning: the outcome could not be recorded in its manifest: {report.unrecorded}; "
            f"`check` and `recover` still count this backup as {was}"
        )
    if report.ok:
        ctx.message(f"backup {report.backup_id} is good")
        return 0
    if report.sound:  # the file is good; this server lacks what its restore needs
        for c in report.checks:
            if not c.ok:
                ctx.message(f"hint: {c.way_out}")
        if any(c.not_run for c in report.checks):
            was = "verified" if report.manifest.verified_at else "not verified"
            ctx.message(
                f"backup {report.backup_id}: the file passed every check that ran; nothing was "
                f"concluded about the rest, its verified state is as it was ({was})"
            )
            return 1
        ctx.message(
            f"backup {report.backup_id}: the file is sound (still counted as verified), but a "
            "restore into this server fails until what is named above exists"
        )
        return 1
    ctx.message(f"backup {report.backup_id} FAILED verification: it will not be restored")
    return 1


def _show_status(ctx: Context, extra: dict[str, object]) -> None:
    """The migration status of the database after a restore or recovery. The work is done by
    then: a status that cannot be read (the migrations folder holding the bad deploy's own
    file, a duplicate version) is a warning, exit 0, the JSON still written (`"status":
    null`). It was the command's `error: …` (exit 2), with no JSON, after a restore that was
    done: a script took it for a failed restore and never learnt the pre-restore id."""
    from malnu_tui.cli.migrate import cmd_status
    from malnu_tui.engine.errors import MalnuError
    from malnu_tui.engine.migrate import status
    from malnu_tui.engine.monitor.debuglog import mask_secrets, one_line

    try:
        if ctx.json:
            report = status(ctx.backend(), ctx.migration_set(), ctx.target.name)
            ctx.out_json({**extra, "status": report.as_json()})
            return
        ctx.message("Migration status of the restored database:")
        cmd_status(ctx)
    except MalnuError as exc:
        said = one_line(mask_secrets(str(exc)))
        if ctx.json:
            ctx.out_json({**extra, "status": None, "status_error": said})
        ctx.message(f"warning: done, but the migration status cannot be shown: {said}")
        if exc.hint:
            ctx.message(one_line(mask_secrets(f"hint: {exc.hint}")))


def _lock_preflight(ctx: Context, operation: str) -> Preflight:
    """The lock precondition before the prompt (:func:`cli.plans.lock_preflight`)."""
    from malnu_tui.cli.plans import lock_preflight

    return lock_preflight(ctx, ctx.backend(), ctx.target, operation)


def cmd_restore(ctx: Context) -> int:
    from malnu_tui.engine.backup import backup_of, find_backup, restore_backup

    backend = ctx.backend()
    manifest = find_backup(ctx.target, ctx.args.id)
    ctx.message(f"Restore plan for {ctx.target.name} ({backend.display_url}):")
    ctx.message("  1. verify the backup (hash and engine check); a bad backup stops here")
    ctx.message("  2. back up the current database (pre-restore), so this can be undone")
    ctx.message("  3. replace the whole database with:")
    _show_manifest(ctx, manifest)
    if not backup_of(manifest, ctx.target):
        ctx.message(
            f"  note: this is a backup of {manifest.target_name} ({manifest.target}), "
            f"not of {ctx.target.name} ({backend.display_url}): that database's data replaces "
            "this one's."
        )
        _refuse_another_database(ctx, manifest)
    ctx.message("  Every change made since then is replaced (it stays in the pre-restore backup).")
    pf = _lock_preflight(ctx, "restore")
    ctx.confirm(f"restore backup {manifest.id} over {backend.name}", pf.database_name)
    result = restore_backup(backend, ctx.target, manifest.id, progress=_progress(ctx))
    try:
        ctx.message(f"restored {result.backup_id} in {result.seconds:.1f} s; {_undo(ctx, result)}")
        for warning in result.warnings:
            ctx.message(f"warning: the restore is done, but: {warning}")
        if not result.schema_matches:
            ctx.message("warning: the restored schema hash differs from the manifest")
        _show_status(ctx, result.as_json())
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM: done all the same
        _interrupted_report(
            ctx, f"restored {result.backup_id}; {_undo(ctx, result)}", result.as_json()
        )
    return 0


def _refuse_another_database(ctx: Context, manifest: BackupManifest) -> None:
    """``--yes`` alone never restores another database's backup over this one: a script's
    `backup restore ID --yes` given an id of another database's (a shared store, two configs'
    ``prod``, the wrong runbook line) put its data over this one's, the plan's note read by
    nobody. ``--from-another-database`` says it is meant (copying production into staging);
    at a terminal the typed confirmation, after the note, does."""
    from malnu_tui.engine.errors import ConfigError

    if ctx.opt("yes", False) and not ctx.opt("from_another_database", False):
        who = manifest.target_name or manifest.target
        raise ConfigError(
            f"backup {manifest.id} is a backup of {who} ({manifest.target}), not of "
            f"{ctx.target.name}: --yes alone never restores another database's data over this "
            "one; nothing was changed",
            hint="if that is what you mean (a copy of production into staging), add "
            "--from-another-database; else give the id of one of this database's backups "
            "(`malnu-tui backup list`)",
        )


def _interrupted_report(ctx: Context, done: str, extra: dict[str, object]) -> None:
    """Ctrl-C or SIGTERM while a finished restore (or recover) was reported, its migration
    status shown (D1's takes some round trips): it said `interrupted` (exit 130) or
    `terminated` (exit 143) after `restored …`, as if it had been stopped; exit 0 now."""
    ctx.message(f"warning: done ({done}); an interrupt came while it was reported, the "
                "migration status is not shown: `malnu-tui status`")  # fmt: skip
    if ctx.json:
        ctx.out_json({**extra, "status": None, "status_error": "interrupted"})


def _undo(ctx: Context, result: RestoreResult) -> str:
    if result.pre_restore_verified:
        return f"to undo: {ctx.again('backup', 'restore', result.pre_restore_id)}"
    return f"the damaged database it replaced is kept as backup {result.pre_restore_id}"


def cmd_prune(ctx: Context) -> int:
    from malnu_tui.engine.backup import pinned_backups, plan_prune, prune_under_lock

    keep: int | None = ctx.args.keep
    older: float | None = ctx.args.older_than
    pins = pinned_backups(ctx.backend())
    plan = plan_prune(
        ctx.target.backup_dir, keep=keep, older_than_days=older, target=ctx.target, pinned=pins
    )
    pinned = [{"id": bid, "why": why} for bid, why in plan.pinned]
    failed = [{"id": bid, "why": why} for bid, why in plan.unsound]
    for bid, why in plan.unsound:
        ctx.message(f"warning: backup {bid} failed verification, it is not kept as the newest "
                    f"verified one: {why}")  # fmt: skip
    if not plan.delete:
        ctx.message(f"nothing to prune: {len(plan.keep)} backup(s) kept")
        _show_pinned(ctx, plan.pinned)
        if ctx.json:
            ctx.out_json({"deleted": [], "kept": [m.id for m in plan.keep], "pinned": pinned,
                          "failed_verification": failed})  # fmt: skip
        return 0
    ctx.message(f"Prune plan: delete {len(plan.delete)} backup(s), {_size(plan.bytes_freed)}:")
    for m in plan.delete:
        _show_manifest(ctx, m)
    if plan.protected:
        ctx.message(f"  kept always: {plan.protected} (the newest verified backup)")
    _show_pinned(ctx, plan.pinned)
    ctx.confirm(f"delete {len(plan.delete)} backup(s)", ctx.backend().name)
    done = prune_under_lock(ctx.backend(), ctx.target, plan, keep=keep, older_than_days=older)
    if len(done) < len(plan.delete):
        ctx.message(
            f"kept {len(plan.delete) - len(done)} of the planned backup(s): planned again "
            "under the lock, the rule no longer deletes them"
        )
    if ctx.json:
        kept = [m.id for m in plan.keep]
        kept += [m.id for m in plan.delete if m not in done]
        ctx.out_json({"deleted": [m.id for m in done], "kept": kept, "pinned": pinned,
                      "failed_verification": failed})  # fmt: skip
    else:
        for m in done:
            ctx.out(m.id)
    ctx.message(f"deleted {len(done)} backup(s)")
    return 0


def _show_pinned(ctx: Context, pinned: tuple[tuple[str, str], ...]) -> None:
    for bid, why in pinned:
        ctx.message(f"  kept: {bid} ({why})")


def cmd_delete(ctx: Context) -> int:
    from malnu_tui.engine.backup import delete_backup, find_backup, pinned_backups
    from malnu_tui.engine.backup.owners import refuse_foreign

    manifest = find_backup(ctx.target, ctx.args.id)
    refuse_foreign(manifest, ctx.target, "deleted")
    ctx.message("Delete backup:")
    _show_manifest(ctx, manifest)
    why = pinned_backups(ctx.backend()).get(manifest.id)
    if why:  # said before the confirm: `prune` keeps it
        ctx.message(f"warning: {manifest.id} is {why}")
    ctx.confirm(f"delete backup {manifest.id}", ctx.backend().name)
    delete_backup(ctx.target.backup_dir, manifest.id, backend=ctx.backend(), target=ctx.target)
    if ctx.json:
        ctx.out_json({"deleted": manifest.id})
    ctx.message(f"deleted {manifest.id}")
    return 0


def cmd_recover(ctx: Context) -> int:
    from malnu_tui.engine.backup import native_recovery, parse_when, plan_recover, run_recover

    backend, mset = ctx.backend(), ctx.migration_set()
    when = parse_when(ctx.args.to)
    if native_recovery(backend.kind) is not None:
        return _recover_native(ctx, when)
    plan = plan_recover(backend, ctx.target, mset, when, progress=_progress(ctx),
                        accept_edited_rollback=bool(ctx.args.accept_edited_rollback))  # fmt: skip
    if ctx.args.dry_run:
        if ctx.json:
            ctx.out_json(plan.as_json())
        else:
            for line in plan.describe():
                ctx.out(line)
        ctx.message("dry run: nothing was changed")
        return 0
    for line in plan.describe():
        ctx.message(line)
    pf = _lock_preflight(ctx, "recover")
    ctx.confirm(f"recover {backend.name} to {plan.to}", pf.database_name)
    result = run_recover(backend, ctx.target, mset, plan, progress=_progress(ctx))
    done = (
        f"recovered to {plan.to}: restored {result.restore.backup_id}, {result.counts()}; "
        + _undo(ctx, result.restore)
    )
    try:
        ctx.message(done)
        for warning in result.restore.warnings:
            ctx.message(f"warning: the restore is done, but: {warning}")
        ctx.message(f"NOT recovered: {plan.not_recovered}")
        _show_status(ctx, result.as_json())
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM: done all the same
        _interrupted_report(ctx, done, result.as_json())
    return 0


def _recover_native(ctx: Context, when: datetime) -> int:
    """Native point-in-time recovery (D1 Time Travel): the data itself comes back."""
    from malnu_tui.engine.backup import plan_native_recover, run_native_recover
    from malnu_tui.engine.backup.store import utc_iso

    backend = ctx.backend()
    lines = plan_native_recover(backend, ctx.target, when).describe()
    if ctx.args.dry_run:
        if ctx.json:
            ctx.out_json({"to": utc_iso(when), "native": True, "plan": lines})
        else:
            for line in lines:
                ctx.out(line)
        ctx.message("dry run: nothing was changed")
        return 0
    for line in lines:
        ctx.message(line)
    pf = _lock_preflight(ctx, "recover")
    ctx.confirm(f"recover {backend.name} to {utc_iso(when)}", pf.database_name)
    undo = run_native_recover(backend, ctx.target, when, progress=_progress(ctx))
    again = (
        f": {ctx.again('d1', 'time-travel', '--bookmark', undo)}" if backend.kind == "d1" else ""
    )
    done = f"recovered to {utc_iso(when)}; to undo, restore point {undo}{again}"
    extra: dict[str, object] = {"to": utc_iso(when), "native": True, "undo_restore_point": undo}
    try:
        ctx.message(done)
        _show_status(ctx, extra)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM: done all the same
        _interrupted_report(ctx, done, extra)
    return 0
