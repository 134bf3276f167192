"""The network domain's questions (interfaces, addresses, routes, DNS, firewall, VPN)."""

from __future__ import annotations

from projections.named import NamedQuery, Param, since
from schemas.events.network import NETWORK_EVENT_TYPES

_NETWORK_EVENT_TYPE_NAMES = tuple(t.TYPE for t in NETWORK_EVENT_TYPES)
QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "external-ip",
        "What's my external IP? (the echo lookup's answer first when enabled; else interface addresses, "
        "with a note that NAT may hide the real one)",
        "MATCH (a:IPAddress) WHERE a.present = true AND (a.origin = $echo OR a.scope = $scope) "
        "RETURN a.host AS host, a.address AS address, a.interface AS interface, a.public AS public, "
        "a.origin AS origin, a.note AS note, a.updated_at AS since "
        "ORDER BY a.rank, host, address",
        (),
        lambda p, now: {"echo": "echo", "scope": "global"},
    ),
    NamedQuery(
        "firewall-rules-for-port",
        "Show firewall rules for port 443 (nftables, iptables, ufw, firewalld alike)",
        "MATCH (r:FirewallRule) WHERE r.present = true "
        "AND (r.port_set CONTAINS $needle OR (r.range_lo <= $port AND r.range_hi >= $port)) "
        "RETURN r.host AS host, r.backend AS backend, r.family AS family, r.table_name AS table_name, "
        "r.chain AS chain, r.position AS position, r.target AS target, r.protocol AS protocol, "
        "r.ports AS ports, r.source AS source, r.destination AS destination, r.interface AS interface, "
        "r.text AS rule ORDER BY host, backend, family, table_name, chain, position",
        (Param("port", int, 443, "destination port"),),
        lambda p, now: {"port": p["port"], "needle": f",{p['port']},"},
    ),
    NamedQuery(
        "vpn-active",
        "Is my VPN active? (every VPN known, active ones first)",
        "MATCH (v:VPNConnection) "
        "RETURN v.host AS host, v.kind AS kind, v.name AS name, v.interface AS interface, "
        "v.active AS active, v.since AS since, v.endpoints AS endpoints, v.addresses AS addresses, "
        "v.peers AS peers ORDER BY active DESC, host, name",
    ),
    NamedQuery(
        "dns-servers",
        "What DNS servers am I using? (and for which interface or host-wide scope)",
        "MATCH (d:DNSServer) WHERE d.in_use = true "
        "RETURN d.host AS host, d.address AS server, d.scopes AS scopes, d.updated_at AS since "
        "ORDER BY host, server",
    ),
    NamedQuery(
        "network-changes-today",
        "What changed on the network today? (interfaces, addresses, routes, DNS, firewall, VPN)",
        "MATCH (e:Event) WHERE e.ts >= $since AND e.type IN $types "
        "RETURN e.ts AS ts, e.host AS host, e.type AS type, e.action AS action, "
        "e.subject AS subject, e.summary AS summary ORDER BY ts DESC, subject",
        (Param("days", int, 1, "look back this many days"),),
        lambda p, now: {**since(p, now), "types": list(_NETWORK_EVENT_TYPE_NAMES)},
    ),
)
