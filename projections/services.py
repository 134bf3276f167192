"""Project service events: Service state, LogEvent, downsampled ServiceMetrics, Event history (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project
from schemas.envelope import Envelope
from schemas.events import EventPayload
from schemas.events.services import (
    SERVICE_EVENTS,
    ServiceEvent,
    ServiceFailed,
    ServiceFinished,
    ServiceHealthChanged,
    ServiceLogged,
    ServiceMetricsSampled,
    ServiceReloaded,
    ServiceRestartScheduled,
    ServiceStarted,
    ServiceStateObserved,
    ServiceStopped,
)

SUMMARY_MAX = 300


def service_key(host: str, unit: str) -> str:
    return f"{host}/{unit}"


def unit_type(unit: str) -> str:
    """The unit type from its suffix: nginx.service -> service, session-3.scope -> scope."""
    return unit.rsplit(".", 1)[1] if "." in unit else "service"


def _state(payload: ServiceEvent, ts: datetime) -> dict[str, Any]:
    """The Service properties this event sets (beyond identity and times)."""
    if isinstance(payload, ServiceStarted):
        return {"state": "active", "pid": payload.pid, "started_at": ts}
    if isinstance(payload, ServiceStopped):
        return {"state": "inactive"}
    if isinstance(payload, ServiceFinished):
        return {"state": "finished"}
    if isinstance(payload, ServiceFailed):
        return {"state": "failed"}
    if isinstance(payload, ServiceReloaded):
        return {"state": "active"}
    if isinstance(payload, ServiceRestartScheduled):
        return {"restarts": payload.counter}
    if isinstance(payload, ServiceStateObserved):
        return {"state": payload.state}
    if isinstance(payload, ServiceHealthChanged):
        return {"health_status": payload.status}
    if isinstance(payload, ServiceMetricsSampled):
        return {"cpu_percent": payload.cpu_percent, "rss_bytes": payload.rss_bytes, "metrics_at": ts}
    return {}


def summary(payload: ServiceEvent) -> str:
    text = (
        f"{payload.ACTION} {payload.unit}: {payload.message}"
        if payload.message
        else f"{payload.ACTION} {payload.unit}"
    )
    return text[:SUMMARY_MAX]


def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if not isinstance(payload, ServiceEvent):
        raise TypeError(f"services projection got {type(payload).__name__}")
    ts = event.ts
    host = event.host
    skey = service_key(host, payload.unit)
    props: dict[str, Any] = {
        "host": host,
        "name": payload.unit,
        "type": unit_type(payload.unit),
        "first_seen": ts,
        "last_seen": ts,
    }
    state = _state(payload, ts)
    if any(
        name in state for name in ("state", "pid", "started_at", "health_status", "cpu_percent", "rss_bytes")
    ):
        props["updated_at"] = ts
    props.update(state)
    # Samples arrive every minute from a live sampler: they do not move the host's first/last seen, which
    # tell when something happened on it (and would otherwise differ between two imports of one history).
    metrics = isinstance(payload, ServiceMetricsSampled)
    host_props: dict[str, Any] = (
        {"name": host} if metrics else {"name": host, "first_seen": ts, "last_seen": ts}
    )
    ops: list[GraphOp] = [
        UpsertNode("Host", host, host_props),
        UpsertNode("Service", skey, props, ts=ts),
        UpsertRel("RUNS_ON", "Service", skey, "Host", host),
    ]
    if isinstance(payload, ServiceLogged):
        ops += [
            UpsertNode(
                "LogEvent",
                event.id,
                {
                    "ts": ts,
                    "host": host,
                    "service": payload.unit,
                    "level": payload.level,
                    "priority": payload.priority,
                    "message": payload.message,
                    "suppressed": payload.suppressed,
                },
            ),
            UpsertRel("LOGGED_BY", "LogEvent", event.id, "Service", skey),
        ]
        return ops
    if isinstance(payload, ServiceMetricsSampled):
        ops += [
            UpsertNode(
                "ServiceMetrics",
                event.id,
                {
                    "ts": payload.minute,
                    "host": host,
                    "service": payload.unit,
                    "cpu_percent": payload.cpu_percent,
                    "rss_bytes": payload.rss_bytes,
                    "io_read_bytes": payload.io_read_bytes,
                    "io_write_bytes": payload.io_write_bytes,
                    "processes": payload.processes,
                    "samples": payload.samples,
                },
            ),
            UpsertRel("METRICS_FOR", "ServiceMetrics", event.id, "Service", skey),
        ]
        return ops
    action = payload.ACTION
    if isinstance(payload, ServiceStarted) and payload.job_type == "restart":
        action = "restart"
    ops += [
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": host,
                "action": action,
                "subject": skey,
                "summary": summary(payload),
                "source": event.source,
            },
        ),
        UpsertRel("ACTED_ON", "Event", event.id, "Service", skey),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
    ]
    return ops


# Which domain event types this projection handles (projections/registry.py collects it).
PROJECTORS: dict[str, Project] = {cls.TYPE: project for cls in SERVICE_EVENTS}
