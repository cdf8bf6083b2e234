"""Shared fixtures. PostgreSQL and D1 fixtures live in their own plugin modules."""

from __future__ import annotations

import signal

import pytest

pytest_plugins = [
    "tests.fixtures_core",
    "tests.fixtures_pg",
    "tests.fixtures_d1",
    "tests.fixtures_matrix",
    "tests.backup_support",
    "tests.import_support",
    "tests.sync_support",
]


@pytest.fixture
def anyio_backend() -> str:
    """The console's tests (``pytest.mark.anyio``) run on asyncio, as Textual does."""
    return "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the processes the tests start, as it does from an operator's terminal.
    A suite started as a background job of a script (`pytest … &`, `cmd > out.txt &`, as a CI
    runner may) inherits SIGINT ignored, and so did every CLI run and the fork server: the
    tests that send SIGINT saw it ignored (a `restore` showing its status, `up` retrying for
    60 s, no start-up interrupted). Python's own handler again, in each test process, so the
    processes it starts get SIGINT's default (in the controller before xdist's workers too)."""
    interrupts_as_from_a_terminal()


def interrupts_as_from_a_terminal() -> None:
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
