"""``import --rejects`` on a full disk: the rejects file ended in the middle of a row, left at
its path looking like the whole list of refused rows. The disk is filled for the import's
process alone (RLIMIT_FSIZE: chmod does not stop root); the target is PostgreSQL, whose writes
are the server's, so the rejects file is all the child writes."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_matrix import DbTarget

REPO = Path(__file__).resolve().parents[1]


def _limited(limit: int) -> Callable[[], None]:
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


@pytest.mark.parametrize(
    "bad_rows", [2000, 60], ids=["full-while-writing", "full-at-the-last-flush"]
)
def test_a_rejects_file_that_did_not_fit_is_not_left_half_written(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget], bad_rows: int
) -> None:
    url = fresh_db("postgresql").url
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, born date)")
    csv = tmp_path / "users.csv"
    born = ["31/02/2024"] * bad_rows + ["2024-01-02"] * 10  # the refused rows, then good ones
    csv.write_text(
        "id,email,born\n"
        + "".join(f"{i},siswa{i}@sekolah.sch.id,{b}\n" for i, b in enumerate(born, 1))
    )
    rejects = tmp_path / "out" / "rejects.csv"
    rejects.parent.mkdir()
    res = subprocess.run(
        [
            sys.executable, "-m", "malnu_tui", "--database", url, "import", str(csv),
            "--table", "users", "--yes", "--no-backup", "--max-errors", "100%",
            "--rejects", str(rejects),
        ],
        capture_output=True, text=True, cwd=REPO, preexec_fn=_limited(4000), timeout=120,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert lines == [
        f"error: cannot write the rejects file {rejects}: File too large; the part written "
        "was removed; nothing committed"
    ], res.stderr
    assert list(rejects.parent.iterdir()) == []
    with psycopg.connect(url, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM users").fetchone() == (0,)
