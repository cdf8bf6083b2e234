"""Drive the real console on a demo database and write an SVG of each main screen into
screenshots/ (and a PNG beside it when CairoSVG is importable).

    .venv/bin/python scripts/screenshots.py [--size 100x32] [--out screenshots]

The demo (two SQLite targets, pinned times) is the one the snapshot tests use:
tests/tui_demo.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Button, Input, Static  # noqa: E402

from malnu_tui.tui.app import MalnuApp  # noqa: E402
from malnu_tui.tui.screens.wizard import WizardScreen  # noqa: E402
from malnu_tui.tui.widgets.target_panel import TargetPanel  # noqa: E402
from tests.tui_demo import (  # noqa: E402
    FIXED_ROOT,
    Demo,
    add_backups,
    add_orders,
    build_demo,
    sql_checked,
    synced_pair,
    take_lock_elsewhere,
    wait_until,
)

Script = Callable[[Pilot[Any], MalnuApp], Awaitable[None]]


async def home(pilot: Pilot[Any], app: MalnuApp) -> None:
    await wait_until(pilot, lambda: all(p.report is not None for p in app.query(TargetPanel)))


async def step(pilot: Pilot[Any], app: MalnuApp, name: str) -> None:
    def there() -> bool:
        s = app.screen
        return (
            isinstance(s, WizardScreen)
            and s.step == name
            and not s.working
            and (s.blocked != "loading…" or s.finished)
            # A blocked step focuses nothing (Enter must not press Cancel there).
            and (s.focused is not None or s.blocked is not None)
        )

    try:
        await wait_until(pilot, there, timeout=30)
    except AssertionError:
        s = app.screen
        error = s.last_error if isinstance(s, WizardScreen) else None
        raise AssertionError(f"never reached step {name}: {error}") from None


async def status(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)


async def sql_view(pilot: Pilot[Any], app: MalnuApp) -> None:
    from malnu_tui.tui.screens.sql_view import SqlViewScreen

    await home(pilot, app)
    await pilot.press(*["down"] * 8, "enter")
    await wait_until(
        pilot, lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None
    )


async def sql_check(pilot: Pilot[Any], app: MalnuApp) -> None:
    """The SQL view of a migration PostgreSQL rejects, after the check ran on the server."""
    await home(pilot, app)
    await pilot.press("home", *["down"] * 9, "enter")
    await wait_until(pilot, lambda: sql_checked(app), timeout=30)


async def rollback_preview(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)
    await pilot.press("r")
    await step(pilot, app, "how-far")
    app.screen.query_one("#steps-input").focus()
    await pilot.pause()
    await pilot.press("2", "enter")
    await step(pilot, app, "preview")


async def rollback_blocked(pilot: Pilot[Any], app: MalnuApp) -> None:
    await rollback_preview(pilot, app)


async def rollback_confirm(pilot: Pilot[Any], app: MalnuApp) -> None:
    await rollback_preview(pilot, app)
    await pilot.press("n")
    await step(pilot, app, "confirm")
    await pilot.press(*"scho")


async def rollback_verification(pilot: Pilot[Any], app: MalnuApp) -> None:
    await rollback_confirm(pilot, app)
    await pilot.press(*"ol", "enter")
    await step(pilot, app, "verify")


async def rollback_summary(pilot: Pilot[Any], app: MalnuApp) -> None:
    await rollback_verification(pilot, app)
    await pilot.press("n")


async def apply_plan(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)
    await pilot.press("a")
    await step(pilot, app, "plan")


async def apply_confirm(pilot: Pilot[Any], app: MalnuApp) -> None:
    await apply_plan(pilot, app)
    await pilot.press("n")
    await step(pilot, app, "confirm")
    await pilot.press(*"Schoo", "l", "enter")  # a wrong word: the prompt says why


async def apply_result(pilot: Pilot[Any], app: MalnuApp) -> None:
    await apply_confirm(pilot, app)
    await pilot.press(*["backspace"] * 6, *"school", "enter")
    await step(pilot, app, "result")


async def backups(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)
    await pilot.press("b")
    await pilot.pause(0.5)


async def restore_confirm(pilot: Pilot[Any], app: MalnuApp) -> None:
    await backups(pilot, app)
    await pilot.press("down", "o")
    await step(pilot, app, "verify")
    await pilot.press("n")
    await step(pilot, app, "confirm")


async def recover_plan(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)
    await pilot.press("p")
    await step(pilot, app, "when")
    await pilot.press(*"now", "enter")
    await step(pilot, app, "plan")


async def audit(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)
    await pilot.press("l")
    await pilot.pause(0.5)


async def help_screen(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)
    await pilot.press("f1")


async def palette(pilot: Pilot[Any], app: MalnuApp) -> None:
    await home(pilot, app)
    await pilot.press("ctrl+p", *"back")
    await pilot.pause(0.5)


async def import_preview(pilot: Pilot[Any], app: MalnuApp) -> None:
    import shutil

    import malnu_tui.engine.data.run as data_run

    data_run.utc_now_iso = lambda: "2026-11-20T09:30:00Z"  # pinned: "now" shows
    await home(pilot, app)
    await pilot.press("i")
    await step(pilot, app, "source")
    examples = REPO / "examples" / "import"
    for name in ("legacy_users.csv", "legacy_users.toml"):
        shutil.copy(examples / name, FIXED_ROOT / name)
    s = app.screen
    s.query_one("#import-file", Input).value = str(FIXED_ROOT / "legacy_users.csv")
    s.query_one("#import-table", Input).value = "users"
    s.query_one("#import-map", Input).value = str(FIXED_ROOT / "legacy_users.toml")
    s.query_one("#import-max", Input).value = "2"
    await pilot.pause()
    s.query_one("#next", Button).focus()
    await pilot.press("n")
    await step(pilot, app, "preview")


async def import_validation(pilot: Pilot[Any], app: MalnuApp) -> None:
    await import_preview(pilot, app)
    await pilot.press("n")
    await step(pilot, app, "validate")


async def sync_verify(pilot: Pilot[Any], app: MalnuApp) -> None:
    """The reporting pair after a sync, then `sync verify` naming what was changed by hand."""
    import malnu_tui.engine.sync.readonly as readonly

    readonly.utc_now = lambda: "2026-11-20 09:00:00"  # pinned: "last sync 5 min ago"
    await home(pilot, app)
    await pilot.press("s")
    await wait_until(pilot, lambda: getattr(app.screen, "states_for", None) == "reporting")
    await pilot.press("v")

    def reported() -> bool:
        s = app.screen
        shown = str(s.query_one("#sync-report", Static).render()) if s.query("#sync-report") else ""
        return getattr(s, "working", True) is None and "missing: id=4" in shown

    await wait_until(pilot, reported, timeout=60)


async def alerts(pilot: Pilot[Any], app: MalnuApp) -> None:
    from malnu_tui.tui.screens.alerts import AlertsScreen

    await home(pilot, app)
    await pilot.press("h")
    await wait_until(
        pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.loaded is not None
    )


def open_incidents(demo: Demo) -> None:
    """The incidents `check --alert` leaves for the demo (no verified backup: CRITICAL), in a
    state directory of the demo's own, at a pinned time."""
    from datetime import UTC, datetime

    from malnu_tui.engine.monitor.alerts import process_alerts
    from malnu_tui.engine.monitor.config import MonitorConfig
    from malnu_tui.engine.monitor.reading import run_checks

    os.environ["XDG_STATE_HOME"] = str(demo.root / "state")
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    report = run_checks([demo.settings().target("primary")], MonitorConfig(), at)
    process_alerts(report, (), now=at)


# name → (script, terminal size or None for the default, demo preparation)
SHOTS: dict[str, tuple[Script, tuple[int, int] | None, Callable[[Demo], object] | None]] = {
    "status": (status, None, None),
    "status-80x24": (status, (80, 24), None),
    "sql-view": (sql_view, (120, 36), None),
    "sql-diff-80x24": (sql_view, (80, 24), None),
    "sql-checked-80x24": (sql_check, (80, 24), add_orders),
    "rollback-preview": (rollback_preview, None, None),
    "rollback-confirm": (rollback_confirm, None, None),
    "rollback-verification": (rollback_verification, None, None),
    "rollback-summary": (rollback_summary, None, None),
    "apply-plan": (apply_plan, None, None),
    "apply-confirm": (apply_confirm, (80, 24), None),
    "apply-result": (apply_result, None, None),
    "backups": (backups, None, add_backups),
    "restore-confirm": (restore_confirm, None, add_backups),
    "recover-plan": (recover_plan, None, add_backups),
    "audit-log": (audit, None, add_backups),
    "import-preview": (import_preview, None, None),
    "import-validation": (import_validation, None, None),
    "sync-verify": (sync_verify, None, synced_pair),
    "sync-verify-80x24": (sync_verify, (80, 24), synced_pair),
    "alerts": (alerts, None, open_incidents),
    "help": (help_screen, None, None),
    "command-palette": (palette, None, None),
}


def lock_primary(demo: Demo) -> None:
    take_lock_elsewhere(demo.primary_db)


SHOTS["rollback-blocked"] = (rollback_blocked, None, lock_primary)


async def shoot(name: str, size: tuple[int, int], out: Path) -> Path:
    script, own_size, prepare = SHOTS[name]
    with FIXED_ROOT.with_name(FIXED_ROOT.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the snapshot tests use the same demo path
        demo = build_demo(FIXED_ROOT)
        if prepare is not None:
            prepare(demo)
        settings = demo.settings()
        app = MalnuApp(settings=settings, target=settings.target("primary"))
        async with app.run_test(size=own_size or size) as pilot:
            await script(pilot, app)
            await pilot.pause(0.3)
            svg = app.export_screenshot(title=f"malnu-tui · {name}")
    path = out / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def to_png(svg: Path) -> Path | None:
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        return None
    png = svg.with_suffix(".png")
    cairosvg.svg2png(url=str(svg), write_to=str(png))
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--size", default="100x32", help="terminal size, WIDTHxHEIGHT")
    parser.add_argument("--out", default=str(REPO / "screenshots"))
    parser.add_argument("names", nargs="*", help=f"only these: {', '.join(SHOTS)}")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.pop("NO_COLOR", None)
    names = args.names or list(SHOTS)
    with parity_server("sql-checked-80x24" in names):
        for name in names:
            svg = asyncio.run(shoot(name, (width, height), out))
            png = to_png(svg)
            shown = svg.relative_to(REPO) if svg.is_relative_to(REPO) else svg
            print(shown, "+ png" if png else "")
    return 0


@contextlib.contextmanager
def parity_server(needed: bool) -> Iterator[None]:
    """$MALNU_PARITY_DATABASE for the SQL view's check: as set, else a throwaway cluster (the
    tests' own) for the run."""
    if not needed or os.environ.get("MALNU_PARITY_DATABASE"):
        yield
        return
    import shutil
    import tempfile

    from tests.fixtures_pg import create_database, start_cluster, stop_cluster

    base = Path(tempfile.mkdtemp(prefix="malnu-pg-shots-"))
    cluster = start_cluster(base)
    try:
        os.environ["MALNU_PARITY_DATABASE"] = cluster.url(create_database(cluster, "shots"))
        yield
    finally:
        os.environ.pop("MALNU_PARITY_DATABASE", None)
        stop_cluster(cluster.bin_dir, cluster.data_dir)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
