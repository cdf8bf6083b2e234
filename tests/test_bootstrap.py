"""scripts/bootstrap, which `bash scripts/run` and `bash scripts/test` call (README "Two
commands"): it installs only when pyproject.toml changed since the last install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fixtures_core import REPO


def test_run_after_test_installs_nothing_again(tmp_path: Path) -> None:
    """`bash scripts/test` (a "dev" install) then `bash scripts/run`: the run installed the
    package again (20-60 s), pyproject.toml unchanged. A venv without pip stands in for the
    checkout's own: an install it tried fails there at once, nothing installed anywhere."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True
    )
    dev = tmp_path / ".venv" / ".malnu-installed-dev"
    dev.touch()
    os.utime(tmp_path / "pyproject.toml", (1_000_000_000, 1_000_000_000))  # older than it

    def bootstrap(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(tmp_path / "scripts" / "bootstrap"), *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    for extra in ((), ("dev",)):
        res = bootstrap(*extra)
        assert res.returncode == 0 and "installing" not in res.stderr, (extra, res.stderr)
    assert not (tmp_path / ".venv" / "install.log").exists()
    (tmp_path / "pyproject.toml").touch()  # changed since: installed again (here: fails)
    res = bootstrap()
    assert "== installing malnu-tui into .venv" in res.stderr and res.returncode == 1, res.stderr
