"""Decide ServiceExposed/ServiceUnexposed from two snapshots of listening sockets (pure).

Only sockets bound beyond loopback are services exposed to the network; whether a firewall rule then
stops them is asked of the graph (projections/queries/exposure.py), where the network domain keeps the
rules. Each snapshot is diffed against the previous one of the same host and namespace; the first one
reports every listener it holds (that is what is exposed now). A listener whose owner changed (another
process took the port) is unexposed and exposed again.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.exposure import (
    EVENTS_EXPOSURE,
    RAW_EXPOSURE,
    ListeningSocketsObserved,
    ServiceEvent,
    ServiceExposed,
    ServiceUnexposed,
)

SOURCE = "processors.exposure"


def beyond_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_loopback


def listener_id(host: str, protocol: str, address: str, port: int) -> str:
    return f"{host}/{protocol}/{address}/{port}"


def decide_sockets(raw: Envelope, p: ListeningSocketsObserved, table: Table) -> list[Envelope]:
    key = f"ns/{raw.host}/{p.netns or ''}"
    state = table.get(key) or {}
    if state.get("digest") == p.digest:
        return []
    before: dict[str, dict[str, Any]] = state.get("sockets", {})
    now: dict[str, dict[str, Any]] = {}
    for s in p.sockets:
        if beyond_loopback(s.address):
            now[listener_id(raw.host, s.protocol, s.address, s.port)] = s.model_dump(
                mode="json", exclude={"exe"}
            )
    table.set(key, {"digest": p.digest, "sockets": now})
    out: list[Envelope] = []

    def emit(cls: type[ServiceEvent], lid: str, s: dict[str, Any]) -> None:
        ev = cls(listener=lid, netns=p.netns, **s)
        out.append(
            Envelope(
                id=event_id("exposure", raw.id, cls.TYPE, lid),
                type=cls.TYPE,
                schema_version=cls.VERSION,
                host=raw.host,
                source=SOURCE,
                ts=p.ts,
                observed_at=raw.observed_at,
                subject=lid,
                causation_id=raw.id,
                payload=ev.model_dump(mode="json"),
            )
        )

    for lid in sorted(before.keys() | now.keys()):
        old, new = before.get(lid), now.get(lid)
        if old == new:
            continue
        if old is not None and (
            new is None or (old.get("pid"), old.get("process")) != (new.get("pid"), new.get("process"))
        ):
            emit(ServiceUnexposed, lid, old)
            if new is not None:
                emit(ServiceExposed, lid, new)
        elif new is not None and old is None:
            emit(ServiceExposed, lid, new)
        # the same owner with other details (unit/package learnt later): the next exposure carries them
    return out


ROUTES: tuple[Route, ...] = (
    Route(
        name="exposure",
        source=RAW_EXPOSURE,
        sink=EVENTS_EXPOSURE,
        table="exposure",
        decide={ListeningSocketsObserved.TYPE: typed(ListeningSocketsObserved, decide_sockets)},
    ),
)
