"""``malnu-tui`` in a real pseudo-terminal (tmux) on a fresh config: the status table appears,
and q quits cleanly. With TERM=xterm-256color and TERM=linux (16 colours), and NO_COLOR."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MALNU = Path(sys.executable).parent / "malnu-tui"


class Tmux:
    """One tmux server of our own (its own socket), so it inherits this test's environment."""

    def __init__(self) -> None:
        self.socket = f"malnu-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return proc.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "malnu")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = self.screen()
            if text in seen:
                return seen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{seen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run scripts/test (it installs it)", pytrace=False)
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()


@pytest.mark.parametrize("term", ["xterm-256color", "linux"])
def test_console_in_a_real_terminal_shows_status_and_quits(
    tmux: Tmux, tmp_path: Path, term: str, isolated_env: Path
) -> None:
    exit_file = tmp_path / "exit-code"
    work = tmp_path / "work"  # no malnu.toml, no migrations/: the embedded default
    work.mkdir()
    command = f"cd {work} && env TERM={term} {MALNU}; echo $? > {exit_file}"
    tmux.run("new-session", "-d", "-s", "malnu", "-x", "80", "-y", "24", command)
    screen = tmux.wait_for("create_users_table")
    assert "version" in screen and "state" in screen
    assert "○ pending" in screen  # the symbol and the word, whatever the colours
    assert "7 pending" in screen
    tmux.run("send-keys", "-t", "malnu", "q")
    deadline = time.monotonic() + 15
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"
    # The fresh config created the embedded database in the user data dir.
    data_home = Path(isolated_env) / "xdg_data_home"
    assert (data_home / "malnu-tui" / "malnu.db").exists()
