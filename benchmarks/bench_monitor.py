"""`check` over three targets on local servers: SQLite, a throwaway PostgreSQL cluster and the
local D1 server (tests/d1server.py), each with 200 applied migrations, a verified backup and a
run log. Goal: the whole `check` (engine call, and the CLI as a process) under 2 s.

Floor, measured in the same run: `status` of the three targets one after the other (connect,
read the tracking table, compare with the files) — what any look at the targets costs.

Then one SQLite target with 10,000 applied migrations (`--big N`, 0 skips it): the second
`check` pass, the rollback files' checksums kept from the first (engine/file_sums.py: the
timer's minutely run), against the same pass reading every rollback file again (the cache
off) and against its floor, `status` of that target.

Standalone: `.venv/bin/python benchmarks/bench_monitor.py [--migrations 200] [--big 10000]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._table import best_of, paired, print_table  # noqa: E402
from malnu_tui.engine.backup import create_backup  # noqa: E402
from malnu_tui.engine.config import Target, open_backend  # noqa: E402
from malnu_tui.engine.file_sums import SETTLED_NS, FileSums  # noqa: E402
from malnu_tui.engine.files import discover  # noqa: E402
from malnu_tui.engine.migrate import apply_plan, plan_up, status  # noqa: E402
from malnu_tui.engine.monitor.config import MonitorConfig  # noqa: E402
from malnu_tui.engine.monitor.reading import run_checks  # noqa: E402
from tests.d1server import D1Server  # noqa: E402
from tests.fixtures_pg import create_database, start_cluster, stop_cluster  # noqa: E402

ACCOUNT = "0123456789abcdef0123456789abcdef"


def write_migrations(root: Path, count: int) -> tuple[Path, Path]:
    mig, rb = root / "migrations", root / "rollback"
    mig.mkdir(parents=True)
    rb.mkdir(parents=True)
    for i in range(count):
        v = f"20250101_{i // 60:04d}{i % 60:02d}"
        (mig / f"{v}_t{i}.sql").write_text(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\n")
        (rb / f"{v}_undo_t{i}.sql").write_text(f"DROP TABLE t{i};\n")
    return mig, rb


def prepare(target: Target) -> None:
    b = open_backend(target)
    try:
        b.ensure_schema()
        mset = discover(target.migrations_dir, target.rollback_dir)
        apply_plan(b, mset, plan_up(b, mset))
        create_backup(b, target)
    finally:
        b.close()


def floor(targets: list[Target]) -> None:
    for t in targets:
        b = open_backend(t)
        try:
            status(b, discover(t.migrations_dir, t.rollback_dir), t.name)
        finally:
            b.close()


def second_pass(count: int, repeat: int) -> None:
    """`check` of one SQLite target with ``count`` applied migrations, its second pass."""
    import time

    with tempfile.TemporaryDirectory(prefix="malnu-bench-monitor-big-") as tmp:
        work = Path(tmp)
        mig, rb = write_migrations(work / "project", count)
        t = Target("primary", f"sqlite:///{work / 'p.db'}", mig, rb, work / "b")
        b = open_backend(t)
        try:
            b.ensure_schema()
            mset = discover(mig, rb)
            apply_plan(b, mset, plan_up(b, mset))
        finally:
            b.close()
        time.sleep(SETTLED_NS / 1e9 + 0.1)  # the files settle (a kept checksum is trusted)
        kept = FileSums()
        run_checks([t], MonitorConfig(), sums=kept)  # the first pass
        base = best_of(lambda: floor([t]), repeat)
        # (alternated: a burst of load from the other processes lands on both sides)
        every, ours, ratio = paired(
            lambda: run_checks([t], MonitorConfig(), sums=FileSums()),
            lambda: run_checks([t], MonitorConfig(), sums=kept),
            repeat,
        )
        assert kept.hashed == count, kept.hashed
        # The timer's case: each run a new process, the checksums kept on disk between them.
        cli = [str(REPO / ".venv" / "bin" / "malnu-tui"), "--database", t.url,
               "--migrations-dir", str(mig), "--rollback-dir", str(rb), "check"]  # fmt: skip
        env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
        off = {**env, "MALNU_SUMS_CACHE": "0"}
        subprocess.run(cli, env=env, capture_output=True, check=False)  # the first run
        p_off, p_on, p_ratio = paired(
            lambda: subprocess.run(cli, env=off, capture_output=True, check=False),
            lambda: subprocess.run(cli, env=env, capture_output=True, check=False),
            repeat,
        )
    print_table(
        f"check of one SQLite target, {count:,} applied migrations with rollback files, "
        f"second pass (medians of {repeat}, the two checks alternated)",
        ["what", "seconds", "vs floor"],
        [
            ("floor: status of the target", f"{base:.3f}", "1.00×"),
            ("check, checksums kept (none read again)", f"{ours:.3f}",
             f"{ours / base:.2f}× ({ratio:.2f}× of reading them all, pair by pair)"),
            ("check, every rollback file read (no cache)", f"{every:.3f}",
             f"{every / base:.2f}×"),
            ("check CLI process, checksums kept on disk", f"{p_on:.3f}",
             f"{p_on / base:.2f}× ({p_ratio:.2f}× of MALNU_SUMS_CACHE=0, pair by pair)"),
            ("check CLI process, MALNU_SUMS_CACHE=0", f"{p_off:.3f}", f"{p_off / base:.2f}×"),
        ],
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--migrations", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--big", type=int, default=10_000, help="0: skip the second-pass table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="malnu-bench-monitor-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # the cluster runs as postgres when we are root
        mig, rb = write_migrations(work / "project", args.migrations)
        cluster = start_cluster(Path(tempfile.mkdtemp(prefix="malnu-bench-pg-")))
        d1 = D1Server(work / "d1").start()
        try:
            os.environ["CLOUDFLARE_API_TOKEN"] = d1.token
            os.environ["MALNU_D1_API_BASE"] = d1.api_base
            db = d1.add_database(ACCOUNT)
            targets = [
                Target("primary", f"sqlite:///{work / 'p.db'}", mig, rb, work / "b" / "p"),
                Target("analytics", cluster.url(create_database(cluster)), mig, rb, work / "b/a"),
                Target("production", f"d1://{db.account}/{db.id}", mig, rb, work / "b" / "d"),
            ]
            for t in targets:
                prepare(t)
            report = run_checks(targets, MonitorConfig())
            assert report.status.name == "OK", report.summary_line()
            base = best_of(lambda: floor(targets), args.repeat)
            engine = best_of(lambda: run_checks(targets, MonitorConfig()), args.repeat)
            config = work / "malnu.toml"
            config.write_text(
                "".join(
                    f'[targets.{t.name}]\nurl = "{t.url}"\nmigrations_dir = "{mig}"\n'
                    f'rollback_dir = "{rb}"\nbackup_dir = "{t.backup_dir}"\n'
                    for t in targets
                )
            )
            cli = [str(REPO / ".venv" / "bin" / "malnu-tui"), "--config", str(config), "check"]

            def run_cli() -> None:
                done = subprocess.run(cli, capture_output=True, text=True, check=False)
                assert done.returncode == 0, done.stdout + done.stderr

            process = best_of(run_cli, args.repeat)
            per_target = {h.target: f"{h.seconds * 1000:.0f} ms" for h in report.targets}
        finally:
            d1.stop()
            stop_cluster(cluster.bin_dir, cluster.data_dir)
    print_table(
        f"check over 3 targets ({args.migrations} applied migrations each, median of "
        f"{args.repeat}); goal < 2 s",
        ["what", "seconds", "vs floor", "goal"],
        [
            ("floor: status of the 3 targets in a row", f"{base:.3f}", "1.00×", ""),
            ("check, engine (targets in parallel)", f"{engine:.3f}", f"{engine / base:.2f}×",
             "met" if engine < 2 else "MISSED"),
            ("check, CLI process (start-up included)", f"{process:.3f}", f"{process / base:.2f}×",
             "met" if process < 2 else "MISSED"),
        ],
    )  # fmt: skip
    print("per target in the first check: " + ", ".join(f"{k} {v}" for k, v in per_target.items()))
    if args.big:
        print()
        second_pass(args.big, args.repeat)


if __name__ == "__main__":
    main()
