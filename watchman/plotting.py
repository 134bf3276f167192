"""Time series from named queries, and drawing them: in the terminal (plotext) or to PNG/SVG (matplotlib).

A time-series question (projections/queries/resources.py) returns `ts` and `value`, and `series` when it
returns several lines; it takes `since`, the look-back (24h, 30d). The plotting libraries are imported
only when a chart is drawn: the daemon and the API never load them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from projections.catalog import QUERIES

IMAGE_SUFFIXES = (".png", ".svg")


class NotASeries(ValueError):
    """The query is unknown, takes no look-back, or its rows are not (ts, value[, series])."""


def time_series_queries() -> list[str]:
    return [name for name, q in QUERIES.items() if any(p.name == "since" for p in q.params)]


def check_series_query(name: str) -> None:
    if name not in time_series_queries():
        raise NotASeries(
            f"{name!r} is not a time-series query; these are: {', '.join(time_series_queries())}"
        )


def _ts(v: Any) -> datetime:
    t = v if isinstance(v, datetime) else datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def series_of(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> dict[str, list[tuple[datetime, float]]]:
    """Rows of (ts, value[, series]) -> one list of points per series ("value" when there is one)."""
    if "ts" not in columns or "value" not in columns:
        raise NotASeries(f"a time series has the columns ts and value; these rows have {', '.join(columns)}")
    its, iv = columns.index("ts"), columns.index("value")
    iseries = columns.index("series") if "series" in columns else None
    ihost = columns.index("host") if "host" in columns else None
    hosts = {row[ihost] for row in rows} if ihost is not None else set()
    out: dict[str, list[tuple[datetime, float]]] = {}
    for row in rows:
        if row[its] is None or row[iv] is None:
            continue
        label = str(row[iseries]) if iseries is not None else "value"
        if len(hosts) > 1 and ihost is not None:
            label = f"{row[ihost]} {label}" if iseries is not None else str(row[ihost])
        out.setdefault(label, []).append((_ts(row[its]), float(row[iv])))
    for points in out.values():
        points.sort()
    return out


def draw_image(series: dict[str, list[tuple[datetime, float]]], title: str, path: Path) -> None:
    """A PNG or SVG (by the file's suffix), drawn by matplotlib's Agg renderer (no display needed)."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"--out wants a .png or .svg file, not {path.name!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        for label, points in sorted(series.items()):
            xs: Any = [p[0] for p in points]  # matplotlib takes datetimes; its stubs say floats
            # 2 px: a flat 1.2 px line can fall between two pixel rows and leave no pixel of its colour.
            ax.plot(xs, [p[1] for p in points], label=label, linewidth=2.0)
        ax.set_title(title)
        ax.set_xlabel("time (UTC)")
        ax.grid(True, alpha=0.3)
        locator = ax.xaxis.get_major_locator()
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        if len(series) > 1:
            ax.legend(loc="upper left", fontsize="small")
        fig.tight_layout()
        fig.savefig(path, format=path.suffix.lower().lstrip("."))
    finally:
        plt.close(fig)


def draw_terminal(series: dict[str, list[tuple[datetime, float]]], title: str) -> str:
    """The chart as text for the terminal (plotext 6's figure API), as wide as the terminal."""
    import shutil

    import plotext as plt  # type: ignore[import-untyped]

    fig = plt.figure
    fig.clear()
    fig.date("x").activate()
    for label, points in sorted(series.items()):
        line = fig.signal([p[0].replace(tzinfo=None) for p in points], [p[1] for p in points])
        line.lines()
        if len(series) > 1:
            line.label(label)
        fig.draw(line)
    fig.title(title)
    fig.label("time (UTC)")
    width, height = shutil.get_terminal_size((100, 30))
    fig.plot_size(max(40, width), max(12, min(height - 2, 30)))
    text = str(fig.build())
    fig.clear()
    return text if _colour_ok() else str(plt.uncolorize(text))


def _colour_ok() -> bool:
    import os
    import sys

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def window_title(name: str, params: dict[str, Any]) -> str:
    shown = " ".join(f"{k}={v}" for k, v in params.items() if k != "since")
    return " ".join(x for x in (name, shown, f"(last {params.get('since', '24h')})") if x)
