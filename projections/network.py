"""Project network domain events into graph operations (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.network import (
    NETWORK_EVENT_TYPES,
    AddressChanged,
    DnsServersChanged,
    ExternalIpChanged,
    FirewallRuleChanged,
    InterfaceChanged,
    RouteChanged,
    VpnChanged,
    interface_key,
    ns_prefix,
)

NAT_NOTE = "an address of an interface: behind NAT the address the internet sees may differ"
PRIVATE_NOTE = "a private address: NAT hides the external one (set network.external_ip_url to look it up)"


def port_props(ports: tuple[str, ...]) -> dict[str, Any]:
    """Port properties a Cypher query can match: single ports as ",80,443," (CONTAINS ",443,") and the
    span of the ranges (a rule with two disjoint ranges also matches the gap between them)."""
    singles: list[str] = []
    lo: int | None = None
    hi: int | None = None
    for port in ports:
        a, sep, b = port.partition("-")
        if sep and a.isdigit() and b.isdigit():
            lo = int(a) if lo is None else min(lo, int(a))
            hi = int(b) if hi is None else max(hi, int(b))
        elif a.isdigit():
            singles.append(str(int(a)))
    return {
        "ports": ",".join(ports) or None,
        "port_set": f",{','.join(singles)}," if singles else None,
        "range_lo": lo,
        "range_hi": hi,
    }


def _host(event: Envelope) -> UpsertNode:
    return UpsertNode("Host", event.host, {"name": event.host, "first_seen": event.ts, "last_seen": event.ts})


def _event(event: Envelope, action: str, subject: str, summary: str) -> list[GraphOp]:
    return [
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": event.ts,
                "host": event.host,
                "action": action,
                "subject": subject,
                "summary": summary,
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", event.host),
    ]


def _seen(ts: datetime) -> dict[str, Any]:
    return {"first_seen": ts, "last_seen": ts, "updated_at": ts}


def _iface_stub(event: Envelope, netns: str | None, ifname: str) -> list[GraphOp]:
    """The interface node and its host link, without state: other events name interfaces too."""
    key = interface_key(event.host, netns, ifname)
    return [
        UpsertNode("NetworkInterface", key, {"host": event.host, "netns": netns, "name": ifname}),
        UpsertRel("HAS_INTERFACE", "Host", event.host, "NetworkInterface", key),
    ]


def project_interface(event: Envelope, p: InterfaceChanged) -> list[GraphOp]:
    key = interface_key(event.host, p.netns, p.ifname)
    ts = event.ts
    action = {"InterfaceUp": "up", "InterfaceDown": "down" if p.state != "removed" else "removed"}.get(
        event.type, "updated"
    )
    props: dict[str, Any] = {
        "host": event.host,
        "netns": p.netns,
        "name": p.ifname,
        "ifindex": p.index,
        "kind": p.kind,
        "mac_address": p.mac_address,
        "mtu": p.mtu,
        "operstate": p.operstate or ("GONE" if p.state == "removed" else None),
        "admin_up": p.admin_up,
        "state": p.state,
        "master": p.master,
        **_seen(ts),
    }
    detail = f" (mtu {p.mtu})" if p.mtu and action != "removed" else ""
    return [
        _host(event),
        UpsertNode("NetworkInterface", key, props, ts=ts),
        UpsertRel("HAS_INTERFACE", "Host", event.host, "NetworkInterface", key),
        *_event(event, action, key, f"interface {p.ifname} {action}{detail}"),
        UpsertRel("ACTED_ON", "Event", event.id, "NetworkInterface", key),
    ]


def project_address(event: Envelope, p: AddressChanged) -> list[GraphOp]:
    ikey = interface_key(event.host, p.netns, p.ifname)
    akey = f"{ikey}/{p.address}/{p.prefixlen}"
    ts = event.ts
    added = event.type == "AddressAdded"
    rank, note = (1, NAT_NOTE) if p.public else (2, PRIVATE_NOTE)
    return [
        _host(event),
        *_iface_stub(event, p.netns, p.ifname),
        UpsertNode(
            "NetworkInterface",
            ikey,
            {"ip_addresses": ",".join(p.interface_addresses), "updated_at": ts},
            ts=ts,
        ),
        UpsertNode(
            "IPAddress",
            akey,
            {
                "host": event.host,
                "netns": p.netns,
                "interface": p.ifname,
                "address": p.address,
                "prefixlen": p.prefixlen,
                "family": p.family,
                "scope": p.scope,
                "public": p.public,
                "origin": "interface",
                "rank": rank,
                "note": note,
                "present": added,
                **_seen(ts),
            },
            ts=ts,
        ),
        UpsertRel("HAS_ADDRESS", "NetworkInterface", ikey, "IPAddress", akey),
        *_event(
            event,
            "added" if added else "removed",
            akey,
            f"address {p.address}/{p.prefixlen} {'added to' if added else 'removed from'} {p.ifname}",
        ),
        UpsertRel("ACTED_ON", "Event", event.id, "IPAddress", akey),
    ]


def project_route(event: Envelope, p: RouteChanged) -> list[GraphOp]:
    rkey = f"{ns_prefix(event.host, p.netns)}/{p.key}"
    ts = event.ts
    dst = p.dst if p.dst == "default" else f"{p.dst}/{p.prefixlen}"
    via = (f" via {p.gateway}" if p.gateway else "") + (f" dev {p.ifname}" if p.ifname else "")
    was = ""
    if p.action == "changed":
        was = f" (was{' via ' + p.previous_gateway if p.previous_gateway else ''}"
        was += f"{' dev ' + p.previous_ifname if p.previous_ifname else ''})"
    ops: list[GraphOp] = [
        _host(event),
        UpsertNode(
            "Route",
            rkey,
            {
                "host": event.host,
                "netns": p.netns,
                "table_name": p.table,
                "family": p.family,
                "dst": p.dst,
                "prefixlen": p.prefixlen,
                "metric": p.metric,
                "gateway": p.gateway,
                "interface": p.ifname,
                "protocol": p.protocol,
                "type": p.type,
                "present": p.action != "removed",
                **_seen(ts),
            },
            ts=ts,
        ),
        UpsertRel("HAS_ROUTE", "Host", event.host, "Route", rkey),
        *_event(event, p.action, rkey, f"route {dst}{via} {p.action}{was} (table {p.table})"),
        UpsertRel("ACTED_ON", "Event", event.id, "Route", rkey),
    ]
    if p.ifname:
        ikey = interface_key(event.host, p.netns, p.ifname)
        ops += [
            *_iface_stub(event, p.netns, p.ifname),
            UpsertRel("ROUTES_VIA", "Route", rkey, "NetworkInterface", ikey),
        ]
    return ops


def project_dns(event: Envelope, p: DnsServersChanged) -> list[GraphOp]:
    ts = event.ts
    prefix = ns_prefix(event.host, p.netns)
    ops: list[GraphOp] = [_host(event)]
    if p.ifname:
        ops += _iface_stub(event, p.netns, p.ifname)
    summary = f"DNS servers of {p.scope}: {', '.join(p.servers) or 'none'}"
    if p.previous:
        summary += f" (were {', '.join(p.previous)})"
    ops += _event(event, "changed", f"{prefix}/dns/{p.scope}", summary)
    for server, scopes in p.server_scopes.items():
        skey = f"{prefix}/{server}"
        ops.append(
            UpsertNode(
                "DNSServer",
                skey,
                {
                    "host": event.host,
                    "netns": p.netns,
                    "address": server,
                    "scopes": ",".join(scopes),
                    "in_use": bool(scopes),
                    **_seen(ts),
                },
                ts=ts,
            )
        )
        ops.append(UpsertRel("ACTED_ON", "Event", event.id, "DNSServer", skey))
        if server in p.servers:
            if p.ifname:
                ikey = interface_key(event.host, p.netns, p.ifname)
                ops.append(UpsertRel("USED_BY", "DNSServer", skey, "NetworkInterface", ikey))
            else:
                ops.append(UpsertRel("USED_BY", "DNSServer", skey, "Host", event.host))
    return ops


def project_firewall(event: Envelope, p: FirewallRuleChanged) -> list[GraphOp]:
    fkey = f"{ns_prefix(event.host, p.netns)}/{p.key}"
    ts = event.ts
    added = event.type == "FirewallRuleAdded"
    where = "/".join(x for x in (p.family, p.table, p.chain) if x)
    return [
        _host(event),
        UpsertNode(
            "FirewallRule",
            fkey,
            {
                "host": event.host,
                "netns": p.netns,
                "backend": p.backend,
                "family": p.family,
                "table_name": p.table,
                "chain": p.chain,
                "position": p.position,
                "target": p.target,
                "protocol": p.protocol,
                **port_props(p.ports),
                "source": p.source,
                "destination": p.destination,
                "interface": p.interface,
                "text": p.text,
                "present": added,
                **_seen(ts),
            },
            ts=ts,
        ),
        UpsertRel("HAS_FIREWALL_RULE", "Host", event.host, "FirewallRule", fkey),
        *_event(
            event,
            "added" if added else "removed",
            fkey,
            f"{p.backend} rule {'added to' if added else 'removed from'} {where}: {p.text}",
        ),
        UpsertRel("ACTED_ON", "Event", event.id, "FirewallRule", fkey),
    ]


def project_vpn(event: Envelope, p: VpnChanged) -> list[GraphOp]:
    vkey = f"{ns_prefix(event.host, p.netns)}/{p.key}"
    ts = event.ts
    active = event.type == "VpnConnected"
    return [
        _host(event),
        UpsertNode(
            "VPNConnection",
            vkey,
            {
                "host": event.host,
                "netns": p.netns,
                "kind": p.kind,
                "name": p.name,
                "interface": p.interface,
                "active": active,
                "since": ts,
                "endpoints": ",".join(p.endpoints),
                "addresses": ",".join(p.addresses),
                "peers": p.peers,
                "detail": p.detail,
                **_seen(ts),
            },
            ts=ts,
        ),
        UpsertRel("HAS_VPN", "Host", event.host, "VPNConnection", vkey),
        *_event(
            event,
            "connected" if active else "disconnected",
            vkey,
            f"{p.kind} VPN {p.name} {'connected' if active else 'disconnected'}",
        ),
        UpsertRel("ACTED_ON", "Event", event.id, "VPNConnection", vkey),
    ]


def project_external_ip(event: Envelope, p: ExternalIpChanged) -> list[GraphOp]:
    ts = event.ts
    ops: list[GraphOp] = [_host(event)]
    for address, present in ((p.previous, False), (p.address, True)):
        if not address:
            continue
        key = f"{event.host}/external/{address}"
        ops += [
            UpsertNode(
                "IPAddress",
                key,
                {
                    "host": event.host,
                    "address": address,
                    "family": p.family,
                    "public": True,
                    "origin": "echo",
                    "rank": 0,
                    "note": f"seen by {p.via}",
                    "present": present,
                    **_seen(ts),
                },
                ts=ts,
            ),
            UpsertRel("HAS_ADDRESS", "Host", event.host, "IPAddress", key),
        ]
    subject = f"{event.host}/external/{p.address or p.previous}"
    ops += _event(
        event, "changed", subject, f"external IP {p.address or 'unknown'} (was {p.previous or 'unknown'})"
    )
    if p.address:
        ops.append(UpsertRel("ACTED_ON", "Event", event.id, "IPAddress", subject))
    return ops


def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if isinstance(payload, InterfaceChanged):
        return project_interface(event, payload)
    if isinstance(payload, AddressChanged):
        return project_address(event, payload)
    if isinstance(payload, RouteChanged):
        return project_route(event, payload)
    if isinstance(payload, DnsServersChanged):
        return project_dns(event, payload)
    if isinstance(payload, FirewallRuleChanged):
        return project_firewall(event, payload)
    if isinstance(payload, VpnChanged):
        return project_vpn(event, payload)
    if isinstance(payload, ExternalIpChanged):
        return project_external_ip(event, payload)
    raise TypeError(f"network projection got {type(payload).__name__}")


# Which domain event types this projection handles (projections/registry.py collects it).
PROJECTORS: dict[str, Project] = {cls.TYPE: project for cls in NETWORK_EVENT_TYPES}
