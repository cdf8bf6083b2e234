"""Shared fixtures. PostgreSQL and D1 fixtures live in their own plugin modules."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures_core",
    "tests.fixtures_pg",
    "tests.fixtures_d1",
    "tests.fixtures_matrix",
    "tests.backup_support",
    "tests.import_support",
    "tests.sync_support",
]
