"""The network projection (pure) and its catalog entries' parameters."""

from __future__ import annotations

from datetime import UTC, datetime

from projections.catalog import QUERIES, resolve
from projections.graph_ops import UpsertNode, UpsertRel, fold
from projections.network import port_props, project
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.network import FirewallRuleAdded, InterfaceDown, VpnConnected

T0 = datetime(2025, 11, 26, 9, 0, tzinfo=UTC)


def _env(payload: EventPayload, subject: str = "eth0") -> Envelope:
    return Envelope(
        id="e1",
        type=payload.TYPE,
        schema_version=1,
        host="h",
        source="processors.network",
        ts=T0,
        observed_at=T0,
        subject=subject,
        payload=payload.model_dump(mode="json"),
    )


def test_interface_event_upserts_interface_host_and_event() -> None:
    p = InterfaceDown(netns="ns1", ifname="eth0", index=3, mtu=1500, state="removed")
    ops = project(_env(p), p)
    fold(ops)  # every op fits the graph schema
    iface = next(o for o in ops if isinstance(o, UpsertNode) and o.label == "NetworkInterface")
    assert iface.key == "h/netns:ns1/eth0" and iface.props["state"] == "removed" and iface.ts == T0
    event = next(o for o in ops if isinstance(o, UpsertNode) and o.label == "Event")
    assert event.props["summary"] == "interface eth0 removed" and event.props["action"] == "removed"
    assert UpsertRel("HAS_INTERFACE", "Host", "h", "NetworkInterface", "h/netns:ns1/eth0") in ops


def test_firewall_rule_ports_are_matchable() -> None:
    assert port_props(("80", "443", "1000-2000", "3000-3100")) == {
        "ports": "80,443,1000-2000,3000-3100",
        "port_set": ",80,443,",
        "range_lo": 1000,
        "range_hi": 3100,
    }
    assert port_props(()) == {"ports": None, "port_set": None, "range_lo": None, "range_hi": None}
    p = FirewallRuleAdded(
        key="nftables/inet/filter/input/abc",
        backend="nftables",
        family="inet",
        table="filter",
        chain="input",
        position=1,
        target="accept",
        protocol="tcp",
        ports=("443",),
        text="tcp dport 443 accept",
    )
    ops = project(_env(p, "firewall"), p)
    fold(ops)
    rule = next(o for o in ops if isinstance(o, UpsertNode) and o.label == "FirewallRule")
    assert rule.props["port_set"] == ",443," and rule.props["present"] is True


def test_vpn_and_catalog_parameters() -> None:
    p = VpnConnected(key="wireguard/wg0", kind="wireguard", name="wg0", interface="wg0", peers=2)
    ops = project(_env(p, "vpn/wireguard/wg0"), p)
    fold(ops)
    vpn = next(o for o in ops if isinstance(o, UpsertNode) and o.label == "VPNConnection")
    assert vpn.props["active"] is True and vpn.props["since"] == T0
    cypher, params = resolve("firewall-rules-for-port", {"port": "8443"}, T0)
    assert params == {"port": 8443, "needle": ",8443,"} and "$needle" in cypher
    _, params = resolve("network-changes-today", {}, T0)
    assert params["since"] == datetime(2025, 11, 25, 9, 0, tzinfo=UTC)
    assert "VpnConnected" in params["types"] and "PackageInstalled" not in params["types"]
    for name in (
        "external-ip",
        "firewall-rules-for-port",
        "vpn-active",
        "dns-servers",
        "network-changes-today",
    ):
        assert name in QUERIES
