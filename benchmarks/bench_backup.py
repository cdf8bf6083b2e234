"""Backup throughput: SQLite (≥ 1 GB) against `sqlite3 .backup` and a plain file copy, and
PostgreSQL against a bare `pg_dump -Fc` on a throwaway cluster.

Standalone: `.venv/bin/python benchmarks/bench_backup.py [--sqlite-mb 1100] [--pg-rows 1000000]`
(`benchmarks/run` runs every bench_*.py). Prints a table; targets: SQLite within 1.5× of a file
copy, PostgreSQL overhead under 10% over pg_dump.

Our backup does more than the baselines: PRAGMA quick_check, row counts, sha256 and fsync of
the copy (quick_check and sha256 run side by side). The file copy is shown with and without
fsync so the comparison is fair.
"""

from __future__ import annotations

import argparse
import os
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

from malnu_tui.engine.backends.sqlite import SQLiteBackend  # noqa: E402
from malnu_tui.engine.backup import create_backup  # noqa: E402
from malnu_tui.engine.config import Target  # noqa: E402

MB = 1024 * 1024


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def best(fn: Callable[[], object], runs: int, cleanup: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        times.append(timed(fn))
        cleanup()
    return min(times)


def make_sqlite(path: Path, megabytes: int) -> None:
    """A WAL database of about ``megabytes`` MB: 1 KiB random rows, written in one go."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("CREATE TABLE submissions (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    rows = megabytes * 1000
    conn.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
        "INSERT INTO submissions SELECT x, randomblob(1000) FROM c",
        (rows,),
    )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def row(name: str, seconds: float, size: int, base: float | None) -> str:
    ratio = f"{seconds / base:5.2f}×" if base else "  —  "
    return f"  {name:<38} {seconds:8.2f} s {size / MB / seconds:9.0f} MB/s {ratio:>8}"


def bench_sqlite(work: Path, megabytes: int, runs: int) -> None:
    db = work / "school.db"
    started = time.perf_counter()
    make_sqlite(db, megabytes)
    size = db.stat().st_size
    print(
        f"\nSQLite: {size / MB:.0f} MB database generated in {time.perf_counter() - started:.1f} s"
    )
    with db.open("rb") as f:  # warm the page cache: every method reads from memory
        while f.read(64 * MB):
            pass
    out = work / "copy.db"

    def rm() -> None:
        for p in work.glob("copy.db*"):
            p.unlink()

    def copy_plain() -> None:
        shutil.copyfile(db, out)

    def copy_fsync() -> None:
        shutil.copyfile(db, out)
        fsync(out)

    have_cli = shutil.which("sqlite3") is not None

    def sqlite_cli() -> None:
        subprocess.run(["sqlite3", str(db), f".backup '{out}'"], check=True)

    store = work / "store"
    target = Target("bench", f"sqlite:///{db}", work / "m", work / "r", store)
    SQLiteBackend(db).close()  # the tool tables exist before timing

    # The backend is opened per run, never while this process reads the file with plain file
    # APIs: closing any descriptor of a file drops the process's POSIX locks on it, SQLite's
    # included (a documented SQLite pitfall), and another process may then delete the -shm.
    def ours() -> None:
        backend = SQLiteBackend(db)
        try:
            create_backup(backend, target, reason="manual")
        finally:
            backend.close()

    def rm_store() -> None:
        shutil.rmtree(store, ignore_errors=True)

    t_copy = best(copy_plain, runs, rm)
    t_copy_sync = best(copy_fsync, runs, rm)
    t_cli = best(sqlite_cli, runs, rm) if have_cli else None
    t_ours = best(ours, runs, rm_store)
    print(f"  {'method':<38} {'time':>10} {'throughput':>14} {'vs cp+fsync':>8}")
    print(row("file copy (shutil.copyfile, no fsync)", t_copy, size, t_copy_sync))
    print(row("file copy + fsync", t_copy_sync, size, t_copy_sync))
    if t_cli is not None:
        print(row("sqlite3 .backup (CLI, no fsync)", t_cli, size, t_copy_sync))
    print(row("malnu-tui backup create", t_ours, size, t_copy_sync))
    verdict = "met" if t_ours <= 1.5 * t_copy_sync else "NOT met"
    print(
        f"  target ≤ 1.5× file copy + fsync: {verdict} ({t_ours / t_copy_sync:.2f}×; "
        f"{t_ours / t_copy:.2f}× the copy without fsync)"
    )


def bench_postgres(work: Path, rows: int, runs: int) -> None:
    try:
        from tests.fixtures_pg import start_cluster, stop_cluster
    except Exception as exc:  # pragma: no cover - the test fixture is the cluster recipe
        print(f"\nPostgreSQL: skipped, cannot import the cluster fixture: {exc}")
        return
    import psycopg

    base = Path(tempfile.mkdtemp(prefix="malnu-bench-pg-"))
    cluster = start_cluster(base)
    try:
        with psycopg.connect(cluster.superuser_url, autocommit=True) as c:
            c.execute("CREATE DATABASE bench")
        url = cluster.url("bench")
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("CREATE TABLE submissions (id BIGINT PRIMARY KEY, student TEXT, body TEXT)")
            c.execute(
                "INSERT INTO submissions SELECT g, 'student ' || (g % 1000), "
                "md5(g::text) || md5((g * 7)::text) || repeat(md5(random()::text), 4) "
                f"FROM generate_series(1, {int(rows)}) g",
            )
            c.execute("VACUUM ANALYZE submissions")
            size = int(
                c.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
            )
        print(
            f"\nPostgreSQL {cluster.bin_dir.parent.name}: {size / MB:.0f} MB database "
            f"({rows} rows) generated in {time.perf_counter() - started:.1f} s"
        )
        out = work / "bare.dump"
        store = work / "pgstore"
        target = Target("bench", url, work / "m", work / "r", store)
        from malnu_tui.engine.config import open_backend

        backend = open_backend(target)
        backend.ensure_schema()

        def bare() -> None:
            subprocess.run([cluster.bin("pg_dump"), "-Fc", "-f", str(out), "-d", url], check=True)

        def ours() -> None:
            create_backup(backend, target, reason="manual")

        t_bare = best(bare, runs, lambda: out.unlink())
        t_ours = best(ours, runs, lambda: shutil.rmtree(store, ignore_errors=True))
        backend.close()
        overhead = (t_ours / t_bare - 1) * 100
        print(f"  {'method':<38} {'time':>10} {'db MB/s':>14} {'vs pg_dump':>8}")
        print(row("pg_dump -Fc (bare)", t_bare, size, t_bare))
        print(row("malnu-tui backup create", t_ours, size, t_bare))
        verdict = "met" if overhead < 10 else "NOT met"
        print(f"  target overhead < 10%: {verdict} ({overhead:+.1f}%)")
    finally:
        stop_cluster(cluster.bin_dir, cluster.data_dir)
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sqlite-mb", type=int, default=1100, help="SQLite database size (MB)")
    ap.add_argument("--pg-rows", type=int, default=1_000_000, help="PostgreSQL rows")
    ap.add_argument("--runs", type=int, default=2, help="best of N runs")
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="malnu-bench-", dir=os.environ.get("TMPDIR")) as d:
        work = Path(d)
        bench_sqlite(work, args.sqlite_mb, args.runs)
        if not args.skip_pg:
            bench_postgres(work, args.pg_rows, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
