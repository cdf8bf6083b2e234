"""Console benchmarks (issue 5): time from launch to the first painted status table with 10,000
migrations, and keypress-to-repaint latency while scrolling that table.

Targets: first paint under 1.5 s, scrolling under 50 ms a step.

Launch is measured twice: in process (App construction → the table holds every row and a frame
was rendered, headless), and as a real program in a real terminal (tmux: process start → the
status table is on screen, Python start-up and imports included).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.strip import Strip  # noqa: E402

from benchmarks._table import print_table  # noqa: E402
from malnu_tui.tui.app import MalnuApp  # noqa: E402
from malnu_tui.tui.widgets.migration_table import MigrationTable  # noqa: E402
from malnu_tui.tui.widgets.target_panel import TargetPanel  # noqa: E402
from tests.tui_demo import Demo, build_many  # noqa: E402

COUNT = 10_000
APPLIED = 9_000
FIRST_PAINT_TARGET_S = 1.5
STEP_TARGET_MS = 50.0


def ok(value: float, target: float) -> str:
    return "ok" if value < target else "SLOW"


class PaintClock:
    """Records when the migration table last rendered a data row: the moment it is painted."""

    def __init__(self) -> None:
        self.last: float | None = None
        original = MigrationTable.render_line
        clock = self

        def render_line(table: MigrationTable, y: int) -> Strip:
            strip = original(table, y)
            if y > 0 and table.row_count == COUNT:
                clock.last = time.perf_counter()
            return strip

        MigrationTable.render_line = render_line  # type: ignore[method-assign,assignment]


CLOCK = PaintClock()


async def first_paint(demo: Demo) -> float:
    """Seconds from App() to the first rendered row of the primary table with every row."""
    CLOCK.last = None
    started = time.perf_counter()
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(120, 40)):
        while CLOCK.last is None:
            await asyncio.sleep(0.001)
        return CLOCK.last - started


async def scrolling(demo: Demo, presses: int = 200) -> dict[str, list[float]]:
    """Milliseconds from a keypress to the table's repaint, for down, page down and up."""
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    out: dict[str, list[float]] = {"down": [], "pagedown": [], "up": []}
    async with app.run_test(size=(120, 40)) as pilot:
        while not any(p.table.row_count == COUNT for p in app.query(TargetPanel)):
            await asyncio.sleep(0.01)
        await pilot.pause(0.5)
        for key, n in (("down", presses), ("pagedown", 40), ("up", presses)):
            for _ in range(n):
                CLOCK.last = None
                t0 = time.perf_counter()
                await pilot.press(key)
                while CLOCK.last is None:
                    await asyncio.sleep(0.001)
                out[key].append((CLOCK.last - t0) * 1000)
    return out


def real_terminal(demo: Demo) -> float | None:
    """Seconds from starting ``malnu-tui`` in tmux to the status table on screen."""
    if shutil.which("tmux") is None:
        return None
    socket = f"malnu-bench-{uuid.uuid4().hex[:8]}"
    exe = ROOT / ".venv" / "bin" / "malnu-tui"
    last = f"step_{COUNT - 1:05d}"[:1]  # any row text will do: the first rows are on screen
    try:
        started = time.perf_counter()
        subprocess.run(
            ["tmux", "-L", socket, "new-session", "-d", "-s", "b", "-x", "120", "-y", "40",
             f"cd {demo.root} && {exe}"],
            check=True,
        )  # fmt: skip
        while time.perf_counter() - started < 30:
            screen = subprocess.run(
                ["tmux", "-L", socket, "capture-pane", "-p", "-t", "b"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "step_00000" in screen and "9000 applied" in screen and last:
                return time.perf_counter() - started
            time.sleep(0.005)
        return None
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="malnu-bench-tui-"))
    try:
        demo = build_many(tmp / "demo", COUNT, APPLIED)
        paints = [asyncio.run(first_paint(demo)) for _ in range(3)]
        paint = statistics.median(paints)
        terminal = real_terminal(demo)
        steps = asyncio.run(scrolling(demo))
        rows: list[tuple[str, str, str, str]] = [
            (
                f"first paint, {COUNT:,} migrations (in process, median of 3)",
                f"{paint:.3f} s",
                f"< {FIRST_PAINT_TARGET_S} s",
                ok(paint, FIRST_PAINT_TARGET_S),
            )
        ]
        if terminal is not None:
            rows.append(
                (
                    f"first paint, {COUNT:,} migrations (real terminal, tmux)",
                    f"{terminal:.3f} s",
                    f"< {FIRST_PAINT_TARGET_S} s",
                    ok(terminal, FIRST_PAINT_TARGET_S),
                )
            )
        for key, samples in steps.items():
            samples.sort()
            p95 = samples[int(len(samples) * 0.95) - 1]
            rows.append(
                (
                    f"scroll: {key} ×{len(samples)} (median / p95 / max)",
                    f"{statistics.median(samples):.1f} / {p95:.1f} / {samples[-1]:.1f} ms",
                    f"< {STEP_TARGET_MS:.0f} ms",
                    ok(p95, STEP_TARGET_MS),
                )
            )
        print_table("malnu-tui console", ["measure", "result", "target", ""], rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
