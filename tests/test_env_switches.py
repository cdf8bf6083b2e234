"""On/off environment variables (README "Debug mode", "Lint"): a value that is none of 1, true,
yes, on, 0, false, no, off is one `error:` line naming the variable and value, exit 2, before the
database is opened. `MALNU_DEBUG=2` ran without debug lines, `MALNU_LINT_CACHE=false` kept the
cache on, both silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_core import MigrationDirs, run_cli

BAD = {"MALNU_DEBUG": "2", "MIGRATION_DEBUG": "enabled", "MALNU_LINT_CACHE": "ture",
       "MALNU_SUMS_CACHE": "disable"}  # fmt: skip


def one_table(mdirs: MigrationDirs) -> None:
    mdirs.add("20250101_000000", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_switch_value_is_refused_before_anything_opens(
    tmp_path: Path, mdirs: MigrationDirs, name: str
) -> None:
    one_table(mdirs)
    db = tmp_path / "s.db"
    store = tmp_path / "backups"
    env = {name: BAD[name], "MALNU_BACKUP_DIR": str(store), "XDG_CACHE_HOME": str(tmp_path / "c")}
    for command in (["up", "--yes"], ["lint"], ["status"]):
        res = run_cli("--database", f"sqlite:///{db}", *mdirs.args(), *command, env=env)
        assert res.code == 2, (command, res.out, res.err)
        lines = res.err.splitlines()
        assert lines[0] == (
            f"error: {name}={BAD[name]!r}: expected 1, true, yes or on, or 0, false, no or off"
        ), lines
        assert lines[1].startswith("hint: unset it for the default"), lines
        assert len(lines) == 2 and res.out == "", res.err
        assert not db.exists() and not store.exists()
    # check, a monitoring plugin: UNKNOWN (exit 3), naming it
    res = run_cli("--database", f"sqlite:///{db}", *mdirs.args(), "check", env=env)
    assert res.code == 3 and f"{name}={BAD[name]!r}" in res.out + res.err, res.out
    assert not db.exists()


def test_documented_switch_values_still_work(tmp_path: Path, mdirs: MigrationDirs) -> None:
    one_table(mdirs)
    db = tmp_path / "s.db"
    args = ("--database", f"sqlite:///{db}", *mdirs.args())
    cases = [({"MALNU_DEBUG": "1"}, True), ({"MIGRATION_DEBUG": "1"}, True),
             ({"MALNU_DEBUG": " TRUE "}, True), ({"MALNU_DEBUG": "0"}, False),
             ({"MIGRATION_DEBUG": ""}, False), ({"MALNU_DEBUG": "off"}, False)]  # fmt: skip
    for i, (env, said) in enumerate(cases):
        url = f"sqlite:///{tmp_path / f'd{i}.db'}"
        res = run_cli("--database", url, *mdirs.args(), "up", "--yes", "--no-backup", env=env)
        assert res.code == 0 and ("debug: statement" in res.err) == said, (env, res.err)
    # The lint cache: 0 (the README's), and false (which kept it on) turn it off; 1 keeps it.
    for value, kept in (("0", False), ("false", False), ("1", True), ("", True)):
        cache = tmp_path / f"cache{value or 'unset'}"
        env = {"MALNU_LINT_CACHE": value, "XDG_CACHE_HOME": str(cache)}
        res = run_cli(*args, "lint", env=env)
        assert res.code == 0, res.err
        assert (cache / "malnu-tui" / "lint").is_dir() == kept, value
