"""Import throughput: 1,000,000 rows × 5 columns into SQLite beside `sqlite3 .import` of the
same file, and into PostgreSQL beside `psql -c "\\copy … FROM … CSV HEADER"`, in the same run,
with the peak RSS of our process at 100,000 and 1,000,000 rows (memory must stay flat).

Standalone: `.venv/bin/python benchmarks/bench_import.py [--rows 100000 1000000] [--runs 3]`
(`benchmarks/run` runs every bench_*.py). Targets: within 1.5× of `.import` and 1.3× of
`\\copy`. Last, the Python floors at the largest size (the csv module alone, ``executemany``
of ``csv.reader`` in one transaction, psycopg's COPY fed the raw file), against the tools'
floors of the same run.

Both sides run as processes, as an operator runs them, each into a fresh empty table with the
same primary key, alternated run after run (PostgreSQL: a CHECKPOINT before each run, so no
side inherits the other's). Ours does more than the baselines: it checks every value against
the column's declared type (integers, NOT NULL), counts the table before and after, checks
the balance, takes the lock and writes the audit and run rows (`--no-backup`: the safety
backup is a separate cost, measured by bench_backup.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._table import fastest  # noqa: E402

DDL = (
    "CREATE TABLE students (id INTEGER PRIMARY KEY, nis TEXT NOT NULL, name TEXT NOT NULL, "
    "email TEXT NOT NULL, score INTEGER)"
)
FIRST = [
    "Siti",
    "Muhammad",
    "Dewi",
    "Ahmad",
    "Putri",
    "Rizky",
    "Nur",
    "Ni Luh",
    "Érika",
    "Zulfikar",
]
LAST = [
    "Rahmawati",
    "Fauzi",
    "Lestari",
    "Pratama",
    "Kusumawardhani",
    "Hidayat",
    "Aini",
    "Damayanti",
]


def make_csv(path: Path, rows: int) -> None:
    rnd = random.Random(13)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("id,nis,name,email,score\n")
        for i in range(1, rows + 1):
            name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
            fh.write(f"{i},{i:010d},{name},siswa{i}@malnu.sch.id,{rnd.randint(0, 100)}\n")


def run_measured(
    argv: list[str], env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one process."""
    environ = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in drop}
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=environ,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}… failed ({proc.returncode}):\n{err.decode()}")
    return elapsed, int(usage.ru_maxrss)


def best(
    sides: dict[str, Callable[[], tuple[float, int]]], runs: int, reset: Callable[[], None]
) -> dict[str, tuple[float, int]]:
    """Best wall time and largest peak RSS of each side, the sides alternated run after run
    (so a slow moment of the box, or a checkpoint, does not land on one side only)."""
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, fn in sides.items():
            reset()
            results[name].append(fn())
    return {name: (min(r[0] for r in rs), max(r[1] for r in rs)) for name, rs in results.items()}


OURS = [sys.executable, "-m", "malnu_tui"]
PYCACHE = Path(tempfile.gettempdir()) / "malnu-bench-import-pycache"


def ours(url: str, csv_path: Path) -> Callable[[], tuple[float, int]]:
    """``malnu-tui import`` of the file into ``students`` (no backup: measured elsewhere).
    Bytecode is cached (outside the checkout) as an installed package has it, whatever
    PYTHONDONTWRITEBYTECODE says here; the first of the runs writes it."""
    argv = [*OURS, "--database", url, "import", str(csv_path), "--table", "students", "--yes"]
    env = {"MALNU_ASSUME_NO_TTY": "1", "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    return lambda: run_measured([*argv, "--no-backup"], env, drop=("PYTHONDONTWRITEBYTECODE",))


def bench_sqlite(work: Path, csv_path: Path, rows: int, runs: int) -> dict[str, tuple[float, int]]:
    db = work / "bench.db"

    def fresh() -> None:
        for p in work.glob("bench.db*"):
            p.unlink()
        conn = sqlite3.connect(str(db))
        conn.execute("PRAGMA journal_mode = WAL")  # as the tool opens every database
        conn.execute(DDL)
        conn.close()

    def baseline() -> tuple[float, int]:
        return run_measured(
            ["sqlite3", str(db), "-cmd", ".mode csv", f".import --skip 1 {csv_path} students"]
        )

    url = f"sqlite:///{db}"

    out = best({"base": baseline, "ours": ours(url, csv_path)}, runs, fresh)
    conn = sqlite3.connect(str(db))
    assert conn.execute("SELECT count(*) FROM students").fetchone()[0] == rows
    conn.close()
    return out


def bench_postgres(
    url: str, psql: str, csv_path: Path, rows: int, runs: int
) -> dict[str, tuple[float, int]]:
    import psycopg

    def fresh() -> None:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("DROP TABLE IF EXISTS students")
            c.execute(DDL)
            c.execute("CHECKPOINT")  # each run starts with no checkpoint owed

    def baseline() -> tuple[float, int]:
        return run_measured(
            [psql, "-q", "-d", url, "-c", f"\\copy students FROM '{csv_path}' CSV HEADER"]
        )

    out = best({"base": baseline, "ours": ours(url, csv_path)}, runs, fresh)
    with psycopg.connect(url) as c:
        got = c.execute("SELECT count(*) FROM students").fetchone()
        assert got is not None and got[0] == rows
    return out


def python_floors(csv_path: Path, work: Path, pg_url: str | None, runs: int) -> dict[str, float]:
    """What plain Python reaches on the same file, in this process (no start-up, no checks):
    the csv module alone; ``executemany`` of ``csv.reader`` in one SQLite transaction;
    psycopg's COPY fed the file's raw blocks. They say how close to the tools' floors a
    Python import can get at all."""
    import csv

    def reader() -> None:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            for _ in csv.reader(fh):
                pass

    def sqlite_many() -> None:
        db = work / "floor.db"
        for p in work.glob("floor.db*"):
            p.unlink()
        conn = sqlite3.connect(str(db), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(DDL)
        conn.execute("BEGIN")
        with csv_path.open(newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows)
            conn.executemany("INSERT INTO students VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        conn.close()

    def pg_copy() -> None:
        import psycopg

        assert pg_url is not None
        with psycopg.connect(pg_url) as c:
            c.execute("DROP TABLE IF EXISTS students")
            c.execute(DDL)
            with (
                c.cursor() as cur,
                cur.copy("COPY students FROM STDIN (FORMAT csv, HEADER true)") as cp,
                csv_path.open("rb") as fh,
            ):
                while block := fh.read(1 << 20):
                    cp.write(block)

    out = {"csv.reader": fastest(reader, runs), "sqlite executemany": fastest(sqlite_many, runs)}
    if pg_url is not None:
        out["psycopg COPY"] = fastest(pg_copy, runs)
    return out


def report(
    title: str, base_name: str, goal: float, results: dict[int, dict[str, tuple[float, int]]]
) -> None:
    print(f"\n{title}")
    print(
        f"  {'rows':>9}  {base_name:>16}  {'malnu-tui import':>16}  {'ratio':>6}  "
        f"{'our peak RSS':>12}  {'rows/s':>10}  goal ≤ {goal}×"
    )
    for rows, r in sorted(results.items()):
        (tb, _), (to, rss) = r["base"], r["ours"]
        ratio = to / tb
        print(
            f"  {rows:>9,}  {tb:>14.2f} s  {to:>14.2f} s  {ratio:>5.2f}×  {rss / 1024:>9.0f} MiB"
            f"  {rows / to:>10,.0f}  {'met' if ratio <= goal else 'NOT met'}"
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="malnu-bench-import-"))
    cluster = None
    try:
        files = {}
        for n in args.rows:
            files[n] = work / f"students_{n}.csv"
            make_csv(files[n], n)
            print(f"{n:,} rows: {files[n].stat().st_size / 1e6:.0f} MB CSV")
        largest = max(args.rows)
        tool_floor: dict[str, float] = {}
        floors: dict[str, float] = {}
        if shutil.which("sqlite3"):
            results = {n: bench_sqlite(work, files[n], n, args.runs) for n in args.rows}
            report("SQLite (WAL file) — best of runs", "sqlite3 .import", 1.5, results)
            tool_floor["sqlite"] = results[largest]["base"][0]
        else:
            print("\nSQLite: skipped (no sqlite3 CLI)")
        if not args.skip_pg:
            import psycopg

            from tests.fixtures_pg import start_cluster, stop_cluster

            base = Path(tempfile.mkdtemp(prefix="malnu-bench-pg-"))  # the server user's
            cluster = start_cluster(base)
            with psycopg.connect(cluster.superuser_url, autocommit=True) as c:
                c.execute("CREATE DATABASE bench")
            url = cluster.url("bench")
            try:
                pg = {
                    n: bench_postgres(url, cluster.bin("psql"), files[n], n, args.runs)
                    for n in args.rows
                }
                title = f"PostgreSQL {cluster.bin_dir.parent.name} — best of runs"
                report(title, "psql \\copy", 1.3, pg)
                tool_floor["postgresql"] = pg[largest]["base"][0]
                floors = python_floors(files[largest], work, url, args.runs)
            finally:
                stop_cluster(cluster.bin_dir, cluster.data_dir)
                shutil.rmtree(base, ignore_errors=True)
        if not floors:
            floors = python_floors(files[largest], work, None, args.runs)
        print(f"\nPython floors, {largest:,} rows, in this process (no start-up, no checks)")
        against = {
            "csv.reader": "sqlite",
            "sqlite executemany": "sqlite",
            "psycopg COPY": "postgresql",
        }
        for name, t in floors.items():
            base = tool_floor.get(against[name])
            vs = f"{t / base:5.2f}× the {against[name]} tool's floor" if base else ""
            print(f"  {name:>20}  {t:6.2f} s  {vs}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
