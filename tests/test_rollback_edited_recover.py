"""``recover`` runs rollback files too (a migration undone between the backup and TIME): it ran
one edited since its migration was applied without a word, or (through the rollback step's own
check) stopped half-way, the backup restored and the migrations not. Now the edited file is
refused in recover's plan, before the pre-recover backup and the restore, and again under the
lock; ``recover --accept-edited-rollback`` runs it, audited. D1 recovers natively (Time
Travel): no rollback file runs there."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.config import Target
from tests.backup_support import V3, cli, mset_of, up, write_migrations
from tests.fixtures_core import next_second
from tests.fixtures_matrix import DbTarget

UNDO = "DROP INDEX idx_posts_user;\nALTER TABLE users DROP COLUMN nick;\n"
EDITED = UNDO + "DELETE FROM posts;\n"  # one more statement, never reviewed


def _tick() -> str:
    """A time strictly between what came before and what comes after (audit: 1 s)."""
    next_second()
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    next_second()
    return when


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_recover_refuses_an_edited_rollback_file_before_it_restores_anything(
    kind: str, fresh_db: Callable[[str], DbTarget], tmp_path: Path
) -> None:
    mig, rb = write_migrations(tmp_path / "project")
    home = tmp_path / "cli-home"
    home.mkdir()
    args = ["--database", fresh_db(kind).url, "--migrations-dir", str(mig), "--rollback-dir",
            str(rb)]  # fmt: skip

    def run(*more: str) -> tuple[int, str, str]:
        res = cli(*args, *more, home=home)
        return res.code, res.out, res.err

    def backups() -> list[str]:
        code, out, err = run("backup", "list", "--json")
        assert code == 0, err
        return [b["id"] for b in json.loads(out)]

    assert run("up", "--no-backup")[0] == 0
    assert run("backup", "create")[0] == 0  # holds V3 applied
    next_second()
    assert run("rollback", "--yes", "--no-backup")[0] == 0  # V3 undone: recover rolls it back
    when = _tick()
    assert run("up", "--no-backup")[0] == 0
    (rb_file,) = rb.glob(f"{V3}_*.sql")
    rb_file.write_text(EDITED, encoding="utf-8")
    before = backups()
    for more in (("--dry-run",), ("--yes",)):
        code, _out, err = run("recover", "--to", when, *more)
        assert code == 1, (more, err)
        assert (
            f"error: rollback files changed since their migration was applied: {rb_file.name} "
            "(sha256 "
        ) in err, err
        assert "recover --accept-edited-rollback" in err
        assert "half-way" not in err
    assert backups() == before, "no pre-recover backup, nothing restored"
    code, out, _err = run("status", "--json")
    states = {m["filename"]: m["state"] for m in json.loads(out)["migrations"]}
    assert set(states.values()) == {"applied"}
    # Accepted: the plan names it with both checksums; it runs, the acceptance audited.
    code, out, err = run("recover", "--to", when, "--dry-run", "--accept-edited-rollback")
    assert code == 0, err
    assert f"note: edited rollback file(s) accepted (audited): {rb_file.name} (sha256 " in out
    assert "; recorded " in out
    code, _out, err = run("recover", "--to", when, "--yes", "--accept-edited-rollback")
    assert code == 0, err
    code, out, _err = run("log", "--json", "--action", "recover")
    warned = [e for e in json.loads(out) if e["outcome"] == "warning"]
    assert warned and rb_file.name in warned[0]["detail"], out


def test_a_recover_planned_before_the_edit_is_refused_under_the_lock(
    db: tuple[Target, Backend],
) -> None:
    """The engine call the CLI and the console's recover wizard both make: the plan was read
    before the edit; run_recover re-reads the files under its lock, before the restore."""
    from malnu_tui.engine.backup import create_backup, list_backups, plan_recover, run_recover
    from malnu_tui.engine.errors import RollbackEdited
    from malnu_tui.engine.migrate import apply_plan, plan_rollback, status
    from malnu_tui.engine.safety import record_skipped_backup

    target, backend = db
    up(backend, target)
    create_backup(backend, target)
    next_second()
    record_skipped_backup(backend, "rollback")
    apply_plan(backend, mset_of(target), plan_rollback(backend, mset_of(target)))
    next_second()
    when = datetime.now(UTC)
    next_second()
    up(backend, target)
    plan = plan_recover(backend, target, mset_of(target), when)
    assert plan.rollback == (mset_of(target).find(V3).filename,)
    (rb_file,) = target.rollback_dir.glob(f"{V3}_*.sql")
    rb_file.write_text(EDITED, encoding="utf-8")
    before = [m.id for m in list_backups(target.backup_dir)]
    with pytest.raises(RollbackEdited) as err:
        run_recover(backend, target, mset_of(target), plan)
    assert rb_file.name in str(err.value)
    assert [m.id for m in list_backups(target.backup_dir)] == before
    refused = backend.read_audit(limit=5, action="recover")
    assert refused[0].outcome == "refused" and rb_file.name in refused[0].detail
    assert status(backend, mset_of(target)).head == V3, "nothing restored, nothing rolled back"
