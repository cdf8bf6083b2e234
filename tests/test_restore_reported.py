"""A restore that is done is reported done, whatever happens while it is being reported: a
real `malnu-tui` process against the local D1 stand-in (whose migration status after the
restore takes several round trips, as Cloudflare's does from Indonesia)."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.d1server import Fault
from tests.fixtures_core import MigrationDirs, popen_cli, run_cli
from tests.fixtures_d1 import D1Target


@pytest.mark.parametrize(("sig", "json_out"), [(signal.SIGINT, False), (signal.SIGTERM, True)])
def test_ctrl_c_while_a_done_restore_shows_its_status_is_still_a_done_restore(
    d1: D1Target, mdirs: MigrationDirs, sig: signal.Signals, json_out: bool
) -> None:
    """The operator presses Ctrl-C (or systemd stops the unit) once `restored …; to undo:
    …` is on the screen, while the migration status of the restored database loads: the
    command ended `interrupted` (exit 130) or `terminated` (exit 143), with `--json` no JSON,
    so the done restore read as stopped and a script ran it again. Now it is exit 0, a
    warning that the status was not shown, and the JSON (its `status` null)."""
    mdirs.add("20250101_000100", "t", "CREATE TABLE t (v TEXT);", "DROP TABLE t;")
    base = ["--database", d1.url, *mdirs.args(), *(["--json"] if json_out else [])]
    assert run_cli(*base, "up", "--no-backup", env=d1.env).code == 0
    made = run_cli(*base, "backup", "create", env=d1.env)
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"] if json_out else made.out.strip()
    # Only the status reads wrangler's history table: each such read is held 5 s.
    d1.server.inject(Fault("slow", count=5, delay=5.0, match='"d1_migrations"'))
    proc = popen_cli(*base, "backup", "restore", backup_id, "--yes", env=d1.env)
    assert proc.stderr is not None
    said: list[str] = []
    deadline = time.monotonic() + 60
    while not any(line.startswith("restored ") for line in said):
        assert time.monotonic() < deadline, said
        line = proc.stderr.readline()
        assert line, (said, proc.wait())
        said.append(line)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    err = "".join(said) + err
    assert proc.returncode == 0, err
    assert "interrupted" not in err.splitlines() and "terminated" not in err.splitlines(), err
    assert "warning: done (restored " in err and "the migration status is not shown" in err
    if json_out:
        report = json.loads(out)
        assert report["restored"] == backup_id and report["status"] is None, report
    assert d1.sql("SELECT count(*) FROM malnu_lock") == [(0,)]
