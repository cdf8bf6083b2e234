"""`up --json --dry-run` (and `rollback --json --dry-run`) of a large seed: the document is
written statement by statement, the same bytes as one json.dumps of it."""

from __future__ import annotations

import argparse
import io
import json
import sys
import tracemalloc
from pathlib import Path

import pytest

from malnu_tui import cli
from malnu_tui.cli.context import Context, JsonList
from tests.fixtures_core import MigrationDirs


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True], ids=["program", "terminal"])
def test_a_list_written_item_by_item_is_the_json_dumps_of_it(
    terminal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compact for a program, indented at a terminal: byte for byte json.dumps', at any depth,
    empty lists and strings that need escapes included."""
    monkeypatch.delenv("MALNU_ASSUME_NO_TTY", raising=False)
    items = [{"line": 1, "sql": "INSERT 'é;\n\"x\"'"}, {"line": 7, "sql": ""}]
    data = {"a": [1, {"b": items, "c": []}], "d": items, "e": "end"}
    streamed = {"a": [1, {"b": JsonList(iter(items)), "c": JsonList(iter([]))}],
                "d": JsonList(x for x in items), "e": "end"}  # fmt: skip
    out = _Terminal() if terminal else io.StringIO()
    Context(argparse.Namespace(), stdout=out).out_json(streamed)
    assert out.getvalue() == json.dumps(data, indent=2 if terminal else None) + "\n"


def _seed(rows: int, note: str = "") -> str:
    return (
        "BEGIN TRANSACTION;\n"
        + "".join(
            f"INSERT INTO siswa (id, nama, note) VALUES ({i}, 'Siswa {i} O''Brien', "
            f"'a; b {i}{note}');\n"
            for i in range(1, rows + 1)
        )
        + "COMMIT;\n"
    )


def test_up_json_dry_run_of_a_large_seed_holds_no_copy_of_it(
    mdirs: MigrationDirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2.6 MB seed: the plan's JSON was built whole, statements and document (158 MB of RSS
    for a 20 MB seed); now a statement at a time, as the plain `--dry-run` writes its SQL.
    (10,000 statements of 260 bytes, the bytes of 30,000 short ones: 2.1 MB traced, 0.8 of
    the file, under a bound of twice it; built whole, 14 MB.)"""
    mdirs.add("20250101_000000", "siswa", "CREATE TABLE siswa (id INTEGER, nama TEXT, note TEXT);")
    seed = mdirs.migrations / "20250102_000000_seed.sql"
    seed.write_text(_seed(10_000, note="; catatan wali kelas" * 9))
    size = seed.stat().st_size
    assert size > 2_500_000
    out_path = tmp_path / "out.json"
    args = ["--database", f"sqlite:///{tmp_path / 'p.db'}", *mdirs.args(),
            "--json", "up", "--dry-run"]  # fmt: skip
    with open(out_path, "w", encoding="utf-8") as out:
        monkeypatch.setattr(sys, "stdout", out)
        assert cli.main(args) == 0  # (the modules it imports are not the figure)
        out.seek(0)
        out.truncate()
        tracemalloc.start()
        try:
            code = cli.main(args)
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert code == 0
    data = json.loads(out_path.read_text(encoding="utf-8"))
    steps = data["steps"]
    assert [s["filename"] for s in steps] == [
        "20250101_000000_siswa.sql",
        "20250102_000000_seed.sql",
    ]
    assert len(steps[1]["statements"]) == 10_000
    assert steps[1]["statements"][-1] == {
        "line": 10_001,
        "sql": "INSERT INTO siswa (id, nama, note) VALUES (10000, 'Siswa 10000 O''Brien', "
        f"'a; b 10000{'; catatan wali kelas' * 9}')",
    }
    assert peak < 2 * size, (peak, size)  # (it was 5 times the file)
