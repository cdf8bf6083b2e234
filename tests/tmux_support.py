"""``malnu-tui`` in a real pseudo-terminal: one tmux server per test on its own socket (it
inherits the test's environment); ``kill`` ends the server, which hangs up on the app (SIGHUP)
as sshd does when the operator's connection drops."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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
