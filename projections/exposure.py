"""Project ServiceExposed/ServiceUnexposed into the ListeningSocket node and an Event (pure)."""

from __future__ import annotations

from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.exposure import SERVICE_EVENTS, ServiceEvent, ServiceExposed


def socket_key(host: str, netns: str | None, protocol: str, address: str, port: int) -> str:
    where = host if not netns else f"{host}/netns:{netns}"
    return f"{where}/{protocol}/{address}/{port}"


def project_service(event: Envelope, p: ServiceEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    key = socket_key(host, p.netns, p.protocol, p.address, p.port)
    opened = isinstance(p, ServiceExposed)
    node: dict[str, Any] = {
        "host": host,
        "netns": p.netns,
        "protocol": p.protocol,
        "address": p.address,
        "port": p.port,
        "port_needle": f",{p.port},",
        "state": "open" if opened else "closed",
        "first_seen": ts,
        "last_seen": ts,
        "updated_at": ts,
    }
    if opened:
        node.update(
            pid=p.pid,
            process=p.process,
            unit=p.unit,
            container=p.container,
            package=p.package,
            software=f"{host}/deb/{p.package}" if p.package else None,
        )
    who = p.process or "?"
    summary = f"{'expose' if opened else 'unexpose'} {p.address}:{p.port}/{p.protocol} ({who})"
    return [
        UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts}),
        UpsertNode("ListeningSocket", key, node, ts=ts),
        UpsertRel("LISTENS_ON", "ListeningSocket", key, "Host", host),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": host,
                "action": "expose" if opened else "unexpose",
                "subject": key,
                "summary": summary,
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
        UpsertRel("ACTED_ON", "Event", event.id, "ListeningSocket", key),
    ]


PROJECTORS: dict[str, Project] = {cls.TYPE: typed(cls, project_service) for cls in SERVICE_EVENTS}
