"""Peak memory (RSS, from wait4) and time of `malnu-tui up`, `up --dry-run`, `lint` and `plan`
beside a large legacy seed of INSERTs (50 and 150 MB by default; `--mb 20,50`), each a CLI
process of its own on a fresh SQLite database, the lint cache off (every run computes it).

A seed of N MB used to peak at 5-7 N MB (the file split into a list of statements that the
plan kept); read from the file in pieces (engine/filestatements.py) it stays near the
interpreter's own footprint plus a few MB, whatever the size."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "malnu_tui"]


def write_seed(root: Path, mb: int) -> tuple[Path, Path]:
    """A table migration and a template-style seed of ``mb`` MB of INSERTs (as schools' legacy
    exports are: one row a statement, names with quotes, notes with ';')."""
    mig, rb = root / "migrations", root / "rollback"
    mig.mkdir(parents=True)
    rb.mkdir(parents=True)
    (mig / "20250101_000000_create_siswa.sql").write_text(
        "-- Description: siswa\nCREATE TABLE siswa (id INTEGER PRIMARY KEY, nis TEXT NOT NULL, "
        "nama TEXT, kelas TEXT, catatan TEXT);\n"
    )
    (rb / "20250101_000000_drop_siswa.sql").write_text("DROP TABLE siswa;\n")
    r = random.Random(1)
    with open(mig / "20250102_000000_legacy_seed.sql", "w") as f:
        f.write("-- Description: legacy seed\n-- Author: tu\nBEGIN TRANSACTION;\n")
        size, i, target = 0, 0, mb * 1024 * 1024
        while size < target:
            i += 1
            line = (
                f"INSERT INTO siswa (id, nis, nama, kelas, catatan) VALUES ({i}, '{i:010d}', "
                f"'Siswa {i} O''Brien', 'X-{i % 12}', 'catatan; nomor {r.random():.6f}');\n"
            )
            f.write(line)
            size += len(line)
        f.write("COMMIT;\n")
    (rb / "20250102_000000_undo_legacy_seed.sql").write_text("DELETE FROM siswa;\n")
    return mig, rb


def run(args: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in MB, exit code) of one CLI process."""
    env = {**os.environ, "MALNU_LINT_CACHE": "0"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(err[-2000:], file=sys.stderr)
    return elapsed, int(usage.ru_maxrss) // 1024, code


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", default="50,150", help="seed sizes in MB, comma-separated")
    ap.add_argument("--commands", default="up --dry-run;up;lint;plan")
    opts = ap.parse_args()
    rows: list[tuple[str, ...]] = []
    for mb in (int(x) for x in opts.mb.split(",")):
        tmp = Path(tempfile.mkdtemp(prefix="malnu-bigseed-"))
        try:
            mig, rb = write_seed(tmp, mb)
            for command in opts.commands.split(";"):
                db = tmp / "s.db"
                db.unlink(missing_ok=True)
                words = command.split()
                if words[0] == "up" and "--dry-run" not in words:
                    words += ["--yes", "--no-backup"]
                if words[0] in ("lint", "plan"):
                    words += ["--all"]
                common = ["--database", f"sqlite:///{db}", "--migrations-dir", str(mig),
                          "--rollback-dir", str(rb)]  # fmt: skip
                secs, rss, code = run([*common, *words])
                rows.append((f"{mb} MB", command, f"{secs:.1f} s", f"{rss} MB",
                             f"{rss / mb:.2f}×", str(code)))  # fmt: skip
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(
        "large seed: peak RSS per CLI process (fresh SQLite database, lint cache off)",
        ["seed", "command", "time", "peak RSS", "RSS / file", "exit"],
        rows,
    )


if __name__ == "__main__":
    main()
