"""`check`'s text as Nagios and Icinga read it (the monitoring-plugin output: text, then
performance data after a `|`), on the throwaway PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures_core import MigrationDirs
from tests.inproc import run_inproc


def test_a_pipe_in_a_quoted_error_never_starts_performance_data(
    tmp_path: Path, mdirs: MigrationDirs, pg_url: str
) -> None:
    """Nagios and Icinga take whatever follows a `|`, on any line of a plugin's output, for
    performance data: a failed migration whose error quotes PostgreSQL (`operator does not
    exist: integer || integer`) lost the rest of its line in the web view and fed the graphs
    `integer` and the other check lines as perf data. The text's `|` is `¦` now; the first
    line has the one `|` before the real performance data, and --json keeps the text."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    mdirs.add("20250101_000200", "b", "SELECT 1 || 2;")
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "b"}"\n[targets."db|main"]\nurl = "{pg_url}"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    c = ["--config", str(cfg)]
    assert run_inproc(*c, "up", "--yes").code == 1
    res = run_inproc(*c, "check")
    assert res.code == 2, res.out + res.err
    first, *rest = res.out.splitlines()
    assert first.count("|") == 1 and first.endswith(" | failed=1;;1 slow=0;1;"), first
    assert first.startswith("MALNU CRITICAL - db¦main: 1 failed migration"), first
    assert not [line for line in rest if "|" in line], res.out
    assert "operator does not exist: integer ¦¦ integer" in rest[0], rest[0]
    doc = json.loads(run_inproc(*c, "check", "--json").out)
    assert "integer || integer" in doc["problems"][0]["message"], doc
