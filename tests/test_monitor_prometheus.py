"""``check --prometheus FILE`` read as node_exporter's textfile collector reads it (a strict
exposition-format parser, tests/promtext.py), on SQLite and the throwaway PostgreSQL."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import pytest

from tests.fixtures_core import MigrationDirs
from tests.inproc import run_inproc
from tests.promtext import parse


def _config(tmp: Path, mdirs: MigrationDirs, targets: dict[str, str]) -> Path:
    lines = [f'[backup]\ndir = "{tmp / "backups"}"\n']
    for name, url in targets.items():
        lines.append(
            f"[targets.{name}]\nurl = {url!r}\nmigrations_dir = {str(mdirs.migrations)!r}\n"
            f"rollback_dir = {str(mdirs.rollback)!r}\n"
        )
    path = tmp / "malnu.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_a_check_that_checks_nothing_says_unknown_in_the_file(
    tmp_path: Path, mdirs: MigrationDirs, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config broken by an edit (or a --target it does not have) is UNKNOWN, exit 3, and
    the file said nothing of it: the last good run's gauges stayed, malnu_check_status 0 for
    every target, for as long as the config stayed broken (a Prometheus rule on the status
    never fired). The file now says malnu_check_status 3, unlabelled, and nothing else."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{tmp_path / 'p.db'}", "pg": pg_url})
    c = ["--config", str(cfg)]
    for name in ("primary", "pg"):
        assert run_inproc(*c, "--target", name, "up", "--yes").code == 0
    prom = tmp_path / "textfile" / "malnu.prom"
    prom.parent.mkdir()
    res = run_inproc(*c, "check", "--all", "--prometheus", str(prom))
    assert res.code == 0, res.out + res.err
    good = parse(prom.read_text())
    assert good[("malnu_check_status", (("target", "pg"),))] == 0
    assert good[("malnu_migrations_failed", (("target", "primary"),))] == 0

    unknown = {("malnu_check_status", ()): 3.0}
    text = cfg.read_text()
    cfg.write_text(text + "[monitor\n")  # a typo saved by an edit
    res = run_inproc(*c, "check", "--all", "--prometheus", str(prom))
    assert res.code == 3 and res.out.startswith("MALNU UNKNOWN - "), res.out
    assert parse(prom.read_text()) == unknown, prom.read_text()
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644  # node_exporter reads it as its user
    assert [p.name for p in prom.parent.iterdir()] == ["malnu.prom"], "no temp file left"

    cfg.write_text(text)
    assert run_inproc(*c, "check", "--all", "--prometheus", str(prom)).code == 0
    assert parse(prom.read_text()) == good | {
        k: v for k, v in parse(prom.read_text()).items() if k[0] == "malnu_backup_age_seconds"
    }
    res = run_inproc(*c, "check", "--target", "nosuch", "--prometheus", str(prom))
    assert res.code == 3 and parse(prom.read_text()) == unknown, res.out + res.err

    # With debug mode on, a config it cannot read stops the run before `check` (main's path).
    assert run_inproc(*c, "check", "--all", "--prometheus", str(prom)).code == 0
    cfg.write_text(text + "[monitor\n")
    monkeypatch.setenv("MALNU_DEBUG", "1")
    res = run_inproc(*c, "check", "--json", "--prometheus", str(prom))
    assert res.code == 3 and parse(prom.read_text()) == unknown, res.out + res.err

    # A command line argparse refuses (an option mistyped into the cron line) is the same.
    cfg.write_text(text)
    monkeypatch.delenv("MALNU_DEBUG")
    for typo in (["--targte", "x", "--prometheus", str(prom)], [f"--prometheus={prom}", "--al"]):
        assert run_inproc(*c, "check", "--all", "--prometheus", str(prom)).code == 0
        res = run_inproc(*c, "check", *typo)
        assert res.code == 3 and "bad command line" in res.out, res.out + res.err
        assert parse(prom.read_text()) == unknown, (typo, prom.read_text())

    # Where even that cannot be written, the old file is removed and it is said.
    os.chmod(prom.parent, 0o555)
    try:
        res = run_inproc(*c, "check", "--prometheus", str(prom.parent / "new" / "m.prom"))
    finally:
        os.chmod(prom.parent, 0o755)
    assert res.code == 3 and "error: cannot write " in res.err, res.err


def test_odd_target_names_and_a_missing_backup_parse_strictly(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """Label values with a quote, a backslash and a newline escaped as the format has it;
    NaN for a target without a verified backup; one HELP and TYPE per metric."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    odd = 'we"ird\\x'
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "b"}"\n'
        f'[targets."we\\"ird\\\\x"]\nurl = "sqlite:///{tmp_path / "q.db"}"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
        f'[targets.gone]\nurl = "sqlite:///{tmp_path / "none.db"}"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    assert run_inproc("--config", str(cfg), "--target", odd, "status").code == 0
    prom = tmp_path / "m.prom"
    res = run_inproc("--config", str(cfg), "check", "--all", "--prometheus", str(prom))
    assert res.code == 2, res.out + res.err  # CRITICAL outranks UNKNOWN
    samples = parse(prom.read_text())
    assert samples[("malnu_check_status", (("target", odd),))] == 2  # no verified backup
    assert math.isnan(samples[("malnu_backup_age_seconds", (("target", odd),))])
    assert samples[("malnu_check_status", (("target", "gone"),))] == 3
    assert ("malnu_migrations_failed", (("target", "gone"),)) not in samples  # not a 0


def test_a_sync_or_backup_dated_ahead_of_the_clock_has_no_age_and_a_flag(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A sync (or backup) dated ahead of the checking clock (the host that made it, or this
    one, set wrong): `check` said WARNING, but the gauges said the freshest of values,
    `malnu_sync_lag_seconds 0` and a negative `malnu_backup_age_seconds`, so a Prometheus rule
    on them never fired however long syncs or backups had stopped. Now the value is NaN
    (not known, as for no backup) and a gauge of its own says why: `malnu_syncs_dated_ahead`
    (a count), `malnu_backup_dated_ahead` (0/1); within 5 minutes ahead reads as fresh (0).
    Real SQLite, the rows and the manifest as another host's clock would have dated them."""
    import json
    import sqlite3
    from datetime import UTC, datetime, timedelta

    db = tmp_path / "p.db"
    cfg = _config(tmp_path, mdirs, {"primary": f"sqlite:///{db}"})
    c = ["--config", str(cfg)]
    assert run_inproc(*c, "up", "--no-backup").code == 0
    assert run_inproc(*c, "backup", "create").code == 0
    (manifest,) = (tmp_path / "backups" / "primary").glob("*.json")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    ahead = datetime.now(UTC) + timedelta(hours=2)
    data["created_at"] = ahead.isoformat()
    manifest.write_text(json.dumps(data), encoding="utf-8")

    def sync_row(when: datetime) -> None:
        at = when.strftime("%Y-%m-%d %H:%M:%S")
        detail = {"run": 1, "op": "sync", "object": "primary->copy", "started_at": at,
                  "ended_at": at, "duration_ms": 5, "error": "", "counts": {}}  # fmt: skip
        with sqlite3.connect(db) as conn:
            conn.execute(
                "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) "
                "VALUES (?, 'sync@other-host', 'run', 'sync primary->copy', 'ok', ?)",
                (at, json.dumps(detail)),
            )

    sync_row(ahead)
    prom = tmp_path / "malnu.prom"
    res = run_inproc(*c, "check", "--prometheus", str(prom))
    assert res.code == 1, res.out + res.err
    assert "WARNING primary backup_age: newest verified backup is dated" in res.out, res.out
    assert "WARNING primary sync_lag: sync primary->copy last succeeded at" in res.out, res.out
    g = parse(prom.read_text())
    t = (("target", "primary"),)
    assert math.isnan(g[("malnu_backup_age_seconds", t)]), prom.read_text()
    assert g[("malnu_backup_dated_ahead", t)] == 1
    assert math.isnan(g[("malnu_sync_lag_seconds", t)]), prom.read_text()
    assert g[("malnu_syncs_dated_ahead", t)] == 1
    # Within 5 min ahead (clocks a little apart): fresh, 0, nothing flagged.
    data["created_at"] = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()
    manifest.write_text(json.dumps(data), encoding="utf-8")
    sync_row(datetime.now(UTC) + timedelta(minutes=3))  # (the newest success of the pair)
    res = run_inproc(*c, "check", "--prometheus", str(prom))
    assert res.code == 0, res.out + res.err
    g = parse(prom.read_text())
    assert g[("malnu_backup_age_seconds", t)] == 0 and g[("malnu_backup_dated_ahead", t)] == 0
    assert g[("malnu_sync_lag_seconds", t)] == 0 and g[("malnu_syncs_dated_ahead", t)] == 0
