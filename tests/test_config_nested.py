"""A config or a mapping file nested thousands deep (`a = [[[[…`: a generated file gone wrong,
a fuzzer, a paste) made Python's TOML reader raise RecursionError, a traceback (exit 1) for
every command but `check`; now one line naming the file, exit 2, as any unreadable TOML."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.inproc import run_inproc

DEEP = "[" * 3000 + "]" * 3000


def test_a_config_nested_too_deep_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f"x = {DEEP}\n", encoding="utf-8")
    res = run_inproc("--config", str(cfg), "status")
    assert res.code == 2, res.err
    assert res.err.startswith(f"error: {cfg}: not valid TOML: arrays or tables nested too deep")
    assert "Traceback" not in res.err


def test_a_mapping_file_nested_too_deep_is_one_line_and_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a TEXT)")
    (tmp_path / "a.csv").write_text("a\n1\n", encoding="utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text(f"[columns.a]\nfrom = {DEEP}\n", encoding="utf-8")
    res = run_inproc(
        "--database", f"sqlite:///{db}", "import", str(tmp_path / "a.csv"), "--table", "t",
        "--map", str(mapping), "--dry-run",
    )  # fmt: skip
    assert res.code == 2, res.err
    assert "map.toml: not valid TOML: arrays or tables nested too deep" in res.err, res.err
    assert "Traceback" not in res.err
