"""A restore that is done is reported done, whatever happens while it is being reported: a
real `malnu-tui` process against the local D1 stand-in (whose migration status after the
restore takes several round trips, as Cloudflare's does from Indonesia)."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from tests.d1server import Fault
from tests.fixtures_core import MigrationDirs, popen_cli, run_cli, stop_if_running
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
    # The status's first read (the tracking table's rows; the restore itself never reads them)
    # is held until the test releases it, so the signal comes while the status loads however
    # loaded the machine is (a timed hold ran out first at load 11), and a command that waited
    # for the status would not end before the release.
    held = threading.Event()
    d1.server.inject(Fault("slow", match="FROM migrations ORDER BY filename", hold=held))
    seen = len(d1.server.requests)  # the server is shared: earlier tests' requests are there
    proc = popen_cli(*base, "backup", "restore", backup_id, "--yes", env=d1.env)
    assert proc.stderr is not None
    said: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("restored ") for line in said):
            assert time.monotonic() < deadline, said
            line = proc.stderr.readline()
            assert line, (said, proc.wait())
            said.append(line)
        while not any(r.fault == "slow" for r in d1.server.requests[seen:]):
            assert time.monotonic() < deadline, ("the status never read the tracking table", said)
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        held.set()
        stop_if_running(proc)
    err = "".join(said) + err
    assert proc.returncode == 0, err
    assert "interrupted" not in err.splitlines() and "terminated" not in err.splitlines(), err
    assert "warning: done (restored " in err and "the migration status is not shown" in err
    if json_out:
        report = json.loads(out)
        assert report["restored"] == backup_id and report["status"] is None, report
    assert d1.sql("SELECT count(*) FROM malnu_lock") == [(0,)]
