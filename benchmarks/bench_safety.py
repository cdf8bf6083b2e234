"""Migration safety benchmarks (issue 15): `lint --all` of 1,000 migrations (goal < 1 s) and
the stairway of the school's set on SQLite (goal < 10 s). Floors measured in the same run:
reading and splitting the same files (lint), one plain apply of the set with sqlite3 (stairway).
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import best_of, print_table
from malnu_tui.engine.files import discover
from malnu_tui.engine.lint import lint_migrations
from malnu_tui.engine.scratch import SQLiteScratch
from malnu_tui.engine.stairway import run_stairway, units_for

ROOT = Path(__file__).resolve().parent.parent

KINDS = [
    ("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, v INTEGER DEFAULT 0);\n"
     "CREATE INDEX idx_t{i}_name ON t{i}(name);\n",
     "DROP INDEX idx_t{i}_name;\nDROP TABLE t{i};\n"),
    ("ALTER TABLE t{p} ADD COLUMN note{i} TEXT;\n", "ALTER TABLE t{p} DROP COLUMN note{i};\n"),
    ("CREATE UNIQUE INDEX u_t{p}_{i} ON t{p}(name, v);\n", "DROP INDEX u_t{p}_{i};\n"),
    ("-- lint:ignore RENAME-COLUMN the app reads both names since 2.1\n"
     "ALTER TABLE t{p} RENAME COLUMN v TO v{i};\n",
     "ALTER TABLE t{p} RENAME COLUMN v{i} TO v;\n"),
    ("CREATE TABLE t{i}_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, v INTEGER DEFAULT 0);\n"
     "INSERT INTO t{i}_new (id, name, v) SELECT id, name, v FROM t{p};\n"
     "UPDATE t{i}_new SET v = v + 1 WHERE v IS NOT NULL;\n",
     "DROP TABLE t{i}_new;\n"),
]  # fmt: skip


def write_set(root: Path, n: int) -> tuple[Path, Path]:
    mig, rb = root / "migrations", root / "rollback"
    mig.mkdir(parents=True)
    rb.mkdir(parents=True)
    last_table = 0
    for i in range(n):
        v = f"{20250101 + i // 86400}_{(i % 86400) // 3600:02d}{(i % 3600) // 60:02d}{i % 60:02d}"
        kind = 0 if i % 5 == 0 else i % len(KINDS)
        if kind == 0:
            last_table = i
        up, down = KINDS[kind]
        (mig / f"{v}_m{i}.sql").write_text(
            f"-- Description: change {i}\n-- Author: bench\n\n" + up.format(i=i, p=last_table)
        )
        (rb / f"{v}_undo_m{i}.sql").write_text(down.format(i=i, p=last_table))
    return mig, rb


def read_floor(mig: Path, rb: Path) -> None:
    mset = discover(mig, rb)
    for m in mset.migrations:
        m.statements()
        if m.rollback is not None:
            m.rollback.read_text()


def bench_lint(tmp: Path) -> list[tuple[str, str, str, str]]:
    mig, rb = write_set(tmp / "lint", 1000)
    floor = best_of(lambda: read_floor(mig, rb), repeat=5)
    engine = best_of(lambda: lint_migrations(discover(mig, rb)), repeat=5)
    report = lint_migrations(discover(mig, rb))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "xdg"), "XDG_CONFIG_HOME": str(tmp / "xc"),
           "MALNU_LINT_CACHE": "0"}  # the rules themselves, not a cached report  # fmt: skip
    cmd = [str(ROOT / ".venv/bin/malnu-tui"), "--migrations-dir", str(mig), "--rollback-dir",
           str(rb), "lint", "--all", "--json"]  # fmt: skip
    cli = best_of(lambda: subprocess.run(cmd, env=env, capture_output=True, check=False), 3)
    return [
        ("read + split 1,000 files (floor)", f"{floor:.3f} s", "1.0x", ""),
        (f"lint engine, 1,000 files ({len(report.findings)} findings)", f"{engine:.3f} s",
         f"{engine / floor:.1f}x", "goal < 1 s: " + ("met" if engine < 1 else "MISSED")),
        ("malnu-tui lint --all --json (process)", f"{cli:.3f} s", f"{cli / floor:.1f}x",
         "goal < 1 s: " + ("met" if cli < 1 else "MISSED")),
    ]  # fmt: skip


def apply_floor(mig: Path) -> None:
    """Each migration's statements (the template's BEGIN/COMMIT/INSERT stripped, as the tool
    does) in one sqlite3 script each."""
    with tempfile.TemporaryDirectory() as d:
        conn = sqlite3.connect(str(Path(d) / "floor.db"), isolation_level=None)
        conn.execute("PRAGMA synchronous = OFF")  # as the stairway's throwaway file
        for m in discover(mig, ROOT / "rollback").migrations:
            conn.executescript("".join(f"{st.text};\n" for st in m.statements()))
        conn.close()


def stairway() -> float:
    mset = discover(ROOT / "migrations", ROOT / "rollback")
    scratch = SQLiteScratch()
    try:
        report = run_stairway(scratch, units_for(mset, translate=False))
    finally:
        scratch.close()
    assert report.ok, report.summary()
    return report.seconds


def bench_stairway() -> list[tuple[str, str, str, str]]:
    floor = best_of(lambda: apply_floor(ROOT / "migrations"), repeat=5)
    t = best_of(stairway, repeat=5)
    return [
        ("sqlite3: apply the school's 7 migrations once (floor)", f"{floor:.3f} s", "1.0x", ""),
        ("stairway: 7 x (fingerprint, apply, roll back, compare, re-apply)", f"{t:.3f} s",
         f"{t / floor:.1f}x", "goal < 10 s: " + ("met" if t < 10 else "MISSED")),
    ]  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        rows = bench_lint(Path(d))
    rows += bench_stairway()
    print_table("migration safety (best of runs, this machine)",
                ["what", "time", "vs floor", "target"], rows)  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
