"""Bound storms of like events (pure: no I/O, no clock): per key and minute a few pass, the rest are counted.

Used by the service log storms (processors.services) and the failed-login/sudo storms (processors.security):
per key and minute the first `limit` occurrences get their own events; the rest are counted into ONE
aggregate whose id is derived from the key and the minute, so re-deciding after a crash re-emits the same
aggregate (a no-op downstream) and a storm costs one graph node whatever its size. `window_alert` counts
occurrences in a sliding window for the threshold alerts (failure alerts, flapping, brute force).
State is plain JSON-able dicts the callers keep in their processor table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def iso(ts: datetime) -> str:
    return ts.isoformat()


def parse(s: str) -> datetime:
    return datetime.fromisoformat(s)


def minute_of(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Admission:
    """What to do with one occurrence: `passed` gets its own event; else it was counted into `storm`."""

    storm: dict[str, Any]  # this minute's state: minute, count, suppressed, sid, first_suppressed
    passed: bool
    closed: dict[str, Any] | None  # the previous minute's state if it suppressed any: emit its final count


def admit(storm: dict[str, Any] | None, ts: datetime, limit: int, sid: Callable[[str], str]) -> Admission:
    """Count one occurrence at `ts` into `storm` (changed in place unless a new minute begins).

    `sid(minute_iso)` names the aggregate of that minute: deterministic, so a re-decision reuses it.
    A late occurrence (an earlier minute than the storm's) counts into the current minute.
    """
    minute = minute_of(ts)
    closed = None
    if not storm or minute > parse(storm["minute"]):
        if storm and storm.get("suppressed"):
            closed = storm
        storm = {"minute": iso(minute), "count": 0, "suppressed": 0}
    storm["count"] += 1
    if storm["count"] <= limit:
        return Admission(storm, True, closed)
    storm["suppressed"] += 1
    if storm["suppressed"] == 1:
        storm["sid"] = sid(storm["minute"])
        storm["first_suppressed"] = iso(ts)
    return Admission(storm, False, closed)


def milestone(k: int) -> bool:
    """Re-emit an aggregate at these counts: 1, 10, 100, 1000, ... (a bounded number per minute)."""
    return k == 1 or (k >= 10 and str(k).rstrip("0") == "1")


def trim(times: list[str], now: datetime, window: timedelta) -> list[str]:
    return [t for t in times if now - parse(t) < window]


def window_alert(
    state: dict[str, Any],
    name: str,
    ts: datetime,
    window: timedelta,
    threshold: int,
    *,
    keep: int | None = None,
) -> int | None:
    """Record one occurrence at ts; the count when it reaches `threshold` (once per window), else None.

    At most `keep` times are kept (default: 4 x threshold, at least 16), so the count reported is capped
    there: enough to decide the threshold with bounded state under a storm.
    """
    times = [*trim(state.get(name, []), ts, window), iso(ts)]
    state[name] = times[-(keep if keep is not None else max(threshold * 4, 16)) :]
    alerted = state.get(f"{name}_alerted")
    if len(times) >= threshold and (alerted is None or ts - parse(alerted) >= window):
        state[f"{name}_alerted"] = iso(ts)
        return len(times)
    return None
