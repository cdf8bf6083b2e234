"""Times across zones, as the school meets them: an operator's machine in WIB (UTC+7, the
child's ``TZ``), a PostgreSQL database whose own ``timezone`` is Asia/Jakarta or New York (set
per database, never the cluster's), and times typed or stored without their zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.fixtures_core import MigrationDirs, run_cli

WIB = {"TZ": "Asia/Jakarta"}


def test_history_since_a_local_time_typed_without_its_zone_is_refused_not_empty(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """At 19:30 WIB an operator asked what ran in the last half hour: `history --since
    "<today> 19:00"` read 19:00 as UTC, 7 hours ahead, and said "0 runs" (exit 0) while an
    apply had run minutes before. Such a time is refused as `recover --to` refuses it."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    args = ("--database", f"sqlite:///{tmp_path / 'h.db'}", *mdirs.args())
    assert run_cli(*args, "up", "--yes").code == 0
    local = datetime.now(ZoneInfo("Asia/Jakarta")) - timedelta(minutes=30)
    res = run_cli(*args, "history", "--since", f"{local:%Y-%m-%d %H:%M}", env=WIB)
    assert res.code == 2 and res.out == "", res
    assert "is in the future" in res.err and "add its offset (+07:00)" in res.err, res.err
    res = run_cli(*args, "history", "--since", f"{local:%Y-%m-%d %H:%M}+07:00", env=WIB)
    assert res.code == 0 and "apply" in res.out, res
