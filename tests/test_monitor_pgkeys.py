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
