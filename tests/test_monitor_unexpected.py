"""`check` where it meets what it did not expect: its stdout on a full disk, a config or an
incident state file nested too deep to parse, a receiver that rate-limits. Whatever happens it
ends 0-3 (the monitoring-plugin codes; a traceback's exit 1 reads as WARNING), its summary line
first where stdout still takes one, and the alerts still go out. Real SQLite files, real
processes and a real HTTP receiver on 127.0.0.1 (tests/webhook_support.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from malnu_tui.cli import main
from tests.fixtures_core import CLI, REPO, MigrationDirs
from tests.inproc import run_inproc
from tests.webhook_support import Receiver

NO_BACKUP = "primary|backup_age|backups"  # the CRITICAL a database never backed up has


def _config(tmp: Path, hook: str | None = None, retries: int = 2) -> list[str]:
    """A config with one SQLite target, ``primary`` (made, never backed up: CRITICAL), and one
    JSON webhook at ``hook`` (none without it)."""
    (tmp / "mig").mkdir()
    (tmp / "rb").mkdir()
    db = tmp / "primary.db"
    path = tmp / "malnu.toml"
    hooks = (
        f'[[alerts.webhooks]]\nkind = "json"\nurl = "{hook}"\ntimeout = 2\nretries = {retries}\n'
        if hook
        else ""
    )
    path.write_text(
        f'[backup]\ndir = "{tmp / "backups"}"\n[targets.primary]\nurl = "sqlite:///{db}"\n'
        f'migrations_dir = "{tmp / "mig"}"\nrollback_dir = "{tmp / "rb"}"\n{hooks}',
        encoding="utf-8",
    )
    c = ["--config", str(path)]
    assert run_inproc(*c, "up", "--no-backup").code == 0  # the tool's tables, no migration
    return c


def test_check_with_stdout_on_a_full_disk_is_unknown_unless_worse_and_alerts(
    tmp_path: Path, receiver: Receiver
) -> None:
    """stdout on a full disk (cron's `> /var/log/malnu-check.log`): a traceback after the
    work, exit 1 (WARNING to Nagios), and `--alert` never ran, so the CRITICAL it had found
    was never sent. Now the alert goes out, one `error:` line says why the output is missing,
    exit UNKNOWN unless worse: this target is CRITICAL, and exit 3 (UNKNOWN) hid it from the
    many setups that page on CRITICAL alone."""
    c = _config(tmp_path, receiver.url("json"))
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [*CLI, *c, "check", "--alert"],
            stdout=full,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr  # CRITICAL, not UNKNOWN (3)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (
        "error: check's output could not be written to stdout: No space left on device"
    ) in proc.stderr, proc.stderr
    assert f"alert sent: problem {NO_BACKUP}" in proc.stderr, proc.stderr
    # --json alike (in this process: its stdout the full disk)
    with open("/dev/full", "w") as full, contextlib.redirect_stdout(full):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main([*c, "check", "--alert", "--json"])
    assert code == 2 and "No space left on device" in err.getvalue(), err.getvalue()
    assert receiver.events("json") == [("problem", NO_BACKUP)], "sent once, by the first run"

    # Its reader gone (`check --alert | head -0`): exit 0 and no alert; the health's code now
    # (a pipeline's pipefail sees CRITICAL), and the alert goes out.
    receiver.bodies.clear()
    state = Path(os.environ["XDG_STATE_HOME"]) / "malnu-tui" / "incidents.json"
    state.unlink()
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as gone, contextlib.redirect_stdout(gone):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main([*c, "check", "--alert"])
    assert code == 2, err.getvalue()
    assert f"alert sent: problem {NO_BACKUP}" in err.getvalue(), err.getvalue()
    assert receiver.events("json") == [("problem", NO_BACKUP)]


def test_check_that_meets_an_unexpected_error_is_unknown_with_its_summary_first(
    tmp_path: Path,
) -> None:
    """A config nested too deep for the TOML parser (a foreign file given as --config) raised
    RecursionError out of `check`: a traceback, exit 1, no summary line, the --prometheus
    file still saying the last run's OK. It is UNKNOWN now: the summary line first (or the
    JSON), one `error:` line naming the file (the config reader says so for every command,
    tests/test_config_nested.py), the gauges status 3. Whatever else `check` did not expect
    ends the same way (stdout on a full disk: the test below)."""
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5_000 + "]" * 5_000 + "\n", encoding="utf-8")
    prom = tmp_path / "malnu.prom"
    prom.write_text('malnu_check_status{target="primary"} 0\n', encoding="utf-8")
    res = run_inproc("--config", str(deep), "check", "--prometheus", str(prom))
    assert res.code == 3, res.err
    assert "Traceback" not in res.err, res.err
    first = res.out.splitlines()[0]
    assert (
        first == f"MALNU UNKNOWN - {deep}: not valid TOML: arrays or tables nested too deep to read"
    )
    errors = [line for line in res.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "nested too deep" in errors[0], res.err
    assert prom.read_text(encoding="utf-8").splitlines()[-1] == "malnu_check_status 3"

    res = run_inproc("--config", str(deep), "check", "--json")
    assert res.code == 3 and "Traceback" not in res.err, res.err
    assert json.loads(res.out)["status"] == "UNKNOWN"


def test_an_incident_state_nested_too_deep_is_damaged_not_a_traceback(
    tmp_path: Path, receiver: Receiver
) -> None:
    """incidents.json holding something nested too deep to parse (another file under its name)
    was a RecursionError traceback from every `check --alert`: exit 1, nothing sent until it
    was mended. It is read as a damaged state file: said, started afresh, the problem sent."""
    import os

    c = _config(tmp_path, receiver.url("json"))
    state = Path(os.environ["XDG_STATE_HOME"]) / "malnu-tui" / "incidents.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("[" * 5_000 + "]" * 5_000, encoding="utf-8")
    res = run_inproc(*c, "check", "--alert")
    assert res.code == 2, res.out + res.err  # the health's own code: CRITICAL
    assert "Traceback" not in res.err, res.err
    assert f"alert: incident state {state} was unreadable" in res.err, res.err
    assert receiver.events("json") == [("problem", NO_BACKUP)]
    assert list(json.loads(state.read_text(encoding="utf-8"))["incidents"])  # kept again


def test_a_rate_limited_or_refusing_webhook_is_not_tried_again_at_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A receiver answering 429 (Slack's answer to a burst, Retry-After: 30) was tried again
    0.25 s and 0.75 s later, each try refused and adding to the limit, and the line said only
    `HTTP 429 after 3 tries`. One try a run now, the line saying it is rate-limited and how
    long the receiver asks to wait; the next run tries again and sends it."""
    c = _config(tmp_path, receiver.url("json"), retries=2)
    receiver.mode = "429"
    res = run_inproc(*c, "check", "--alert")
    assert res.code == 2 and "Traceback" not in res.err, res.err
    assert receiver.attempts == 1, "a 429 is not tried again in the same run"
    assert (
        f"alert FAILED (retried next run): problem {NO_BACKUP} → #1 json "
        f"http://127.0.0.1:{receiver.server.server_address[1]}/***: HTTP 429: the receiver "
        "rate-limits this webhook; it asks for 30 s; not tried again in this run"
    ) in res.err, res.err
    assert receiver.secret not in res.err
    # A revoked webhook (404) answers the same to every try: one a run too, saying so.
    receiver.mode = "404"
    res = run_inproc(*c, "check", "--alert")
    assert res.code == 2 and receiver.attempts == 2, res.err
    assert (
        "HTTP 404: the receiver refuses it (a wrong or revoked url, or a body it does not "
        "take); not tried again in this run"
    ) in res.err, res.err
    receiver.mode = "ok"
    assert run_inproc(*c, "check", "--alert").code == 2
    assert receiver.events("json") == [("problem", NO_BACKUP)]


def test_the_incident_file_s_folder_is_fsynced_after_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """incidents.json is written to a temp file, fsynced, renamed into place (a power cut
    never leaves it empty or half, which would page every open problem again), and now its
    folder is fsynced after the rename: without it a power cut could keep the earlier file,
    whole but a run behind, and what that run had sent was sent again. The real calls are
    made (and recorded by what each descriptor names) around the state's real write."""
    from malnu_tui.engine.monitor import incidents

    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(("replace", str(dst)))
        real_replace(src, dst)

    path = tmp_path / "state" / "incidents.json"
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    with incidents.locked_state(path) as state:
        state["probe"] = {"sent": "2026-12-07T00:00:00+00:00"}
    monkeypatch.undo()
    assert "probe" in json.loads(path.read_text(encoding="utf-8"))
    renamed = calls.index(("replace", str(path)))
    assert any(
        kind == "fsync" and Path(name).name.startswith(".incidents.json.")
        for kind, name in calls[:renamed]
    ), calls
    assert ("fsync", str(path.parent)) in calls[renamed + 1 :], calls


def test_one_targets_unreadable_run_row_never_ends_the_check_of_all(tmp_path: Path) -> None:
    """A run row of the audit trail nested too deep to parse (written by hand or by another
    tool into malnu_audit) raised RecursionError out of one target's evaluation: `check`
    of every target ended with a traceback (exit 1), the healthy targets' results lost, and
    `history` of that target was a traceback too. The row is no run of this tool's now, and
    whatever one target's check did not expect makes that target UNKNOWN, never the others'
    (verified by hand with the row's parsing as before: `p: check failed unexpectedly:
    RecursionError …`, exit 2 from `a`'s CRITICAL)."""
    import sqlite3

    (tmp_path / "mig").mkdir()
    (tmp_path / "rb").mkdir()
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        "".join(
            f'[targets.{n}]\nurl = "sqlite:///{tmp_path / n}.db"\n'
            f'migrations_dir = "{tmp_path / "mig"}"\nrollback_dir = "{tmp_path / "rb"}"\n'
            for n in ("a", "p")
        )
        + f'[backup]\ndir = "{tmp_path / "backups"}"\n',
        encoding="utf-8",
    )
    c = ["--config", str(cfg)]
    for name in ("a", "p"):
        assert run_inproc(*c, "--target", name, "up", "--no-backup").code == 0
    detail = '{"run": 1, "op": "sync", "x": ' + "[" * 5_000 + "]" * 5_000 + "}"
    with sqlite3.connect(tmp_path / "p.db") as conn:
        conn.execute(
            "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) "
            "VALUES (datetime('now'), 'someone@host', 'run', 'x', 'ok', ?)",
            (detail,),
        )
    res = run_inproc(*c, "check")
    assert res.code == 2 and "Traceback" not in res.err, res.out + res.err
    assert res.out.startswith(
        "MALNU CRITICAL - a: no backup at all; p: no backup at all, 1 audit row too deep to read |"
    )
    res = run_inproc(*c, "--target", "p", "history")
    assert res.code == 0 and "Traceback" not in res.err, res.err


def test_a_failure_after_a_critical_summary_keeps_critical(tmp_path: Path) -> None:
    """stderr on a full disk (cron's `2>>/var/log/malnu-check.err`): `check --alert` printed
    `MALNU CRITICAL` on stdout, then its first stderr line failed and the run ended UNKNOWN
    (exit 3), which many setups never page on. The exit is now the worse of what was printed
    and UNKNOWN (CRITICAL outranks UNKNOWN for Nagios): 2 here; an OK or WARNING summary still
    ends 3. A real process, its stderr /dev/full; --json alike, in this process."""
    c = _config(tmp_path)  # CRITICAL
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [*CLI, *c, "check", "--alert"],  # "alert: no [[alerts.webhooks]]…" on stderr
            stdout=subprocess.PIPE,
            stderr=full,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    assert proc.stdout.startswith("MALNU CRITICAL - primary: no backup at all |"), proc.stdout
    assert proc.returncode == 2, proc.stdout
    code, out = _stderr_full([*c, "check", "--alert", "--json"])
    assert code == 2 and json.loads(out)["status"] == "CRITICAL", out
    # Backed up (OK): a failure after it is UNKNOWN, as before.
    assert run_inproc(*c, "backup", "create").code == 0
    code, out = _stderr_full([*c, "check", "--alert"])
    assert out.startswith("MALNU OK - 1 target OK") and code == 3, out


def test_stderr_s_reader_gone_after_a_critical_summary_keeps_critical(tmp_path: Path) -> None:
    """stderr to a pipe whose reader went away (`check --alert 2>&1 | logger`, the logger
    dead; a wrapper's `| head`): `check --alert` printed `MALNU CRITICAL` on stdout, then its
    first stderr line (`alert: no [[alerts.webhooks]]…`) met a broken pipe and the run exited
    0 (OK), as every command does for a reader gone. check's exit is its health (stdout's
    reader gone kept it already): 2 now. A real process."""
    import os

    c = _config(tmp_path)  # CRITICAL
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader gone
    try:
        proc = subprocess.run(
            [*CLI, *c, "check", "--alert"],
            stdout=subprocess.PIPE,
            stderr=write_end,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert proc.stdout.startswith("MALNU CRITICAL - primary: no backup at all |"), proc.stdout
    assert proc.returncode == 2, proc.stdout


def _stderr_full(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` in this process, its stderr /dev/full (unbuffered: each line fails as
    it is written): the exit code and stdout."""
    out = io.StringIO()
    full = io.TextIOWrapper(io.FileIO("/dev/full", "w"), write_through=True)
    try:
        with contextlib.redirect_stderr(full), contextlib.redirect_stdout(out):
            code = main(argv)
    finally:
        with contextlib.suppress(OSError):
            full.close()
    return code, out.getvalue()


def test_an_apply_row_nested_too_deep_is_named_and_skipped(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A hand-made run row with the key an apply records its rollback checksums under
    (`{"op": "apply", "rollbacks": [[[[…` thousands deep) raised RecursionError out of
    rollback_sums.recorded: `check` made the whole target UNKNOWN (`cannot read: maximum
    recursion depth exceeded…`, every other check `not checked`, the row not named), and
    `status`, `verify` and `rollback` ended in a traceback. The row is skipped by them now,
    and `check` names it: a drift WARNING with its id, the target's other checks made (its
    CRITICAL kept). A real SQLite file."""
    import sqlite3

    mdirs.add("20250101_000100", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "backups"}"\n[targets.p]\n'
        f'url = "sqlite:///{tmp_path / "p.db"}"\nmigrations_dir = "{mdirs.migrations}"\n'
        f'rollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    c = ["--config", str(cfg)]
    assert run_inproc(*c, "up", "--no-backup").code == 0  # never backed up: CRITICAL
    detail = '{"run": 1, "op": "apply", "rollbacks": ' + "[" * 5_000 + "]" * 5_000 + "}"
    with sqlite3.connect(tmp_path / "p.db") as conn:
        row = conn.execute(
            "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) "
            "VALUES (datetime('now'), 'someone@host', 'run', 'apply x', 'ok', ?)",
            (detail,),
        ).lastrowid
    res = run_inproc(*c, "check")
    assert res.code == 2 and "Traceback" not in res.err, res.out + res.err
    lines = res.out.splitlines()
    assert lines[0].startswith(
        "MALNU CRITICAL - p: no backup at all, 1 audit row too deep to read |"
    ), res.out
    assert (
        lines[1].startswith(f"WARNING p drift: audit row {row} (run, ")
        and "by someone@host) is nested too deep to read" in lines[1]
    ), res.out
    assert "reach OK" in lines[-1] and "drift WARNING" in lines[-1], res.out
    res = run_inproc(*c, "status")
    assert res.code == 0 and "Traceback" not in res.err, res.err
    res = run_inproc(*c, "rollback", "--yes", "--no-backup")
    assert res.code == 0 and "Traceback" not in res.err, res.err
