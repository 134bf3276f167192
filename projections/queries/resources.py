"""The resources domain's questions: disk usage, what fills first, top processes, thresholds, and the
time series `watchman plot` draws.

A time-series question returns the columns `ts` and `value` (and `series` when it returns several) and
takes `since`, the look-back as text (90m, 24h, 30d, 2w, 1y): `watchman plot --since` and the API's
series endpoint set it. The resolution follows the look-back: minute points up to 24 hours, hourly up
to 90 days, daily beyond.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from projections.named import CatalogError, NamedQuery, Param

SINCE = Param("since", str, "24h", "look back: 90m, 24h, 30d, 2w, 1y (watchman plot --since)")
_SINCE = re.compile(r"^(\d+)\s*([mhdwy])$")
_UNIT_SINCE = {"m": 1, "h": 60, "d": 24 * 60, "w": 7 * 24 * 60, "y": 365 * 24 * 60}
MAX_SINCE_SINCE = 100 * 365 * 24 * 60


def since_minutes(text: str) -> int:
    """'90m', '24h', '30d', '2w', '1y' -> minutes."""
    m = _SINCE.match(text.strip().lower())
    if m is None:
        raise CatalogError(f"since wants a number and a unit (m, h, d, w, y), e.g. 24h or 30d, not {text!r}")
    minutes = int(m.group(1)) * _UNIT_SINCE[m.group(2)]
    if not 1 <= minutes <= MAX_SINCE_SINCE:
        raise CatalogError(f"since must be between 1m and 100y, not {text!r}")
    return minutes


HOST = Param("host", str, "", "only this host ('' = every host)")
SERIES_COLUMNS = ("ts", "value")


def resolution(minutes: int) -> str:
    if minutes <= 24 * 60:
        return "m"
    if minutes <= 90 * 24 * 60:
        return "h"
    return "d"


def window(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    """since (text) -> since (a time) and the resolution of points to read; mount -> its series name."""
    out = {k: v for k, v in p.items() if k not in ("since", "mount")}
    minutes = since_minutes(str(p["since"]))
    out["since"] = now - timedelta(minutes=minutes)
    out["resolution"] = resolution(minutes)
    if "mount" in p:
        out["series"] = f"fs.{p['mount']}.used_percent"
    return out


def with_threshold(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**p, "percent": float(p["percent"])}


_POINTS = (
    "MATCH (p:MetricPoint) WHERE p.series = $series AND p.resolution = $resolution AND p.ts >= $since "
    "AND ($host = '' OR p.host = $host) "
)

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "metric-series",
        "A host metric over time (series: cpu, cpu.core0, load1, memory.used_percent, swap.bps, "
        "fs./.used_percent, disk.sda.read_bps, net.eth0.rx_bps, temp.coretemp, ...)",
        _POINTS + "RETURN p.ts AS ts, p.value AS value, p.max AS max, p.host AS host ORDER BY ts, host",
        (Param("series", str, "cpu", "the series name"), SINCE, HOST),
        window,
    ),
    NamedQuery(
        "disk-use",
        "How full was this filesystem over time? (percent used)",
        _POINTS + "RETURN p.ts AS ts, p.value AS value, p.host AS host ORDER BY ts, host",
        (Param("mount", str, "/", "the mount point"), SINCE, HOST),
        window,
    ),
    NamedQuery(
        "cpu-per-core",
        "CPU use of each core over time (percent of one core)",
        "MATCH (p:MetricPoint) WHERE p.series STARTS WITH $prefix AND p.resolution = $resolution "
        "AND p.ts >= $since AND ($host = '' OR p.host = $host) "
        "RETURN p.ts AS ts, p.value AS value, p.series AS series ORDER BY series, ts",
        (SINCE, HOST),
        lambda p, now: {**window(p, now), "prefix": "cpu.core"},
    ),
    NamedQuery(
        "service-memory-series",
        "Memory (RSS bytes) of a service over time, from its per-minute metrics",
        "MATCH (m:ServiceMetrics) WHERE (m.service = $unit OR m.service = $unit_service) AND m.ts >= $since "
        "RETURN m.ts AS ts, m.rss_bytes AS value, m.host AS host ORDER BY ts",
        (Param("service", str, None, "the unit (nginx or nginx.service)"), SINCE),
        lambda p, now: {
            "since": now - timedelta(minutes=since_minutes(str(p["since"]))),
            "unit": p["service"],
            "unit_service": p["service"] if "." in p["service"] else f"{p['service']}.service",
        },
    ),
    NamedQuery(
        "disk-usage",
        "How full is each filesystem? (space and inodes, fullest first)",
        "MATCH (f:Filesystem) WHERE f.total_bytes IS NOT NULL AND ($host = '' OR f.host = $host) "
        "RETURN f.host AS host, f.mount AS mount, f.device AS device, f.fstype AS fstype, "
        "f.used_percent AS used_percent, f.used_bytes AS used_bytes, f.free_bytes AS free_bytes, "
        "f.total_bytes AS total_bytes, f.inodes_used_percent AS inodes_used_percent, "
        "f.sampled_at AS sampled_at "
        "ORDER BY used_percent DESC, host, mount",
        (HOST,),
    ),
    NamedQuery(
        "fills-first",
        "Which filesystem fills first? (days until full at the recent growth; growing ones only)",
        "MATCH (f:Filesystem) WHERE f.fill_days >= 0 AND ($host = '' OR f.host = $host) "
        "RETURN f.host AS host, f.mount AS mount, f.fill_days AS days_left, f.used_percent AS used_percent, "
        "f.free_bytes AS free_bytes ORDER BY days_left, host, mount",
        (HOST,),
    ),
    NamedQuery(
        "top-processes",
        "Which processes use the most CPU and memory now? (the latest sample)",
        "MATCH (s:SystemMetrics) WHERE $host = '' OR s.host = $host "
        "MATCH (p:TopProcess) WHERE p.host = s.host AND p.sampled_at = s.sampled_at "
        "RETURN p.host AS host, p.rank AS rank, p.pid AS pid, p.name AS name, p.user AS user, "
        "p.cpu_percent AS cpu_percent, p.rss_bytes AS rss_bytes, p.sampled_at AS sampled_at "
        "ORDER BY host, rank",
        (HOST,),
    ),
    NamedQuery(
        "filesystems-over",
        "Which filesystems are at least N percent full?",
        "MATCH (f:Filesystem) WHERE f.used_percent >= $percent "
        "RETURN f.host AS host, f.mount AS mount, f.used_percent AS used_percent, f.free_bytes AS free_bytes "
        "ORDER BY used_percent DESC, host, mount",
        (Param("percent", int, 90, "the threshold in percent"),),
        with_threshold,
    ),
    NamedQuery(
        "hosts-over",
        "Which hosts use at least N percent of their CPU or memory now?",
        "MATCH (s:SystemMetrics) WHERE s.cpu_percent >= $percent OR s.memory_used_percent >= $percent "
        "RETURN s.host AS host, s.cpu_percent AS cpu_percent, s.memory_used_percent AS memory_used_percent, "
        "s.load1 AS load1, s.sampled_at AS sampled_at ORDER BY host",
        (Param("percent", int, 90, "the threshold in percent"),),
        with_threshold,
    ),
    NamedQuery(
        "host-metrics",
        "The host's CPU, load, memory and swap now",
        "MATCH (s:SystemMetrics) WHERE $host = '' OR s.host = $host "
        "RETURN s.host AS host, s.cpu_percent AS cpu_percent, s.load1 AS load1, "
        "s.memory_used_percent AS memory_used_percent, s.memory_available_bytes AS memory_available_bytes, "
        "s.memory_total_bytes AS memory_total_bytes, s.swap_used_bytes AS swap_used_bytes, "
        "s.sampled_at AS sampled_at ORDER BY host",
        (HOST,),
    ),
)
