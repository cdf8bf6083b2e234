"""PostgreSQL `up` of 1,000 small migrations through the engine (lock, one transaction per
migration with its tracking and audit rows) beside `psql -f` of the same SQL with one
transaction per migration (the floor), on a throwaway cluster.

Standalone: `.venv/bin/python benchmarks/bench_pg_up.py [--migrations 1000] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from benchmarks._table import fastest, print_table  # noqa: E402
from malnu_tui.engine.backends.postgresql import PostgresBackend  # noqa: E402
from malnu_tui.engine.files import discover  # noqa: E402
from malnu_tui.engine.migrate import apply_plan, plan_up  # noqa: E402
from tests.fixtures_pg import PgCluster, start_cluster, stop_cluster  # noqa: E402


def write_set(root: Path, count: int) -> tuple[Path, Path]:
    mig, rb = root / "migrations", root / "rollback"
    mig.mkdir(parents=True)
    rb.mkdir(parents=True)
    for i in range(count):
        version = f"20250101_{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}"
        (mig / f"{version}_step_{i}.sql").write_text(
            f"-- Description: step {i}\nCREATE TABLE t_{i} (id INTEGER PRIMARY KEY, v TEXT);\n"
            f"INSERT INTO t_{i} (id, v) VALUES (1, 'x');\n"
        )
        (rb / f"{version}_undo_{i}.sql").write_text(f"DROP TABLE t_{i};\n")
    return mig, rb


def fresh_db(cluster: PgCluster, name: str) -> str:
    with psycopg.connect(cluster.superuser_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.url(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--migrations", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="malnu-bench-pgup-"))
    work = Path(tempfile.mkdtemp(prefix="malnu-bench-pgup-work-"))
    cluster = start_cluster(base)
    try:
        mig, rb = write_set(work, args.migrations)
        mset = discover(mig, rb)
        script = ["\\set ON_ERROR_STOP 1\n"]
        for m in mset.migrations:
            script.append("BEGIN;\n" + m.path.read_text() + "COMMIT;\n")
        floor_sql = work / "floor.sql"
        floor_sql.write_text("".join(script))

        def floor() -> None:
            url = fresh_db(cluster, "floor")
            subprocess.run(
                [cluster.bin("psql"), "-X", "-q", "-d", url, "-f", str(floor_sql)],
                check=True,
                stdout=subprocess.DEVNULL,
            )

        def ours() -> None:
            url = fresh_db(cluster, "ours")
            backend = PostgresBackend(url)
            backend.ensure_schema()
            fresh = discover(mig, rb)
            apply_plan(backend, fresh, plan_up(backend, fresh))
            applied = len(backend.fetch_records())
            backend.close()
            assert applied == args.migrations, applied

        # Alternate the two so that load from other processes hits both alike.
        floors: list[float] = []
        oursl: list[float] = []
        for _ in range(args.runs):
            floors.append(fastest(floor, 1))
            oursl.append(fastest(ours, 1))
        t_floor, t_ours = min(floors), min(oursl)
        n = args.migrations
        print_table(
            f"PostgreSQL {cluster.bin_dir.parent.name}: up of {n:,} small migrations "
            f"(best of {args.runs})",
            ["what", "time", "migrations/s"],
            [
                (
                    "psql -f, one transaction each (floor)",
                    f"{t_floor:.2f} s",
                    f"{n / t_floor:,.0f}",
                ),
                ("malnu-tui engine up", f"{t_ours:.2f} s", f"{n / t_ours:,.0f}"),
                ("  ratio to the floor", f"{t_ours / t_floor:.2f}×", ""),
            ],
        )
    finally:
        stop_cluster(cluster.bin_dir, cluster.data_dir)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
