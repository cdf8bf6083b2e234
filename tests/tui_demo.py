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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.config import BUNDLED_PRIMARY, Settings, Target, load_settings
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import apply_plan, plan_up

if TYPE_CHECKING:
    from malnu_tui.tui.app import MalnuApp

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
        # Run-log rows: the operation kept, its times, duration and object pinned.
        conn.execute(
            "UPDATE malnu_audit SET object = substr(object, 1, instr(object || ' ', ' ') - 1), "
            "detail = json_object('run', 1, 'op', substr(object, 1, instr(object || ' ', ' ') - 1),"
            " 'object', '', 'started_at', at, 'ended_at', at, 'duration_ms', 40 + id % 7, "
            "'error', '', 'counts', json_object()) WHERE action = 'run'"
        )
    # Rewriting rows of another length leaves old bytes in free space: compact the file so its
    # bytes (and the sha256 of a backup of it) depend only on the pinned content.
    with sqlite3.connect(db) as conn:
        conn.execute("VACUUM")


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


_TEMPLATES: dict[int | None, Path] = {}


def build_demo(root: Path, *, applied: int | None = 6) -> Demo:
    """The demo project in ``root`` (emptied first). Built once per process and copied: applying
    the migrations costs more than copying the files."""
    template = _TEMPLATES.get(applied)
    if template is None or not template.is_dir():
        import atexit
        import tempfile

        made = Path(tempfile.mkdtemp(prefix="malnu-demo-template-"))
        atexit.register(shutil.rmtree, made, ignore_errors=True)  # (gone with the process)
        template = made / "demo"
        _build(template, applied)
        _TEMPLATES[applied] = template
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root)
    write_config(root)
    return Demo(root, root / "malnu.toml", root / "school.db", root / "staging.db")


def write_config(root: Path) -> Path:
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
    return config


def _build(root: Path, applied: int | None) -> None:
    root.mkdir(parents=True)
    write_project(root)
    config = write_config(root)
    demo = Demo(root, config, root / "school.db", root / "staging.db")
    settings = demo.settings()
    apply_first(settings.target("primary"), applied)
    apply_first(settings.target("staging"), None)
    pin(demo.primary_db)
    pin(demo.staging_db)


def build_many(root: Path, count: int, applied: int) -> Demo:
    """A demo whose primary has ``count`` tiny migrations, the first ``applied`` of them
    recorded as applied (for the benchmark; rows written in one transaction)."""
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.files import checksum_bytes

    demo = build_demo(root, applied=0)
    mig = root / "migrations"
    rb = root / "rollback"
    for p in list(mig.glob("*.sql")) + list(rb.glob("*.sql")):
        p.unlink()
    rows = []
    for i in range(count):
        version = f"20260101_{(i // 3600) % 24:02d}{(i // 60) % 60:02d}{i % 60:02d}"
        body = f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\n".encode()
        (mig / f"{version}_step_{i:05d}.sql").write_bytes(body)
        (rb / f"{version}_undo_step_{i:05d}.sql").write_text(f"DROP TABLE t{i};\n")
        if i < applied:
            rows.append((f"{version}_step_{i:05d}.sql", checksum_bytes(body), PINNED_AT.format(0)))
    backend = open_backend(demo.target())
    backend.ensure_schema()
    backend.close()
    with sqlite3.connect(demo.primary_db) as conn:
        conn.execute("DELETE FROM migrations")
        conn.executemany(
            "INSERT INTO migrations (filename, checksum, executed_at, execution_time_ms, success)"
            " VALUES (?, ?, ?, 1, 1)",
            rows,
        )
    return demo


# -- driving the app in tests -----------------------------------------------------------------


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run (workers are threads) until ``condition`` holds. A generous deadline:
    with five test workers on two cores the console's tests all run at once (longest first),
    and a status read that takes 3.4 s alone took over 15 s (the deadline until session 24)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.05)


async def at_rest(pilot: Any) -> None:
    """The screen at rest: its animations done and every widget's messages handled (what a
    fixed 0.1–0.3 s pause guessed before session 19; a loaded machine took longer)."""
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def dialog_ready(app: MalnuApp) -> bool:
    """A confirmation dialog is in front, composed and mounted, its field (or its Cancel button)
    focused: keys pressed or a field queried before that went nowhere (a loaded machine caught
    the screen pushed and its ``Input`` not yet there: ``NoMatches``)."""
    from malnu_tui.tui.screens.confirm import ConfirmScreen

    screen = app.screen
    return isinstance(screen, ConfirmScreen) and screen.is_mounted and screen.focused is not None


async def run_from_palette(pilot: Any, app: Any, words: str, title: str) -> None:
    """Open the command palette, type ``words`` and press Enter once its highlighted entry is
    ``title``: the palette searches in a worker, and an Enter pressed after a fixed pause on a
    loaded machine ran an earlier keystroke's match, or nothing."""
    from textual.command import CommandList, CommandPalette

    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*words)
    hits = app.screen.query_one(CommandList)

    def ready() -> bool:
        at = hits.highlighted
        if at is None or hits.option_count == 0:
            return False
        prompt = hits.get_option_at_index(at).prompt
        return title.lower() in str(getattr(prompt, "plain", prompt)).lower()

    await wait_until(pilot, ready, timeout=60)
    await pilot.press("enter")


def take_lock_elsewhere(db: Path) -> None:
    """Hold the migration lock as another operator on another host (a second connection)."""
    from malnu_tui.engine.backends.base import LOCK_TABLE
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
    # A fixed lease, far ahead: the lock is live and the pictures do not depend on the clock.
    backend.conn.execute(f"UPDATE {LOCK_TABLE} SET expires_at = '2099-01-01 00:00:00'")
    backend.conn.close()  # the lock row stays: its owner "is still working"


def add_backups(demo: Demo) -> list[str]:
    """Two backups of the primary with pinned ids and times (one verified, one not). Each is
    pinned before the next is taken: the second one contains the first one's audit row."""
    import json

    from malnu_tui.engine.backup import create_backup
    from malnu_tui.engine.config import open_backend

    target = demo.target()
    store = target.backup_dir
    ids: list[str] = []
    for i, reason in enumerate(("pre-up", "manual")):
        backend = open_backend(target)
        try:
            m = create_backup(backend, target, reason=reason)
        finally:
            backend.close()
        new_id = f"20261120T09{i + 1:02d}00000000Z-5afe{i:02d}"
        stamp = f"2026-11-20T09:{i + 1:02d}:00.000000+00:00"
        data = json.loads((store / f"{m.id}.json").read_text(encoding="utf-8"))
        suffix = Path(m.file).name.removeprefix(m.id)
        (store / m.file).rename(store / f"{new_id}{suffix}")
        (store / f"{m.id}.json").unlink()
        data.update(
            id=new_id,
            created_at=stamp,
            file=f"{new_id}{suffix}",
            verified_at=stamp if i == 0 else None,
            details={},
        )
        (store / f"{new_id}.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
        ids.append(new_id)
        with sqlite3.connect(demo.primary_db) as conn:
            conn.execute("UPDATE malnu_audit SET object = ? WHERE object = ?", (new_id, m.id))
        pin(demo.primary_db)
    return ids


def demo_app(demo: Demo) -> MalnuApp:
    """The console on the demo's config, primary target first."""
    from malnu_tui.tui.app import MalnuApp

    settings = demo.settings()
    return MalnuApp(settings=settings, target=settings.target("primary"))


def status_loaded(app: MalnuApp) -> bool:
    """The status screen is in front and every target's status has been read."""
    from malnu_tui.tui.screens.status import StatusScreen
    from malnu_tui.tui.widgets.target_panel import TargetPanel

    screen = app.screen
    return isinstance(screen, StatusScreen) and all(
        p.report is not None for p in screen.query(TargetPanel)
    )


# A migration PostgreSQL rejects after translation (the SQL view's check, its tests and the
# screenshot): SQLite compares TEXT with an integer happily, PostgreSQL has no text = integer
# operator. Its index and its rollback fail in turn: they depend on the rejected table.
ORDERS = "20251126_080000_orders.sql"
ORDERS_SQL = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT CHECK (status IN (1, 2)));\n"
    "CREATE INDEX ix_orders_status ON orders (status);\n"
)


def add_orders(demo: Demo) -> None:
    """Add the ORDERS migration (pending, the tenth row) and its rollback to the demo."""
    (demo.root / "migrations" / ORDERS).write_text(ORDERS_SQL, encoding="utf-8")
    (demo.root / "rollback" / ORDERS).write_text("DROP TABLE orders;\n", encoding="utf-8")


def sql_checked(app: MalnuApp, filename: str = ORDERS) -> bool:
    """The SQL view of ``filename`` is in front, its SQL loaded and its PostgreSQL check done
    (or found no server)."""
    from malnu_tui.tui.screens.sql_view import SqlViewScreen

    s = app.screen
    return (
        isinstance(s, SqlViewScreen)
        and s.status.filename == filename
        and s.bundle is not None
        and s.check is not None
        and not s.checking
    )


def add_sync_pair(
    demo: Demo,
    dest_url: str,
    tables: Sequence[str] = ("users", "academic_records"),
    users: int = 30,
    target_options: str = "",
) -> None:
    """A `[sync.reporting]` pair from the demo's primary into ``dest_url`` (target
    ``reports``, with ``target_options`` TOML lines), and ``users`` users in the primary to
    copy."""
    listed = ", ".join(f'"{t}"' for t in tables)
    with demo.config.open("a", encoding="utf-8") as f:
        f.write(
            f'\n[targets.reports]\nurl = "{dest_url}"\n{target_options}\n'
            '[sync.reporting]\nfrom = "primary"\nto = "reports"\n'
            f"tables = [{listed}]\n"
        )
    with sqlite3.connect(demo.primary_db) as c:
        c.executemany(
            "INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            [(i, f"siswa{i}@malnu.sch.id", f"Siswa {i}", "2026-11-20 07:00:00",
              "2026-11-20 07:00:00") for i in range(1, users + 1)],
        )  # fmt: skip


def synced_pair(demo: Demo) -> Path:
    """The reporting pair into a SQLite ``reports.db``, synced, then one copy changed and one
    deleted by hand (what ``sync verify`` must name), its last sync pinned at 08:55 UTC."""
    from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync

    reports = demo.root / "reports.db"
    add_sync_pair(demo, f"sqlite:///{reports}")
    settings = demo.settings()
    with SyncSession(settings.target("primary"), settings.target("reports")) as s:
        run_sync(s, SyncRequest(tables=("users", "academic_records")))
    with sqlite3.connect(reports) as c:
        c.execute("UPDATE users SET name = 'diubah' WHERE id = 17")
        c.execute("DELETE FROM users WHERE id = 4")
        c.execute(
            "UPDATE malnu_sync SET started_at = '2026-11-20 08:54:00', "
            "finished_at = '2026-11-20 08:55:00'"
        )
    return reports


def screen_text(app: Any) -> str:
    """What the terminal shows now, as plain text (one line a row): what an operator reads,
    with whatever is past an edge or under a docked widget left out."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
        color_system="truecolor", legacy_windows=False, safe_box=False,
    )  # fmt: skip
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def bare_text(app: Any) -> str:
    """The screen's words (:func:`screen_text`), its borders and scroll bars left out and
    wrapped lines joined: a boxed error's lines read as one sentence."""
    import re

    return " ".join(re.sub("[\u2500-\u259f]", " ", screen_text(app)).split())


def hangs_under(app: Any, label: str) -> bool:
    """The line of the screen where ``label`` (``why: ``, ``way out: ``) starts goes on, wrapped,
    under the text after the label: Textual wrapped it back to the box's first column."""
    lines = screen_text(app).splitlines()
    for i, line in enumerate(lines[:-1]):
        at = line.find(label)
        if at >= 0:
            col = at + len(label)
            below = lines[i + 1]
            return below[at:col].strip() == "" and below[col : col + 1].strip() != ""
    raise AssertionError(f"{label!r} is not on the screen:\n{screen_text(app)}")
