"""A demo project for the console's tests, snapshots, screenshots and benchmark.

``build_demo(root)`` writes ``root/malnu.toml`` with two SQLite targets (``primary`` with
pending work, ``staging`` fully applied), the school's migrations plus one that needs
translation findings, and applies part of them. Timestamps, durations and actors are then
pinned so that SVG snapshots do not change from run to run.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from malnu_tui.engine.config import BUNDLED_PRIMARY, Settings, Target, load_settings
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import apply_plan, plan_up

# Where snapshot tests and screenshots build the demo: the path shows in the UI (masked URL),
# so it must not change between runs.
FIXED_ROOT = Path("/tmp/malnu-tui-demo")
PINNED_AT = "2026-11-20 08:{:02d}:00"
PINNED_ACTOR = "operator@school-db"

SEED_ROLES = """\
-- Description: Seed the default roles and a first login audit view
-- Author: MA Malnu Kananga Development Team
-- Dependencies: 20251124_122000_add_user_roles.sql

INSERT OR IGNORE INTO roles (name) VALUES ('admin');
INSERT OR IGNORE INTO roles (name) VALUES ('teacher');
CREATE VIEW IF NOT EXISTS recent_users AS
    SELECT id, email FROM users WHERE created_at > datetime('now', '-1 hour');
"""
SEED_ROLES_ROLLBACK = """\
-- Description: undo the default roles
DROP VIEW IF EXISTS recent_users;
DELETE FROM roles WHERE name IN ('admin', 'teacher');
"""
NEEDS_ROLES = """\
-- Description: roles table for the seed (kept small for the demo)
-- Author: MA Malnu Kananga Development Team
-- Dependencies: none

CREATE TABLE IF NOT EXISTS roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);
"""


@dataclass(frozen=True)
class Demo:
    root: Path
    config: Path
    primary_db: Path
    staging_db: Path

    def settings(self) -> Settings:
        return load_settings(config=str(self.config), env={})

    def target(self, name: str = "primary") -> Target:
        return self.settings().target(name)

    def applied(self, name: str = "primary") -> list[str]:
        db = self.primary_db if name == "primary" else self.staging_db
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT filename FROM migrations WHERE success ORDER BY filename"
            ).fetchall()
        return [r[0] for r in rows]

    def tables(self, name: str = "primary") -> list[str]:
        db = self.primary_db if name == "primary" else self.staging_db
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
        return [r[0] for r in rows]


def write_project(root: Path) -> tuple[Path, Path]:
    mig = root / "migrations"
    rb = root / "rollback"
    mig.mkdir(parents=True)
    rb.mkdir(parents=True)
    for p in (BUNDLED_PRIMARY / "migrations").glob("*.sql"):
        shutil.copy(p, mig / p.name)
    for p in (BUNDLED_PRIMARY / "rollback").glob("*.sql"):
        shutil.copy(p, rb / p.name)
    (mig / "20251125_090000_create_roles_table.sql").write_text(NEEDS_ROLES, encoding="utf-8")
    (rb / "20251125_090000_drop_roles_table.sql").write_text(
        "DROP TABLE IF EXISTS roles;\n", encoding="utf-8"
    )
    (mig / "20251125_091500_seed_default_roles.sql").write_text(SEED_ROLES, encoding="utf-8")
    (rb / "20251125_091500_remove_default_roles.sql").write_text(
        SEED_ROLES_ROLLBACK, encoding="utf-8"
    )
    return mig, rb


def pin(db: Path) -> None:
    """Fixed times, durations and actors: snapshots must not depend on the clock."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id FROM migrations ORDER BY filename").fetchall()
        for i, (rid,) in enumerate(rows):
            conn.execute(
                "UPDATE migrations SET executed_at = ?, execution_time_ms = ? WHERE id = ?",
                (PINNED_AT.format(i), 3 + i, rid),
            )
        rows = conn.execute("SELECT id FROM malnu_audit ORDER BY id").fetchall()
        for i, (rid,) in enumerate(rows):
            conn.execute(
                "UPDATE malnu_audit SET at = ?, actor = ? WHERE id = ?",
                (PINNED_AT.format(i), PINNED_ACTOR, rid),
            )


def apply_first(target: Target, count: int | None) -> None:
    from malnu_tui.engine.config import open_backend

    mset = discover(target.migrations_dir, target.rollback_dir)
    backend = open_backend(target)
    try:
        backend.ensure_schema()
        to = mset.migrations[count - 1].version if count else None
        if count != 0:
            apply_plan(backend, mset, plan_up(backend, mset, to))
    finally:
        backend.close()


def build_demo(root: Path, *, applied: int | None = 6, fresh: bool = True) -> Demo:
    """Write the demo project into ``root`` (emptied first when ``fresh``)."""
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    write_project(root)
    config = root / "malnu.toml"
    config.write_text(
        'default_target = "primary"\n\n'
        "[backup]\n"
        'dir = "backups"\n\n'
        "[targets.primary]\n"
        'url = "sqlite:///' + str(root / "school.db") + '"\n'
        'migrations_dir = "migrations"\n'
        'rollback_dir = "rollback"\n\n'
        "[targets.staging]\n"
        'url = "sqlite:///' + str(root / "staging.db") + '"\n'
        'migrations_dir = "migrations"\n'
        'rollback_dir = "rollback"\n',
        encoding="utf-8",
    )
    demo = Demo(root, config, root / "school.db", root / "staging.db")
    settings = demo.settings()
    apply_first(settings.target("primary"), applied)
    apply_first(settings.target("staging"), None)
    pin(demo.primary_db)
    pin(demo.staging_db)
    return demo


def build_many(root: Path, count: int) -> Demo:
    """A demo whose primary has ``count`` tiny migrations, all applied (for the benchmark)."""
    demo = build_demo(root, applied=0)
    mig = root / "migrations"
    rb = root / "rollback"
    for p in list(mig.glob("*.sql")) + list(rb.glob("*.sql")):
        p.unlink()
    for i in range(count):
        hh = (i // 3600) % 24
        mm = (i // 60) % 60
        ss = i % 60
        version = f"20260101_{hh:02d}{mm:02d}{ss:02d}"
        (mig / f"{version}_step_{i:05d}.sql").write_text(
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\n", encoding="utf-8"
        )
        (rb / f"{version}_undo_step_{i:05d}.sql").write_text(
            f"DROP TABLE t{i};\n", encoding="utf-8"
        )
    return demo


# -- driving the app in tests -----------------------------------------------------------------


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run (workers are threads) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.05)


def take_lock_elsewhere(db: Path) -> None:
    """Hold the migration lock as another operator on another host (a second connection)."""
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.errors import LockHolder

    backend = SQLiteBackend(db)
    backend.ensure_schema()
    backend.acquire_lock(
        LockHolder(
            owner="night-shift@admin-laptop",
            host="admin-laptop",
            pid=4242,
            acquired_at="2026-11-20 08:30:00",
            note="up",
        )
    )
    backend.conn.close()  # the lock row stays: its owner "is still working"
