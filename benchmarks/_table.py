"""Tiny helpers shared by the benchmark scripts: timing and a printed table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fastest(fn: Callable[[], object], repeat: int) -> float:
    """Least wall time of ``fn`` in seconds over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def paired(
    floor: Callable[[], object], ours: Callable[[], object], repeat: int = 3
) -> tuple[float, float, float]:
    """Run ``floor`` and ``ours`` alternately ``repeat`` times each: (median floor seconds,
    median ours seconds, median of the per-pair ratios ours/floor). Alternating keeps a burst of
    load from other processes from landing on one side only."""
    pairs: list[tuple[float, float]] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        floor()
        t1 = time.perf_counter()
        ours()
        t2 = time.perf_counter()
        pairs.append((t1 - t0, t2 - t1))
    return (
        statistics.median(f for f, _ in pairs),
        statistics.median(o for _, o in pairs),
        statistics.median(o / f for f, o in pairs),
    )


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(title)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
