"""Shared helpers of the benchmarks: timing, medians, sizes, progress lines and throw-away directories."""

from __future__ import annotations

import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# tests.support.histories.generate makes about this many package changes per apt session.
CHANGES_PER_SESSION = 4.5
HISTORY_START = datetime(2015, 1, 1)
HOST = "bench"


def say(message: str) -> None:
    """A progress line on stderr (stdout carries the results table)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls (at least one)."""
    return statistics.median(timed(fn)[0] for _ in range(max(1, repeat)))


def sessions_for(changes: int) -> int:
    return max(1, math.ceil(changes / CHANGES_PER_SESSION))


@contextmanager
def scratch(parent: Path, name: str) -> Iterator[Path]:
    """A fresh directory under `parent`, removed afterwards (big runs would fill the disk otherwise)."""
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fmt(value: float | None) -> str:
    """Numbers for tables: thousands separated, three significant digits for small ones."""
    if value is None:
        return "—"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"
