"""A `backup prune` (cron, holding the migration lock while it deletes) that runs between a
restore's verification and the restore taking the lock: the restore re-checks its backup under
the lock and refuses, the database untouched, no pre-restore backup taken for nothing, and no
manifest of the pruned backup written back."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backup import BackupError, create_backup, list_backups, restore_backup
from malnu_tui.engine.backup.store import BackupProgress
from malnu_tui.engine.config import Target
from tests.backup_support import execute, fill, rows, up
from tests.fixtures_core import run_cli


def _config(target: Target, tmp_path: Path) -> Path:
    conf = tmp_path / "malnu.toml"
    conf.write_text(
        f'[targets.sekolah]\nurl = "{target.url}"\nbackup_dir = "{target.backup_dir}"\n'
        f'migrations_dir = "{target.migrations_dir}"\nrollback_dir = "{target.rollback_dir}"\n',
        encoding="utf-8",
    )
    return conf


# When the prune runs: once the restore's verification is done (it has not taken the lock
# yet), or while it verifies (its engine check, after the hash).
MOMENTS = {
    "after": ({"verified"}, "the restore waited for the lock"),
    "during": ({"PRAGMA quick_check", "pg_restore --list"}, "it was being verified"),
}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_a_prune_between_the_restores_verify_and_its_lock_is_refused_cleanly(
    db: tuple[Target, Backend], tmp_path: Path, moment: str
) -> None:
    target, backend = db
    up(backend, target)
    fill(backend, users=5)
    old = create_backup(backend, target, reason="manual")
    execute(backend, "INSERT INTO users (id, email) VALUES (?, ?)", (77, "late@malnu.sch.id"))
    create_backup(backend, target, reason="manual")  # the newest verified: prune keeps it
    before = rows(backend)
    conf = _config(target, tmp_path)
    pruned: list[str] = []
    cue, said = MOMENTS[moment]

    def prune_now(p: BackupProgress) -> None:
        # Cron's prune, a real process, holds the lock and deletes.
        if p.message in cue and not pruned:
            res = run_cli("--config", str(conf), "--target", "sekolah",
                          "backup", "prune", "--keep", "1", "--yes")  # fmt: skip
            assert res.code == 0, res.err
            pruned.append(res.out)

    with pytest.raises(BackupError) as info:
        restore_backup(backend, target, old.id, progress=prune_now)
    assert old.id in pruned[0], "the prune deleted the backup being restored"
    text = str(info.value)
    assert f"backup {old.id} was deleted while {said} (a `backup prune`" in text, text
    assert info.value.exit_code in (2, 3) and "nothing was changed" in (info.value.hint or "")
    assert rows(backend) == before, "the database is untouched"
    assert [m.reason for m in list_backups(target.backup_dir)] == ["manual"], (
        "no pre-restore backup for nothing, and no manifest of the pruned one written back"
    )
    assert backend.read_lock() is None
    refused = backend.read_audit(limit=5, action="restore")
    assert refused and refused[0].outcome == "refused", refused
