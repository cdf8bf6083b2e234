"""`check`, `check --alert`, `--prometheus`, debug mode and `doctor` through the CLI, on real
SQLite, PostgreSQL and the local D1 server, with a local HTTP receiver for the webhooks."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc
from tests.webhook_support import Receiver


def _config(tmp: Path, mdirs: MigrationDirs, targets: dict[str, str], extra: str = "") -> Path:
    lines = [f'[backup]\ndir = "{tmp / "backups"}"\n']
    for name, url in targets.items():
        lines.append(
            f'[targets.{name}]\nurl = "{url}"\nmigrations_dir = "{mdirs.migrations}"\n'
            f'rollback_dir = "{mdirs.rollback}"\n'
        )
    path = tmp / "malnu.toml"
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exit_codes_per_severity_and_summary(tmp_path: Path, mdirs: MigrationDirs) -> None:
    db = tmp_path / "p.db"
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{db}"})
    cfg.write_text(cfg.read_text().replace("rollback_dir", "production = true\nrollback_dir"))
    c = ["--config", str(cfg)]
    assert run_inproc(*c, "up", "--yes").code == 0  # its safety backup is verified
    res = run_inproc(*c, "check")
    assert res.code == 0, res.out + res.err
    assert res.out.splitlines()[0] == "MALNU OK - 1 target OK | failed=0;;1 slow=0;1;"

    mdirs.add("20250101_000200", "b", "INSERT INTO nosuch VALUES (1);")
    assert run_inproc(*c, "up", "--yes").code == 1
    res = run_inproc(*c, "check")
    assert res.code == 2
    lines = res.out.splitlines()
    assert lines[0] == (
        "MALNU CRITICAL - primary: 1 failed migration in the last hour | failed=1;;1 slow=0;1;"
    )
    assert lines[1].startswith("CRITICAL primary failed_migrations: 20250101_000200_b.sql failed")
    assert "backup_age OK" in lines[2] and "reach OK" in lines[2]
    data = json.loads(run_inproc(*c, "check", "--json").out)
    assert data["status"] == "CRITICAL"
    assert set(data["problems"][0]) == {"target", "check", "severity", "message", "since"}
    # Its times ISO 8601 with their offset (they were `2026-12-07 16:41:56`, no zone).
    for when in (data["checked_at"], data["problems"][0]["since"]):
        assert "T" in when and datetime.fromisoformat(when).utcoffset() == timedelta(0), data

    assert run_inproc(*c, "clear-failed", "20250101_000200_b.sql", "--yes").code == 0
    (mdirs.migrations / "20250101_000200_b.sql").unlink()
    mdirs.add("20240101_000000", "old", "SELECT 1;")  # pending for far longer than 7 days
    res = run_inproc(*c, "check")
    assert res.code == 1 and res.out.startswith("MALNU WARNING - primary: 1 pending migration")

    dead = f"postgresql://ops:pw-not-shown@127.0.0.1:{_dead_port()}/x"
    cfg.write_text(cfg.read_text() + f'\n[targets.standby]\nurl = "{dead}"\n')
    res = run_inproc(*c, "check")
    assert res.code == 3, res.out
    assert res.out.startswith("MALNU UNKNOWN - standby: cannot connect")
    assert "UNKNOWN standby reach:" in res.out and "pw-not-shown" not in res.out + res.err
    res = run_inproc(*c, "check", "--target", "primary")
    assert res.code == 1, "only the named target"
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor]\nslow_migration_secs = 3\n")
    res = run_inproc("--config", str(bad), "check")
    assert res.code == 3 and res.out.startswith("MALNU UNKNOWN - ")


def test_alerts_once_per_problem_resolved_once_failing_receiver(
    tmp_path: Path, mdirs: MigrationDirs, receiver: Receiver
) -> None:
    db = tmp_path / "p.db"
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    hooks = (
        f'\n[[alerts.webhooks]]\nkind = "json"\nurl = "{receiver.url("json")}"\ntimeout = 2\n'
        f'retries = 1\n\n[[alerts.webhooks]]\nkind = "slack"\nurl = "{receiver.url("slack")}"\n'
    )
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{db}"}, hooks)
    c = ["--config", str(cfg)]
    assert run_inproc(*c, "up", "--yes").code == 0
    mdirs.add("20250101_000200", "b", "INSERT INTO nosuch VALUES (1);")
    run_inproc(*c, "up", "--yes")
    outputs = []
    for _ in range(3):
        res = run_inproc(*c, "check", "--alert")
        assert res.code == 2
        outputs.append(res.out + res.err)
    key = "primary|failed_migrations|20250101_000200_b.sql"
    assert receiver.events("json") == [("problem", key)]
    assert [e for e, _ in receiver.events("slack")] == ["problem"]
    assert "alert sent: problem" in outputs[0] and "alert sent" not in outputs[1] + outputs[2]

    assert run_inproc(*c, "clear-failed", "20250101_000200_b.sql", "--yes").code == 0
    (mdirs.migrations / "20250101_000200_b.sql").unlink()
    assert run_inproc(*c, "check", "--alert").code == 0
    assert run_inproc(*c, "check", "--alert").code == 0
    assert receiver.events("json") == [("problem", key), ("resolved", key)]
    assert [e for e, _ in receiver.events("slack")] == ["problem", "resolved"]

    # A failing receiver: the check's own result stands, the failure is reported (URL masked)
    # and delivered on the next run.
    receiver.fail = True
    mdirs.add("20250101_000300", "c", "INSERT INTO nosuch VALUES (1);")
    run_inproc(*c, "up", "--yes")
    before = receiver.attempts
    res = run_inproc(*c, "check", "--alert")
    assert res.code == 2
    assert "alert FAILED (retried next run)" in res.err and "HTTP 500" in res.err
    assert receiver.attempts - before == 2 + 3, "json: 1 + 1 retry; slack: 1 + 2 retries"
    receiver.fail = False
    res = run_inproc(*c, "check", "--alert")
    assert res.code == 2 and res.err.count("alert sent: problem") == 2
    key3 = "primary|failed_migrations|20250101_000300_c.sql"
    assert receiver.events("json")[-1] == ("problem", key3)
    every = "".join(outputs) + res.out + res.err
    assert receiver.secret not in every and "127.0.0.1" in every  # host shown, path masked
    state = Path(os.environ["XDG_STATE_HOME"]) / "malnu-tui" / "incidents.json"
    kept = json.loads(state.read_text())["incidents"]  # keyed by problem and database
    assert key3 in [k.split("@")[0] for k in kept]


def test_the_incident_state_is_its_owners_only(
    tmp_path: Path, mdirs: MigrationDirs, receiver: Receiver
) -> None:
    """The incident state keeps each problem's message (a failed migration's error, which can
    quote a row's values) and what was sent: it was created by the umask, 0664 under the
    002 of a shared operators' group, so any member could read it, or mark an incident sent
    and silence its alert. It is 0600 now, as the backups and the debug log are."""
    mdirs.add("20250101_000100", "a", "INSERT INTO nosuch VALUES ('siti@example.id');")
    hook = f'\n[[alerts.webhooks]]\nkind = "json"\nurl = "{receiver.url("json")}"\n'
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{tmp_path / 'p.db'}"}, hook)
    state = Path(os.environ["XDG_STATE_HOME"]) / "malnu-tui" / "incidents.json"
    before = os.umask(0o002)
    try:
        run_inproc("--config", str(cfg), "up", "--yes")
        for _ in range(2):  # created, then replaced
            assert run_inproc("--config", str(cfg), "check", "--alert").code == 2
            for f in (state, state.with_suffix(".lock")):
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    finally:
        os.umask(before)
    assert receiver.events("json")


_SAMPLE = re.compile(r'^([a-z_]+)\{target="([^"]+)"\} (-?[0-9.e+-]+|NaN|[+-]Inf)$')


def test_prometheus_file_parses_and_is_replaced_atomically(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    mdirs.add("20250101_000200", "b", "SELECT 1;")
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{tmp_path / 'p.db'}"})
    run_inproc("--config", str(cfg), "up", "--yes", "--to", "20250101_000100")
    prom = tmp_path / "textfile" / "malnu.prom"
    prom.parent.mkdir()
    prom.write_text("old\n")
    before = prom.stat().st_ino
    res = run_inproc("--config", str(cfg), "check", "--prometheus", str(prom))
    assert res.code == 0, res.out
    assert prom.stat().st_ino != before, "a new file renamed into place"
    assert [p.name for p in prom.parent.iterdir()] == ["malnu.prom"], "no temp file left"
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in prom.read_text().splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind == "gauge"
            typed.add(name)
        elif not line.startswith("# HELP "):
            m = _SAMPLE.match(line)
            assert m, f"not exposition format: {line!r}"
            assert m.group(1) in typed and m.group(2) == "primary"
            samples[m.group(1)] = float(m.group(3))
    assert samples["malnu_migrations_pending"] == 1
    assert samples["malnu_migrations_failed"] == 0 and samples["malnu_migrations_slow"] == 0
    assert samples["malnu_check_status"] == 0 and 0 <= samples["malnu_backup_age_seconds"] < 600


def test_prometheus_file_not_written_is_unknown_and_not_left_stale(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A full disk (here: a file-size limit, the same EFBIG/ENOSPC to the writer): the old
    file went on showing the last run's values to Prometheus as current, exit 0 (OK)."""
    import resource
    import subprocess

    from tests.fixtures_core import CLI, REPO

    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{tmp_path / 'p.db'}"})
    assert run_inproc("--config", str(cfg), "up", "--yes").code == 0  # with its safety backup
    prom = tmp_path / "malnu.prom"
    assert run_inproc("--config", str(cfg), "check", "--prometheus", str(prom)).code == 0

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    argv = [*CLI, "--config", str(cfg), "check", "--prometheus", str(prom)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, preexec_fn=small_files)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    # The status word is the exit code's (it said `MALNU OK` beside exit 3, and the JSON
    # "status": "OK"); the databases' health is still said beside the file's failure.
    summary = proc.stdout.splitlines()[0]
    assert summary.startswith(f"MALNU UNKNOWN - 1 target OK; cannot write {prom}"), summary
    assert f"UNKNOWN prometheus: cannot write {prom}" in proc.stdout, proc.stdout
    assert f"error: cannot write {prom}: File too large" in proc.stderr, proc.stderr
    assert "no file of an earlier run is left" in proc.stderr and not prom.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if "prom" in p.name) == []
    # Unwritable and CRITICAL stays CRITICAL (2): the more severe of the two.
    missing = tmp_path / "no-such-dir" / "malnu.prom"
    (mdirs.migrations / "20250101_000100_a.sql").write_text("CREATE TABLE a (id BIGINT);\n")
    res = run_inproc("--config", str(cfg), "check", "--prometheus", str(missing))
    assert res.code == 2 and f"error: cannot write {missing}" in res.err, res.err
    assert res.out.startswith("MALNU CRITICAL - primary: "), res.out
    res = run_inproc("--config", str(cfg), "check", "--json", "--prometheus", str(missing))
    report = json.loads(res.out)
    assert res.code == 2 and report["status"] == "CRITICAL", res.out
    assert report["problems"][-1]["check"] == "prometheus", report["problems"]
    (mdirs.migrations / "20250101_000100_a.sql").write_text("CREATE TABLE a (id INTEGER);\n")
    res = run_inproc("--config", str(cfg), "check", "--json", "--prometheus", str(missing))
    assert res.code == 3 and json.loads(res.out)["status"] == "UNKNOWN", res.out


def test_a_bad_command_line_is_unknown_not_critical(tmp_path: Path) -> None:
    """Exit 2 is CRITICAL to Nagios: a typo in a check command paged as a database down."""
    for argv, said in (
        (["check", "--targte", "primary"], "unrecognized arguments: --targte primary"),
        (["--bogus", "check"], "unrecognized arguments: --bogus"),
        (["check", "--target"], "argument --target: expected one argument"),
    ):
        res = run_inproc(*argv)
        assert res.code == 3, res
        assert res.out == f"MALNU UNKNOWN - bad command line: {said}\n", res.out
        assert res.err.startswith(f"error: {said}"), res.err
    res = run_inproc("check", "--json", "--prometheus")
    assert res.code == 3 and json.loads(res.out)["status"] == "UNKNOWN", res.out
    assert run_inproc("status", "--bogus").code == 2, "the other commands: usage is 2"


def test_debug_mode_never_stops_a_command(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MALNU_DEBUG=1 left exported in a cron job: a `[log] file` that cannot be opened was a
    traceback (check: exit 1, WARNING), and a config it could not read made check exit 2
    (CRITICAL) with no summary line."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    (tmp_path / "a-directory").mkdir()
    extra = f'\n[log]\nfile = "{tmp_path / "a-directory"}"\n'
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{tmp_path / 'p.db'}"}, extra)
    monkeypatch.setenv("MALNU_DEBUG", "1")
    res = run_inproc("--config", str(cfg), "up", "--yes")
    assert res.code == 0 and "Traceback" not in res.err, res.err
    warning = f"warning: [log] file {tmp_path / 'a-directory'} cannot be written (Is a directory)"
    assert warning in res.err and "debug: statement target=primary" in res.err, res.err
    res = run_inproc("--config", str(cfg), "check")
    assert res.code == 0 and res.out.startswith("MALNU OK"), res.out + res.err
    cfg.write_text(cfg.read_text() + "[monitor\n")
    for argv in (["check"], ["check", "--json"]):
        res = run_inproc("--config", str(cfg), *argv)
        assert res.code == 3, res
        assert "MALNU UNKNOWN - " in res.out or json.loads(res.out)["status"] == "UNKNOWN"


def test_debug_names_each_statement_with_its_duration(
    tmp_path: Path, mdirs: MigrationDirs, pg_url: str
) -> None:
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);\n\nINSERT INTO a VALUES (1);")
    secret_url = pg_url.replace("postgres@", "postgres:pgSecret77@")
    log = tmp_path / "debug.log"
    cfg = _config(
        tmp_path,
        mdirs,
        {"primary": f"sqlite:///{tmp_path / 'p.db'}", "pg": secret_url},
        f'\n[log]\nfile = "{log}"\n',
    )
    res = run_cli("--config", str(cfg), "up", "--yes", env={"MIGRATION_DEBUG": "1"})
    assert res.code == 0, res.err
    lines = [ln for ln in res.err.splitlines() if ln.startswith("debug: statement")]
    assert len(lines) == 2
    assert re.fullmatch(
        r"debug: statement target=primary file=20250101_000100_a\.sql line=1 duration_ms=\d+ "
        r"rows=-",
        lines[0],
    )
    assert re.search(r"line=3 duration_ms=\d+ rows=1$", lines[1])
    # progress lines fall between the statement lines in the order things ran (not batched)
    order = [ln.split()[0] if ln.startswith("[") else ln[:16] for ln in res.err.splitlines()]
    run = order.index("[1/1]")
    assert order[run : run + 4] == ["[1/1]", "debug: statement", "debug: statement", "[1/1]"]
    assert "target=primary" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600  # owner only, as backups are
    mdirs.add("20250101_000200", "b", "INSERT INTO a VALUES (2);\nINSERT INTO nosuch VALUES (1);")
    res = run_cli("--config", str(cfg), "--debug", "up", "--yes", "--no-backup")
    assert res.code == 1
    assert re.search(r"line=2 duration_ms=\d+ rows=- FAILED: no such table: nosuch", res.err)
    (mdirs.migrations / "20250101_000200_b.sql").unlink()
    res = run_cli("--config", str(cfg), "--target", "pg", "--debug", "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert re.search(r"statement target=pg file=\S+ line=3 duration_ms=\d+ rows=1", res.err)
    assert "pgSecret77" not in res.err + res.out + log.read_text()


def test_debug_d1_requests_and_doctor(tmp_path: Path, mdirs: MigrationDirs, d1: D1Target,
                                      pg_url: str) -> None:  # fmt: skip
    d1_url = d1.url
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    token = os.environ["CLOUDFLARE_API_TOKEN"]
    cfg = _config(
        tmp_path,
        mdirs,
        {"d1": d1_url, "pg": pg_url, "local": f"sqlite:///{tmp_path / 'p.db'}"},
    )
    res = run_cli("--config", str(cfg), "--target", "d1", "up", "--yes", "--no-backup",
                  env={"MALNU_DEBUG": "1"})  # fmt: skip
    assert res.code == 0, res.err
    assert re.search(r"debug: http POST \S+/raw status=200 duration_ms=\d+", res.err)
    assert re.search(r"debug: statement target=d1 file=20250101_000100_a\.sql line=1 "
                     r"duration_ms=\d+", res.err)  # fmt: skip
    assert token not in res.err + res.out

    # doctor creates nothing: the SQLite file must exist (a command that writes makes it).
    # On D1 its table probe is one batch D1 rolls back: no write, no new bookmark (it was a
    # CREATE and a DROP, each committed).
    assert run_inproc("--config", str(cfg), "--target", "local", "status").code == 0
    bookmarks = len(d1.db.snapshots)
    res = run_cli("--config", str(cfg), "doctor", "--all")
    assert len(d1.db.snapshots) == bookmarks, "doctor wrote to D1"
    assert res.code == 0, res.out + res.err
    for name in ("connect", "round trip", "server version", "create tables", "backup dir"):
        for target in ("d1", "pg", "local"):
            assert re.search(rf"^OK   {target} {name}: ", res.out, re.M), (target, name)
    assert "OK   pg advisory locks" in res.out and "OK   pg pg_dump/pg_restore" in res.out
    assert "OK   d1 d1 export: token can read and export" in res.out
    assert token not in res.out + res.err
    dead = f"postgresql://ops:pw-hidden@127.0.0.1:{_dead_port()}/x"
    res = run_cli("--config", str(cfg), "--database", dead, "doctor", "--json")
    assert res.code == 1
    data = json.loads(res.out)
    bad = [c for c in data["checks"] if not c["ok"]]
    assert [c["check"] for c in bad] == ["connect"] and bad[0]["fix"]
    assert "pw-hidden" not in res.out + res.err


def test_check_takes_the_global_options_and_keeps_its_summary_one_line(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The global options work after `check` as after every command (`check --database URL`
    was "unrecognized arguments", exit 2 = CRITICAL); an empty `--target`/`--config` (an
    unset variable) is refused as UNKNOWN, not a silent default; and libpq's two-line
    "Connection refused" keeps the summary and its performance data on the first line."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    cfg = _config(tmp_path, mdirs, {"a": f"sqlite:///{tmp_path / 'a.db'}"})
    base = ["--config", str(cfg)]
    assert run_cli(*base, "up", "--no-backup").code == 0
    assert run_cli(*base, "backup", "create").code == 0
    res = run_cli("check", "--target", "a", *mdirs.args(), "--debug", *base)
    assert res.code == 0 and res.out.startswith("MALNU OK - 1 target OK |"), res.out + res.err
    res = run_cli("check", "--database", f"sqlite:///{tmp_path / 'a.db'}", *base)
    assert res.code in (0, 2) and res.out.startswith("MALNU "), res.out + res.err

    for bad in (["--target", ""], ["--config", ""], ["--database", ""]):
        res = run_cli(*base, "check", *bad)
        assert res.code == 3, (bad, res.out + res.err)
        assert res.out.startswith("MALNU UNKNOWN - bad command line: "), (bad, res.out)
        assert "must not be empty" in res.out and res.err.startswith("error: ")

    down = f"postgresql://ops:pw-hidden@127.0.0.1:{_dead_port()}/prod"
    res = run_cli(*base, "check", env={"MALNU_DATABASE_URL": down})
    assert res.code == 3, res.out + res.err
    first = res.out.splitlines()[0]
    assert first.startswith("MALNU UNKNOWN - ") and f"{down.split('@')[1]}" in first
    # Nothing else was checked: no "failed_migrations OK" nor a graphed "failed=0" of a
    # database nobody read (the plugin convention's U, undetermined).
    assert "Connection refused; Is the server running" in first
    assert first.endswith(" | failed=U;;1 slow=U;1;"), first
    assert res.out.splitlines()[-1].count(" not checked") == 12, res.out
    assert "pw-hidden" not in res.out + res.err
    res = run_cli(*base, "check", "--json", env={"MALNU_DATABASE_URL": down})
    assert res.code == 3, res.out + res.err
    (checked,) = json.loads(res.out)["targets"].values()
    assert set(checked["checks"].values()) == {"UNKNOWN"}, checked
    assert "pw-hidden" not in res.out + res.err


def test_check_checks_the_database_the_environment_names(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MALNU_DATABASE_URL / MALNU_TARGET select the database as for every other command:
    `check` used to check the config's targets instead (or the embedded default database,
    with no config) and say OK about databases nobody asked about."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    mdirs.add("20250101_000200", "b", "INSERT INTO nosuch VALUES (1);")
    cfg = _config(tmp_path, mdirs, {n: f"sqlite:///{tmp_path / n}.db" for n in ("ok", "bad")})
    c = ["--config", str(cfg)]
    assert run_inproc(*c, "--target", "ok", "up", "--yes", "--to", "20250101_000100").code == 0
    assert run_inproc(*c, "--target", "bad", "up", "--yes").code == 1
    for var, value in (
        ("MALNU_TARGET", "bad"),
        ("MALNU_DATABASE_URL", f"sqlite:{tmp_path}/bad.db"),
    ):
        monkeypatch.setenv(var, value)
        res = run_inproc(*c, "check", "--json")
        checked = json.loads(res.out)["targets"]
        assert res.code == 2 and len(checked) == 1, res.out
        assert next(iter(checked.values()))["checks"]["failed_migrations"] == "CRITICAL"
        res = run_inproc(*c, "check", "--target", "ok")  # a flag naming another: refused
        assert res.code == 3 and "name different databases" in res.out, res.out
        assert len(json.loads(run_inproc(*c, "check", "--all", "--json").out)["targets"]) == 2
        monkeypatch.delenv(var)
    bad = f"sqlite:///{tmp_path / 'bad.db'}"  # --database with check's own --target: same one
    res = run_inproc(*c, "--database", bad, "check", "--target", "bad", "--json")
    assert res.code == 2 and list(json.loads(res.out)["targets"]) == ["bad"], res.out + res.err
    res = run_inproc(*c, "--database", bad, "check", "--target", "bad", "--target", "ok")
    assert res.code == 3 and "--database names one database; --target names 2" in res.out
    # The target's own database spelt another way is the target: its name, its backup store.
    res = run_inproc(*c, "--database", f"sqlite:{tmp_path}/./ok.db", "check")
    assert res.code == 0 and res.out.startswith("MALNU OK - 1 target OK"), res.out
    assert "ok: reach OK" in res.out and "backup_age OK" in res.out, res.out
    res = run_inproc(*c, "check", "--target", "bad", "--target", "bad")  # once, counted once
    assert res.out.startswith("MALNU CRITICAL - bad: 1 failed migration") and "failed=1;" in res.out


def test_a_prometheus_path_that_is_no_file_is_left_as_it_is(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """`check --prometheus /dev/null` (a cron line's "I do not want it") renamed a regular file
    over the device when run as root, and on a failed write removed it: /dev/null became a
    file for the whole machine. A path that is no regular file (here a pipe, as a device would
    be) is now left alone: UNKNOWN, said, nothing replaced or removed."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{tmp_path / 'p.db'}"})
    assert run_inproc("--config", str(cfg), "up", "--yes").code == 0
    pipe = tmp_path / "textfile.pipe"
    os.mkfifo(pipe)
    res = run_inproc("--config", str(cfg), "check", "--prometheus", str(pipe))
    assert res.code == 3, res.out + res.err
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode), "the pipe is still a pipe"
    assert f"error: cannot write {pipe}: not a regular file" in res.err, res.err
    assert sorted(p.name for p in tmp_path.iterdir() if "pipe" in p.name) == ["textfile.pipe"]
