"""When `check` first saw each [sync.NAME] pair (sync_pairs_seen.json): keyed by what the pair
joins, never by a secret. A real config file and state file; no database is reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from malnu_tui.engine.config import load_settings
from malnu_tui.engine.monitor.config import MonitorConfig, load_monitor_config
from malnu_tui.engine.monitor.pairs_seen import pair_key, pairs_seen


def _seen(cfg: Path, copy_url: str, state: Path, now: datetime) -> tuple[MonitorConfig, str]:
    cfg.write_text(
        '[targets.a]\nurl = "sqlite:a.db"\n'
        f'[targets.r]\nurl = "{copy_url}"\n[sync.reporting]\nfrom = "a"\nto = "r"\n',
        encoding="utf-8",
    )
    mcfg = load_monitor_config(load_settings(config=str(cfg), env={}))
    assert mcfg.config_file is not None
    seen = pairs_seen(mcfg.config_file, mcfg.sync_pairs, now, state, databases=dict(mcfg.databases))
    (key,) = seen.first
    assert key == pair_key("reporting", "a", "r", dict(mcfg.databases))
    return mcfg, key


def test_a_pair_pointed_at_another_database_starts_its_grace_again(tmp_path: Path) -> None:
    """The first sighting was kept per config and pair name: `[targets.r]` pointed at another
    server (a new reporting copy) kept the old copy's first sighting, so a copy never synced
    was said at once, or stayed unsaid for as long as the old one had gone. Now keyed by the
    databases the pair joins too (no user, password or secret option: a password rotated is
    the same pair, and the state file holds none)."""
    cfg, state = tmp_path / "malnu.toml", tmp_path / "state" / "sync_pairs_seen.json"
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    old = "postgresql://ops:Rahasia1@db1.sekolah.id/lapor?sslpassword=Kunci2&sslmode=require"
    _, key = _seen(cfg, old, state, t0)
    assert (
        key
        == f"reporting a->r sqlite://{tmp_path / 'a.db'}->postgresql://db1.sekolah.id:5432/lapor"
    )
    rotated = old.replace("Rahasia1", "Rahasia3").replace("Kunci2", "Kunci4")
    mcfg, again = _seen(cfg, rotated, state, t0 + timedelta(days=2))
    assert again == key  # (the same database: its grace goes on)
    first = pairs_seen(cfg, mcfg.sync_pairs, t0 + timedelta(days=2), state,
                       databases=dict(mcfg.databases)).first  # fmt: skip
    assert first == {key: t0}
    moved = rotated.replace("db1.", "db2.")
    mcfg, new = _seen(cfg, moved, state, t0 + timedelta(days=3))
    assert new != key and new.endswith("->postgresql://db2.sekolah.id:5432/lapor"), new
    first = pairs_seen(cfg, mcfg.sync_pairs, t0 + timedelta(days=3), state,
                       databases=dict(mcfg.databases)).first  # fmt: skip
    assert first == {new: t0 + timedelta(days=3)}  # seen anew, the old copy's forgotten
    text = state.read_text(encoding="utf-8")
    for secret in ("Rahasia", "Kunci", "ops:"):
        assert secret not in text, text
