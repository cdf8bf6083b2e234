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
    "tests.webhook_support",
    "tests.tmux_support",
]


@pytest.fixture
def anyio_backend() -> str:
    """The console's tests (``pytest.mark.anyio``) run on asyncio, as Textual does."""
    return "asyncio"


# The longest tests go to the workers first (longest-processing-time-first): collected in
# file order, the console's tests (the longest, 10–40 s each) came last and the suite ended
# on one worker finishing them while the others stood idle. The snapshot group (one worker,
# the demo at a fixed path) goes first of all. A module missing here only runs later.
_FIRST = (
    "test_tui_snapshots",
    "test_tui_sync_snapshots",
    "test_tui_sql_large",
    "test_tui_",
    "test_console_hangup",
    "test_monitor_tui",
    "test_d1_requests",
    "test_secrets_every_command",
    "test_wrangler",
    "test_translate_large",
    "test_reads_write_nothing",
    "test_printed_commands",
    "test_full_disk",
    "test_translate_plaininsert",
    "test_sync_cli",
    "test_d1_realworld_social",
    "test_sync_keyless",
    "test_backup_names",
    "test_sync_music_room",
    "test_privileges",
    "test_translate_corpus",
    # (session 26: stop-point and D1-hold tests wait on processes and held requests)
    "test_import_stop_points",
    "test_sync_stop_points",
    "test_d1_realworld_orm",
    "test_cli_json_signalled",
)


def _rank(item: pytest.Item) -> int:
    name = item.path.stem
    return next((i for i, p in enumerate(_FIRST) if name.startswith(p)), len(_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests longest first (a stable sort: each module keeps its own order, and
    every worker sorts the same collection the same way, as xdist requires)."""
    items.sort(key=_rank)


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the processes the tests start, as it does from an operator's terminal.
    A suite started as a background job of a script (`pytest … &`, `cmd > out.txt &`, as a CI
    runner may) inherits SIGINT ignored, and so did every CLI run and the fork server: the
    tests that send SIGINT saw it ignored (a `restore` showing its status, `up` retrying for
    60 s, no start-up interrupted). Python's own handler again, in each test process, so the
    processes it starts get SIGINT's default (in the controller before xdist's workers too);
    SIGHUP ignored (`nohup`) likewise gets its default."""
    interrupts_as_from_a_terminal()


def interrupts_as_from_a_terminal() -> None:
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # A suite started under `nohup` (or a runner that ignores SIGHUP) passed SIGHUP ignored to
    # every process it started: the CLI then rightly keeps it ignored (the operator's nohup),
    # and the tests of a terminal's hangup saw none. Whether they did depended on whether a
    # console test's handler was in place when the worker started its fork server.
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
