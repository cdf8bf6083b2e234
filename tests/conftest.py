"""Shared fixtures. PostgreSQL and D1 fixtures live in their own plugin modules."""

from __future__ import annotations

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
