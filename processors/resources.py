"""Decide resource events from host samples (pure): series values, hourly/daily aggregates, thresholds.

State per host in the table: the running aggregates of the current hour and day, the recent used bytes
of each filesystem (for the fill prediction) and which thresholds are crossed now, so each crossing is
one event and each return one event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.resources import (
    EVENTS_RESOURCES,
    RAW_RESOURCES,
    CpuSaturated,
    CpuSaturationEnded,
    DiskFillPredicted,
    DiskFillPredictionCleared,
    DiskSpaceLow,
    DiskSpaceRecovered,
    HostMetricsObserved,
    MemoryPressure,
    MemoryPressureRelieved,
    ResourceAlertEvent,
    ResourcesSampled,
    Swapping,
    SwappingStopped,
)

SOURCE = "resources"
# Points kept per filesystem for the fill prediction (thinned to this many over the window).
FILL_POINTS = 240
# A prediction needs this much history: two samples a few seconds apart say nothing about a trend.
FILL_MIN_SPAN = timedelta(minutes=5)
# A prediction clears when the time to full grows past this multiple of predict_days (no flapping).
CLEAR_FACTOR = 1.5


def series_values(obs: HostMetricsObserved) -> dict[str, float]:
    """The sample as named series (the names `watchman plot` and the API take)."""
    v: dict[str, float] = {"cpu": obs.cpu_percent, "load1": obs.load1}
    for i, c in enumerate(obs.cpu_per_core):
        v[f"cpu.core{i}"] = c
    if obs.memory_total_bytes:
        v["memory.used_percent"] = round(
            100.0 * (obs.memory_total_bytes - obs.memory_available_bytes) / obs.memory_total_bytes, 2
        )
    v["memory.available_bytes"] = float(obs.memory_available_bytes)
    v["swap.used_bytes"] = float(obs.swap_used_bytes)
    v["swap.bps"] = obs.swap_in_bps + obs.swap_out_bps
    for f in obs.filesystems:
        v[f"fs.{f.mount}.used_percent"] = f.used_percent
    for d in obs.disks:
        v[f"disk.{d.name}.read_bps"], v[f"disk.{d.name}.write_bps"] = d.read_bps, d.write_bps
    for n in obs.interfaces:
        v[f"net.{n.name}.rx_bps"], v[f"net.{n.name}.tx_bps"] = n.read_bps, n.write_bps
    for t in obs.temperatures:
        v[f"temp.{t.sensor}"] = t.celsius
    for g in obs.gpus:
        v[f"gpu.{g.index}.utilization_percent"] = g.utilization_percent
        v[f"gpu.{g.index}.memory_used_bytes"] = float(g.memory_used_bytes)
    return v


def _fold(agg: dict[str, list[float]], values: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Add the values to the running [sum, count, max] per series; return [average, maximum]."""
    for name, x in values.items():
        s = agg.get(name)
        if s is None:
            agg[name] = [x, 1.0, x]
        else:
            s[0] += x
            s[1] += 1
            s[2] = max(s[2], x)
    return {name: (round(s[0] / s[1], 3), s[2]) for name, s in agg.items() if name in values}


def fill_days(points: list[list[float]], free_bytes: int) -> float | None:
    """Days until full at the least-squares growth of (epoch seconds, used bytes); None: not growing."""
    if len(points) < 2 or points[-1][0] - points[0][0] < FILL_MIN_SPAN.total_seconds():
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    if den == 0:
        return None
    slope = sum((p[0] - mx) * (p[1] - my) for p in points) / den  # bytes per second
    if slope <= 0:
        return None
    return max(0.0, free_bytes / slope / 86400.0)


class _Out:
    def __init__(self, raw: Envelope) -> None:
        self.raw = raw
        self.events: list[Envelope] = []

    def add(self, payload: EventPayload, subject: str) -> None:
        self.events.append(
            Envelope(
                id=event_id(SOURCE, self.raw.id, payload.TYPE, subject),
                type=payload.TYPE,
                schema_version=payload.VERSION,
                host=self.raw.host,
                source=SOURCE,
                ts=self.raw.ts,
                observed_at=self.raw.observed_at,
                subject=subject,
                causation_id=self.raw.id,
                payload=payload.model_dump(mode="json"),
            )
        )

    def alert(
        self,
        cls: type[ResourceAlertEvent],
        ts: datetime,
        resource: str,
        value: float,
        threshold: float,
        message: str = "",
        **extra: Any,
    ) -> None:
        self.add(
            cls(
                ts=ts, resource=resource, value=round(value, 3), threshold=threshold, message=message, **extra
            ),
            resource,
        )


def decide_sample(raw: Envelope, obs: HostMetricsObserved, table: Table) -> list[Envelope]:
    key = f"host/{raw.host}"
    # At-least-once (Faust): the latest sample again is answered with its own outputs (same ids), as
    # processors/memo.py does, but only the last one is kept: it is ~3 KB and comes every minute.
    last = table.get(f"last/{raw.host}")
    if last is not None and last[0] == raw.id:
        return [Envelope.model_validate(o) for o in last[1]]
    st: dict[str, Any] = table.get(key) or {}
    ts = obs.ts
    if st.get("last") and datetime.fromisoformat(st["last"]) >= ts:
        return []  # an older sample than the last decided: its outputs were written before that one's
    st["last"] = ts.isoformat()
    out = _Out(raw)
    lim = obs.limits
    values = series_values(obs)

    hour = ts.replace(minute=0, second=0, microsecond=0)
    if st.get("hour") != hour.isoformat():
        st["hour"], st["h"] = hour.isoformat(), {}
    day = hour.date().isoformat()
    if st.get("day") != day:
        st["day"], st["d"] = day, {}
    hourly, daily = _fold(st["h"], values), _fold(st["d"], values)

    # Filesystems: space low, and the fill prediction from the recent growth.
    low, predicted, fill = set(st.get("low", [])), set(st.get("predicted", [])), st.get("fill", {})
    days_left: dict[str, float] = {}
    mounts = set()
    epoch = ts.timestamp()
    window = lim.predict_window_minutes * 60
    for f in obs.filesystems:
        mounts.add(f.mount)
        if f.used_percent >= lim.disk_percent and f.mount not in low:
            low.add(f.mount)
            out.alert(
                DiskSpaceLow,
                ts,
                f.mount,
                f.used_percent,
                lim.disk_percent,
                f"{f.mount} ({f.device}) has {f.free_bytes} bytes free",
            )
        elif f.used_percent < lim.disk_clear_percent and f.mount in low:
            low.discard(f.mount)
            out.alert(DiskSpaceRecovered, ts, f.mount, f.used_percent, lim.disk_clear_percent)
        pts = [p for p in fill.get(f.mount, []) if p[0] >= epoch - window]
        if not pts or epoch - pts[-1][0] >= window / FILL_POINTS:
            pts.append([epoch, float(f.used_bytes)])
        else:
            pts[-1] = [pts[-1][0], float(f.used_bytes)]  # the slot's latest value
        fill[f.mount] = pts
        left = fill_days(pts, f.free_bytes)
        if left is not None:
            days_left[f.mount] = round(left, 3)
        if left is not None and left <= lim.predict_days and f.mount not in predicted:
            predicted.add(f.mount)
            full_at = ts + timedelta(days=left)
            out.alert(
                DiskFillPredicted,
                ts,
                f.mount,
                left,
                lim.predict_days,
                f"{f.mount} full around {full_at:%Y-%m-%d %H:%M} UTC",
                full_at=full_at,
            )
        elif f.mount in predicted and (left is None or left > lim.predict_days * CLEAR_FACTOR):
            predicted.discard(f.mount)
            out.alert(
                DiskFillPredictionCleared, ts, f.mount, -1.0 if left is None else left, lim.predict_days
            )
    for gone in sorted(low - mounts):  # unmounted: nothing left to fill
        low.discard(gone)
        out.alert(DiskSpaceRecovered, ts, gone, 0.0, lim.disk_clear_percent, "no longer mounted")
    for gone in sorted(predicted - mounts):
        predicted.discard(gone)
        out.alert(DiskFillPredictionCleared, ts, gone, -1.0, lim.predict_days, "no longer mounted")
    for gone in set(fill) - mounts:
        del fill[gone]
    st["low"], st["predicted"], st["fill"] = sorted(low), sorted(predicted), fill

    # Memory, swap, CPU.
    if obs.memory_total_bytes:
        avail = 100.0 * obs.memory_available_bytes / obs.memory_total_bytes
        if avail <= lim.memory_available_percent and not st.get("memory"):
            st["memory"] = True
            out.alert(MemoryPressure, ts, "memory", avail, lim.memory_available_percent)
        elif avail >= lim.memory_clear_percent and st.get("memory"):
            st["memory"] = False
            out.alert(MemoryPressureRelieved, ts, "memory", avail, lim.memory_clear_percent)
    swap = obs.swap_in_bps + obs.swap_out_bps
    if swap >= lim.swap_bytes_per_second and not st.get("swap"):
        st["swap"] = True
        out.alert(Swapping, ts, "swap", swap, lim.swap_bytes_per_second)
    elif swap < lim.swap_bytes_per_second / 2 and st.get("swap"):
        st["swap"] = False
        out.alert(SwappingStopped, ts, "swap", swap, lim.swap_bytes_per_second / 2)
    if obs.cpu_percent >= lim.cpu_percent:
        since = datetime.fromisoformat(st["cpu_since"]) if st.get("cpu_since") else ts
        st["cpu_since"] = since.isoformat()
        minutes = (ts - since).total_seconds() / 60
        if minutes >= lim.cpu_minutes and not st.get("cpu"):
            st["cpu"] = True
            out.alert(
                CpuSaturated,
                ts,
                "cpu",
                obs.cpu_percent,
                lim.cpu_percent,
                f"CPU at or above {lim.cpu_percent:g}% for {minutes:.0f} minutes (now {obs.cpu_percent:g}%)",
            )
    else:
        st["cpu_since"] = None
        if st.get("cpu"):
            st["cpu"] = False
            out.alert(
                CpuSaturationEnded,
                ts,
                "cpu",
                obs.cpu_percent,
                lim.cpu_percent,
                f"CPU below {lim.cpu_percent:g}% again (now {obs.cpu_percent:g}%)",
            )

    table.set(key, st)
    sampled = ResourcesSampled(
        ts=ts,
        values=values,
        hour=hour,
        hourly=hourly,
        daily=daily,
        load1=obs.load1,
        memory_total_bytes=obs.memory_total_bytes,
        memory_available_bytes=obs.memory_available_bytes,
        swap_used_bytes=obs.swap_used_bytes,
        filesystems=obs.filesystems,
        fill_days=days_left,
        top_processes=obs.top_processes,
        gpus=obs.gpus,
    )
    # The sample first: its alert events refer to the state it shows.
    outputs = [*_sampled(raw, sampled), *out.events]
    table.set(f"last/{raw.host}", [raw.id, [o.model_dump(mode="json") for o in outputs]])
    return outputs


def _sampled(raw: Envelope, p: ResourcesSampled) -> list[Envelope]:
    o = _Out(raw)
    o.add(p, "host")
    return o.events


ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_RESOURCES,
        sink=EVENTS_RESOURCES,
        table="resources",
        decide={HostMetricsObserved.TYPE: typed(HostMetricsObserved, decide_sample)},
    ),
)
