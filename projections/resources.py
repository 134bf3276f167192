"""Project resource events: current values on SystemMetrics/Filesystem/TopProcess, ring-keyed MetricPoints,
and the threshold events as Event history (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.resources import (
    RESOURCE_ALERT_EVENTS,
    RING_HOURS,
    RING_MINUTES,
    ResourceAlertEvent,
    ResourcesSampled,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOST_WIDE = ("memory", "swap", "cpu")


def filesystem_key(host: str, mount: str) -> str:
    return f"{host}|{mount}"


def point_key(host: str, series: str, resolution: str, slot: int | str) -> str:
    return f"{host}|{series}|{resolution}|{slot}"


def minute_slot(ts: datetime) -> int:
    """The minute of the day: a 24-hour ring."""
    return (ts.hour * 60 + ts.minute) % RING_MINUTES


def hour_slot(ts: datetime) -> int:
    """The hour of a 90-day cycle counted from the epoch: a 90-day ring."""
    return int((ts - EPOCH) // timedelta(hours=1)) % RING_HOURS


def _point(
    host: str, series: str, res: str, slot: int | str, start: datetime, value: float, mx: float, ts: datetime
) -> UpsertNode:
    props = {
        "host": host,
        "series": series,
        "resolution": res,
        "ts": start,
        "value": value,
        "max": mx,
        "updated_at": ts,
    }
    return UpsertNode("MetricPoint", point_key(host, series, res, slot), props, ts=ts)


def project_sampled(event: Envelope, p: ResourcesSampled) -> list[GraphOp]:
    ts, host = event.ts, event.host
    seen = {"updated_at": ts, "sampled_at": ts}
    total = p.memory_total_bytes
    ops: list[GraphOp] = [
        UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "SystemMetrics",
            host,
            {
                "cpu_percent": p.values.get("cpu", 0.0),
                "load1": p.load1,
                "memory_used_percent": p.values.get("memory.used_percent", 0.0),
                "memory_available_bytes": p.memory_available_bytes,
                "memory_total_bytes": total,
                "swap_used_bytes": p.swap_used_bytes,
                **seen,
            },
            ts=ts,
        ),
    ]
    for f in p.filesystems:
        key = filesystem_key(host, f.mount)
        inodes = (
            100.0 * f.inodes_used / f.inodes_total if f.inodes_total and f.inodes_used is not None else -1.0
        )
        ops += [
            UpsertNode(
                "Filesystem",
                key,
                {
                    "host": host,
                    "mount": f.mount,
                    "device": f.device,
                    "fstype": f.fstype,
                    "total_bytes": f.total_bytes,
                    "used_bytes": f.used_bytes,
                    "free_bytes": f.free_bytes,
                    "used_percent": f.used_percent,
                    "inodes_used_percent": round(inodes, 2),
                    "fill_days": p.fill_days.get(f.mount, -1.0),
                    "first_seen": ts,
                    **seen,
                },
                ts=ts,
            ),
        ]
    for rank, proc in enumerate(p.top_processes):
        key = f"{host}|{rank}"
        ops += [
            UpsertNode(
                "TopProcess",
                key,
                {
                    "host": host,
                    "rank": rank,
                    "pid": proc.pid,
                    "name": proc.name,
                    "user": proc.user,
                    "cpu_percent": proc.cpu_percent,
                    "rss_bytes": proc.rss_bytes,
                    **seen,
                },
                ts=ts,
            ),
        ]
    minute = ts.replace(second=0, microsecond=0)
    hour = p.hour
    day = hour.replace(hour=0)
    mslot, hslot, dslot = minute_slot(ts), hour_slot(hour), day.date().isoformat()
    for series, value in p.values.items():
        ops.append(_point(host, series, "m", mslot, minute, value, value, ts))
        if series in p.hourly:
            avg, mx = p.hourly[series]
            ops.append(_point(host, series, "h", hslot, hour, avg, mx, ts))
        if series in p.daily:
            avg, mx = p.daily[series]
            ops.append(_point(host, series, "d", dslot, day, avg, mx, ts))
    return ops


def project_alert(event: Envelope, p: ResourceAlertEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    if p.resource in HOST_WIDE:
        label, key, node = "SystemMetrics", host, {}
    else:
        label, key = "Filesystem", filesystem_key(host, p.resource)
        node = {"host": host, "mount": p.resource, "first_seen": ts}
    props: dict[str, Any] = {
        "type": event.type,
        "ts": ts,
        "host": host,
        "action": event.type,
        "subject": p.resource,
        "summary": p.message or f"{event.type} {p.resource}: {p.value:g} (threshold {p.threshold:g})",
    }
    return [
        UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(label, key, node),
        UpsertNode("Event", event.id, props),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
        UpsertRel("ACTED_ON", "Event", event.id, label, key),
    ]


PROJECTORS: dict[str, Project] = {
    ResourcesSampled.TYPE: typed(ResourcesSampled, project_sampled),
    **{cls.TYPE: typed(cls, project_alert) for cls in RESOURCE_ALERT_EVENTS},
}
