"""Decide network domain events from raw network state observations (pure: no I/O, no clock).

The producers already report only differences; this decides what they mean: an interface that went up
or down (not every carrier detail), an address added or removed, a route added/removed/changed, a DNS
scope's servers changed, a firewall rule added or removed (a rule that only moved is not news), a VPN
that connected or disconnected.

State, per item, is the last observation applied and the events it produced. A re-delivered raw record
(same id) re-emits those events under the same ids: under at-least-once delivery the table can be
ahead of outputs that were lost. Aggregates (an interface's address list, which scopes use a DNS
server) are keyed under the raw record's key, so they live in the table partition that sees all their
updates in order.
"""

from __future__ import annotations

from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.network import (
    EVENTS_NETWORK,
    RAW_NETWORK,
    AddressAdded,
    AddressRemoved,
    DnsServersChanged,
    ExternalIpChanged,
    FirewallRuleAdded,
    FirewallRuleRemoved,
    InterfaceDown,
    InterfaceUp,
    InterfaceUpdated,
    NetworkStateObserved,
    RouteChanged,
    VpnConnected,
    VpnDisconnected,
)

SOURCE = "processors.network"
Item = dict[str, Any]
# Interface properties whose change is news even when up/down did not change.
INTERFACE_DETAILS = ("mac_address", "mtu", "master", "kind")


def interface_state(item: Item | None) -> str:
    """ "up" when administratively up with a carrier (loopback and tun report UNKNOWN), else "down"."""
    if item is None:
        return "removed"
    return "up" if item.get("admin_up") and item.get("operstate") in ("UP", "UNKNOWN") else "down"


def decide(raw: Envelope, obs: NetworkStateObserved, table: Table) -> list[Envelope]:
    skey = f"{raw.key}#{obs.kind}/{obs.key}"
    rec = table.get(skey)
    if rec is not None and rec.get("raw_id") == raw.id:
        return [Envelope.model_validate(e) for e in rec["out"]]
    before: Item | None = rec["item"] if rec is not None and rec.get("present") else None
    after: Item | None = obs.item if obs.present else None
    payloads = _DECIDERS[obs.kind](raw, obs, before, after, table)
    out = [_envelope(raw, p, i) for i, p in enumerate(payloads)]
    table.set(
        skey,
        {
            "raw_id": raw.id,
            "present": obs.present,
            "item": after,
            "out": [e.model_dump(mode="json") for e in out],
        },
    )
    return out


def _envelope(raw: Envelope, payload: EventPayload, n: int) -> Envelope:
    return Envelope(
        id=event_id("network", raw.id, n),
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=raw.ts,
        observed_at=raw.observed_at,
        subject=raw.subject,
        causation_id=raw.id,
        payload=payload.model_dump(mode="json"),
    )


def _interface(
    raw: Envelope, obs: NetworkStateObserved, before: Item | None, after: Item | None, table: Table
) -> list[EventPayload]:
    item = after if after is not None else (before or obs.item)
    state = interface_state(after)
    fields = {
        "netns": obs.netns,
        "ifname": obs.key,
        "index": item.get("index"),
        "kind": item.get("kind"),
        "mac_address": item.get("mac_address"),
        "mtu": item.get("mtu"),
        "operstate": item.get("operstate") if after is not None else None,
        "admin_up": bool(item.get("admin_up")) if after is not None else False,
        "state": state,
        "master": item.get("master"),
    }
    if before is None and after is None:
        return []
    if before is None or state != interface_state(before):
        return [InterfaceUp(**fields) if state == "up" else InterfaceDown(**fields)]
    if after is not None and any(before.get(k) != after.get(k) for k in INTERFACE_DETAILS):
        return [InterfaceUpdated(**fields)]
    return []


def _address(
    raw: Envelope, obs: NetworkStateObserved, before: Item | None, after: Item | None, table: Table
) -> list[EventPayload]:
    item = after if after is not None else before
    if item is None or (before is not None and after is not None):
        return []  # a re-announced address (IPv6 DAD finished, lifetimes renewed) is no change
    akey = f"{raw.key}#addresses"
    current = set(table.get(akey) or [])
    label = f"{item['address']}/{item['prefixlen']}"
    if after is not None:
        current.add(label)
    else:
        current.discard(label)
    table.set(akey, sorted(current))
    fields = {
        "netns": obs.netns,
        "ifname": item["ifname"],
        "address": item["address"],
        "prefixlen": item["prefixlen"],
        "family": item["family"],
        "scope": item.get("scope"),
        "public": bool(item.get("public")),
        "interface_addresses": tuple(sorted(current)),
    }
    return [AddressAdded(**fields) if after is not None else AddressRemoved(**fields)]


ROUTE_DETAILS = ("gateway", "ifname", "protocol", "type")


def _route(
    raw: Envelope, obs: NetworkStateObserved, before: Item | None, after: Item | None, table: Table
) -> list[EventPayload]:
    if before is None and after is None:
        return []
    if before is not None and after is not None:
        if all(before.get(k) == after.get(k) for k in ROUTE_DETAILS):
            return []
        action = "changed"
    else:
        action = "added" if after is not None else "removed"
    item = after if after is not None else before
    assert item is not None
    return [
        RouteChanged(
            action=action,
            netns=obs.netns,
            key=obs.key,
            table=str(item["table"]),
            family=item["family"],
            dst=item["dst"],
            prefixlen=item["prefixlen"],
            metric=item.get("metric"),
            gateway=item.get("gateway"),
            ifname=item.get("ifname"),
            protocol=item.get("protocol"),
            type=item.get("type"),
            previous_gateway=before.get("gateway") if before and action == "changed" else None,
            previous_ifname=before.get("ifname") if before and action == "changed" else None,
        )
    ]


def _dns(
    raw: Envelope, obs: NetworkStateObserved, before: Item | None, after: Item | None, table: Table
) -> list[EventPayload]:
    servers = tuple(after["servers"]) if after else ()
    previous = tuple(before["servers"]) if before else ()
    search = tuple(after.get("search") or ()) if after else ()
    if servers == previous and (before is None or tuple(before.get("search") or ()) == search):
        return []
    skey = f"{raw.key}#scopes"
    scopes: dict[str, list[str]] = dict(table.get(skey) or {})
    if servers:
        scopes[obs.key] = list(servers)
    else:
        scopes.pop(obs.key, None)
    table.set(skey, scopes)
    server_scopes = {
        s: tuple(sorted(sc for sc, ss in scopes.items() if s in ss)) for s in sorted({*servers, *previous})
    }
    item = after or before or {}
    return [
        DnsServersChanged(
            netns=obs.netns,
            scope=obs.key,
            ifname=item.get("ifname"),
            source=item.get("source", "resolv.conf"),
            servers=servers,
            previous=previous,
            search=search,
            server_scopes=server_scopes,
        )
    ]


def _firewall(
    raw: Envelope, obs: NetworkStateObserved, before: Item | None, after: Item | None, table: Table
) -> list[EventPayload]:
    if (before is None) == (after is None):
        return []  # moved (position changed) or nothing known: the rule itself did not change
    item = after if after is not None else before
    assert item is not None
    fields = {
        "netns": obs.netns,
        "key": obs.key,
        "backend": item["backend"],
        "family": item.get("family"),
        "table": item.get("table"),
        "chain": item.get("chain"),
        "position": item.get("position"),
        "target": item.get("target"),
        "protocol": item.get("protocol"),
        "ports": tuple(item.get("ports") or ()),
        "source": item.get("source"),
        "destination": item.get("destination"),
        "interface": item.get("interface"),
        "text": item.get("text") or "",
    }
    return [FirewallRuleAdded(**fields) if after is not None else FirewallRuleRemoved(**fields)]


def _vpn(
    raw: Envelope, obs: NetworkStateObserved, before: Item | None, after: Item | None, table: Table
) -> list[EventPayload]:
    connected = bool(after and after.get("connected"))
    was = bool(before and before.get("connected"))
    if connected == was and not (before is None and after is not None):
        return []  # a VPN seen for the first time is told either way, so the graph knows it exists
    item = after if after is not None else before
    assert item is not None
    fields = {
        "netns": obs.netns,
        "key": obs.key,
        "kind": item["kind"],
        "name": item["name"],
        "interface": item.get("interface"),
        "endpoints": tuple(item.get("endpoints") or ()),
        "addresses": tuple(item.get("addresses") or ()),
        "peers": int(item.get("peers") or 0),
        "detail": item.get("detail"),
    }
    return [VpnConnected(**fields) if connected else VpnDisconnected(**fields)]


def _external_ip(
    raw: Envelope, obs: NetworkStateObserved, before: Item | None, after: Item | None, table: Table
) -> list[EventPayload]:
    address = after.get("address") if after else None
    previous = before.get("address") if before else None
    if address == previous:
        return []
    item = after or before or {}
    return [
        ExternalIpChanged(
            address=address, previous=previous, family=item.get("family"), via=str(item.get("via", ""))
        )
    ]


_DECIDERS = {
    "interface": _interface,
    "address": _address,
    "route": _route,
    "dns": _dns,
    "firewall": _firewall,
    "vpn": _vpn,
    "external_ip": _external_ip,
}


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_NETWORK,
        sink=EVENTS_NETWORK,
        table="network",
        decide={NetworkStateObserved.TYPE: typed(NetworkStateObserved, decide)},
    ),
)
