"""Which PostgreSQL database a URL names, by what libpq reads from it (its query's ``?host=``,
``?hostaddr=``, ``?port=``, ``?dbname=`` and a multi-host list too), as the monitor's incidents
and sync pairs' first sightings are keyed; the state kept the old way taken over once. A real
state file and a real HTTP receiver; no database is reached."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from malnu_tui.engine.config import load_settings
from malnu_tui.engine.monitor.alerts import Configured, process_alerts
from malnu_tui.engine.monitor.config import (
    Webhook,
    database_before_of,
    database_of,
    load_monitor_config,
)
from malnu_tui.engine.monitor.health import CheckReport, Problem, Severity, TargetHealth
from malnu_tui.engine.monitor.pairs_seen import pair_key, pairs_seen
from malnu_tui.engine.monitor.webhooks import hook_id
from malnu_tui.engine.urls import database_key
from tests.webhook_support import Receiver

DB1 = "postgresql://ops:Rahasia1@/sekolah?host=db1.sekolah.id&sslpassword=Kunci2"
DB2 = "postgresql://ops:Rahasia1@/sekolah?host=db2.sekolah.id&sslpassword=Kunci2"


def test_a_urls_query_host_port_and_database_tell_databases_apart() -> None:
    """``?host=db1`` and ``?host=db2`` (and ``?port=``, ``?dbname=``, ``?hostaddr=``, a
    multi-host list) were one key: the URL's query was not read. Never a secret in it."""
    assert database_key(DB1) == "postgresql://db1.sekolah.id:5432/sekolah"
    assert database_key(DB1) != database_key(DB2)
    plain = "postgresql://u@db1.sekolah.id/sekolah"
    assert database_key(plain) == database_key(DB1)  # (one database, however spelt)
    assert database_key(plain + "?port=6000") == "postgresql://db1.sekolah.id:6000/sekolah"
    assert database_key(plain + "?dbname=lapor") == "postgresql://db1.sekolah.id:5432/lapor"
    assert database_key("postgresql:///x?hostaddr=10.0.0.1") != database_key(
        "postgresql:///x?hostaddr=10.0.0.2"
    )
    assert database_key("postgresql:///x?host=a,b&port=5432,5433") == (
        "postgresql://a:5432,b:5433/x"
    )
    assert database_key("postgresql://a,b/x") == "postgresql://a:5432,b:5432/x"
    assert database_key("postgresql://u:Sandi7@A:5432,b:5433/x") == "postgresql://a:5432,b:5433/x"
    # One libpq cannot read (a bad %-escape): never the password, never a traceback.
    assert "Sandi7" not in database_key(
        "postgresql://u:Sandi7@a:5432,b:5433/x?application_name=%zz"
    )
    # Not the user, password, options or the tool's own settings.
    other = "postgresql://app:Lain9@db1.sekolah.id/sekolah?options=-cwork_mem%3D1MB&schema=s"
    assert database_key(other) == database_key(DB1)
    for url in (DB1, DB2):
        for secret in ("Rahasia", "Kunci", "ops"):
            assert secret not in database_of(url)


def _report(url: str, problem: Problem) -> CheckReport:
    health = TargetHealth(
        "primary",
        (problem,),
        database=database_of(url),
        database_before=database_before_of(url),
    )
    return CheckReport((health,), "t")


def test_two_configs_primary_on_two_hosts_keep_their_own_incidents(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Staging's and production's "primary", `?host=db1` and `?host=db2`: one database's
    incident was taken for the other's (its problem never sent, its resolution sent by the
    other). And a state file of the old keys is taken over: not sent again, not closed as
    "now names another database"."""
    hook = Webhook("json", receiver.url(), timeout=2, retries=0)
    state = tmp_path / "incidents.json"
    problem = Problem("primary", "backup_age", Severity.CRITICAL, "no backup", None, "backups")
    assert len(process_alerts(_report(DB1, problem), (hook,), path=state).sent) == 1
    assert len(process_alerts(_report(DB2, problem), (hook,), path=state).sent) == 1
    kept = json.loads(state.read_text())["incidents"]
    assert sorted(i["database"] for i in kept.values()) == [
        "postgresql://db1.sekolah.id:5432/sekolah",
        "postgresql://db2.sekolah.id:5432/sekolah",
    ]
    # An incident kept by an earlier version, under the key the URL had then.
    was = database_before_of(DB1)
    assert was == "postgresql://:5432/sekolah"
    old = {"database": was, "target": "primary", "check": "backup_age", "object": "backups",
           "severity": "CRITICAL", "message": "no backup", "since": None,
           "opened_at": "2026-12-01 00:00:00", "state": "open", "sent": [hook_id(hook)],
           "config": "/etc/malnu/malnu.toml"}  # fmt: skip
    state.write_text(json.dumps({"version": 1, "incidents": {"primary|backup_age|backups": old}}))
    configured = Configured(
        "/etc/malnu/malnu.toml",
        frozenset({("primary", database_of(DB1))}),
        frozenset({("primary", was, database_of(DB1))}),
    )
    out = process_alerts(_report(DB1, problem), (hook,), path=state, configured=configured)
    assert (out.sent, out.closed) == ((), ())
    (inc,) = json.loads(state.read_text())["incidents"].values()
    assert (inc["database"], inc["opened_at"]) == (database_of(DB1), "2026-12-01 00:00:00")
    # `check --target other` of that config: its incident is taken over by the config too.
    state.write_text(json.dumps({"version": 1, "incidents": {"primary|backup_age|backups": old}}))
    out = process_alerts(CheckReport((), "t"), (hook,), path=state, configured=configured)
    assert (out.sent, out.closed) == ((), ())
    assert len(receiver.events()) == 2


def test_a_pairs_first_sighting_is_kept_per_host_and_taken_over_from_the_old_key(
    tmp_path: Path,
) -> None:
    """`[targets.r]` moved from `?host=db1` to `?host=db2` (a new reporting copy) kept the old
    copy's first sighting; and one recorded under the old key is not started again."""
    cfg, state = tmp_path / "malnu.toml", tmp_path / "state" / "sync_pairs_seen.json"
    t0 = datetime(2026, 12, 1, tzinfo=UTC)

    def seen(url: str, now: datetime) -> dict[str, datetime]:
        cfg.write_text(
            f'[targets.a]\nurl = "sqlite:a.db"\n[targets.r]\nurl = "{url}"\n'
            '[sync.reporting]\nfrom = "a"\nto = "r"\n',
            encoding="utf-8",
        )
        mcfg = load_monitor_config(load_settings(config=str(cfg), env={}))
        assert mcfg.config_file is not None
        return pairs_seen(mcfg.config_file, mcfg.sync_pairs, now, state,
                          databases=dict(mcfg.databases),
                          before=dict(mcfg.databases_before)).first  # fmt: skip

    a = f"sqlite://{tmp_path / 'a.db'}"
    old = pair_key("reporting", "a", "r", {"a": a, "r": "postgresql://:5432/sekolah"})
    state.parent.mkdir()
    configs = {str(cfg.resolve()): {old: "2026-12-01 00:00:00"}}
    cfg.write_text("", encoding="utf-8")
    state.write_text(json.dumps({"version": 1, "configs": configs}), encoding="utf-8")
    first = seen(DB1, t0 + timedelta(days=2))
    key = pair_key("reporting", "a", "r", {"a": a, "r": database_of(DB1)})
    assert first == {key: t0}  # taken over: its grace goes on
    assert seen(DB2, t0 + timedelta(days=3)) == {
        pair_key("reporting", "a", "r", {"a": a, "r": database_of(DB2)}): t0 + timedelta(days=3)
    }  # another copy: seen anew
    text = state.read_text(encoding="utf-8")
    for secret in ("Rahasia", "Kunci", "ops:"):
        assert secret not in text, text


def test_a_check_of_the_earlier_version_in_flight_at_the_upgrade_does_not_page_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The newest check of each target (`checked`, which keeps runs that overlap from
    alerting out of order) was not taken over at the re-key: a run of the earlier version in
    flight at the upgrade (its target hanging), finishing after the first run of this one had
    sent "resolved", sent the fixed problem again under the old key (and the next run sent
    "resolved" again). That run is made here as the earlier version made it: its report names
    the database by the old key, with no other."""
    hook = Webhook("json", receiver.url(), timeout=2, retries=0)
    state = tmp_path / "incidents.json"
    problem = Problem("primary", "backup_age", Severity.CRITICAL, "no backup", None, "backups")
    was = database_before_of(DB1)
    old = {"database": was, "target": "primary", "check": "backup_age", "object": "backups",
           "severity": "CRITICAL", "message": "no backup", "since": None,
           "opened_at": "2026-12-08 09:59:00", "state": "open",
           "sent": [hook_id(hook)]}  # fmt: skip
    checked = {f"primary@{was}": "2026-12-08 09:59:00"}  # (the earlier version's last check)
    incidents = {"primary|backup_age|backups": old}
    state.write_text(json.dumps({"version": 1, "incidents": incidents, "checked": checked}))
    at = datetime(2026, 12, 8, 10, 1, 30, tzinfo=UTC)
    fixed = TargetHealth("primary", (), database=database_of(DB1), database_before=was)
    out = process_alerts(CheckReport((fixed,), "2026-12-08 10:01:00"), (hook,), path=state, now=at)
    assert [e for e, _ in receiver.events()] == ["resolved"]
    earlier = TargetHealth("primary", (problem,), database=was)  # (began 10:00, ends 10:02)
    out = process_alerts(CheckReport((earlier,), "2026-12-08 10:00:00"), (hook,), path=state,
                         now=at + timedelta(seconds=30))  # fmt: skip
    assert out.outrun == ("primary (2026-12-08 10:00:00; alerted on: 2026-12-08 10:01:00)",)
    out = process_alerts(CheckReport((fixed,), "2026-12-08 10:02:00"), (hook,), path=state,
                         now=at + timedelta(seconds=60))  # fmt: skip
    assert [e for e, _ in receiver.events()] == ["resolved"], "paged again"
    assert json.loads(state.read_text())["incidents"] == {}


def test_a_pair_named_with_a_space_keeps_its_grace_from_the_names_only_key(
    tmp_path: Path,
) -> None:
    """A first sighting kept by a version that keyed pairs by names alone (`laporan harian
    a->r`) was looked up by the new key cut at its second space (`laporan harian`): not found,
    the never-synced pair's grace started again at the upgrade, a day more unsaid."""
    cfg, state = tmp_path / "malnu.toml", tmp_path / "state" / "sync_pairs_seen.json"
    cfg.write_text(
        '[targets.a]\nurl = "sqlite:a.db"\n[targets.r]\nurl = "sqlite:r.db"\n'
        '[sync."laporan harian"]\nfrom = "a"\nto = "r"\n',
        encoding="utf-8",
    )
    state.parent.mkdir()
    configs = {str(cfg.resolve()): {"laporan harian a->r": "2026-12-01 00:00:00"}}
    state.write_text(json.dumps({"version": 1, "configs": configs}), encoding="utf-8")
    mcfg = load_monitor_config(load_settings(config=str(cfg), env={}))
    assert mcfg.config_file is not None
    now = datetime(2026, 12, 3, tzinfo=UTC)
    first = pairs_seen(mcfg.config_file, mcfg.sync_pairs, now, state,
                       databases=dict(mcfg.databases)).first  # fmt: skip
    key = pair_key("laporan harian", "a", "r", dict(mcfg.databases))
    assert first == {key: now - timedelta(days=2)}  # (its grace goes on)
