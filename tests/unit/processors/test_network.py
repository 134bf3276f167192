"""The network processor (pure): what each state change means, and re-delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors.network import decide
from processors.tables import MemoryTable
from producers.network.envelopes import observation
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.network import NetworkStateObserved

T0 = datetime(2025, 11, 26, 9, 0, tzinfo=UTC)


class Feed:
    def __init__(self) -> None:
        self.seq = 0
        self.table = MemoryTable()

    def raw(self, kind: str, key: str, item: dict[str, Any], present: bool = True) -> Envelope:
        self.seq += 1
        return observation(
            "h",
            "test",
            self.seq,
            kind,
            key,
            present,
            item,
            netns=None,
            via="event",
            now=T0 + timedelta(seconds=self.seq),
        )

    def __call__(self, kind: str, key: str, item: dict[str, Any], present: bool = True) -> list[Envelope]:
        raw = self.raw(kind, key, item, present)
        payload = decode_payload(raw.type, raw.schema_version, raw.payload)
        assert isinstance(payload, NetworkStateObserved)
        return decide(raw, payload, self.table)


def _types(out: list[Envelope]) -> list[str]:
    return [e.type for e in out]


LINK = {
    "index": 3,
    "kind": "veth",
    "mac_address": "02:00:00:00:00:01",
    "mtu": 1500,
    "operstate": "UP",
    "admin_up": True,
    "master": None,
}


def test_interface_up_down_details_and_removal() -> None:
    feed = Feed()
    assert _types(feed("interface", "eth0", LINK)) == ["InterfaceUp"]
    assert feed("interface", "eth0", LINK | {"operstate": "UNKNOWN"}) == [], "still up"
    assert _types(feed("interface", "eth0", LINK | {"mtu": 9000})) == ["InterfaceUpdated"]
    down = feed("interface", "eth0", LINK | {"mtu": 9000, "operstate": "LOWERLAYERDOWN"})
    assert _types(down) == ["InterfaceDown"] and down[0].payload["state"] == "down"
    gone = feed("interface", "eth0", LINK, present=False)
    assert _types(gone) == ["InterfaceDown"] and gone[0].payload["state"] == "removed"
    # a new interface created down is told, so the graph knows it
    assert _types(feed("interface", "eth1", LINK | {"admin_up": False, "operstate": "DOWN"})) == [
        "InterfaceDown"
    ]


def test_addresses_keep_the_interface_list() -> None:
    feed = Feed()
    a = {
        "ifname": "eth0",
        "index": 3,
        "address": "192.0.2.1",
        "prefixlen": 24,
        "family": 4,
        "scope": "global",
        "public": False,
    }
    b = a | {"address": "2001:4860::1", "prefixlen": 64, "family": 6, "public": True}
    assert feed("address", "eth0/192.0.2.1/24", a)[0].payload["interface_addresses"] == ["192.0.2.1/24"]
    out = feed("address", "eth0/2001:4860::1/64", b)
    assert out[0].payload["interface_addresses"] == ["192.0.2.1/24", "2001:4860::1/64"]
    assert feed("address", "eth0/2001:4860::1/64", b) == [], "re-announced, not added again"
    removed = feed("address", "eth0/192.0.2.1/24", a, present=False)
    assert _types(removed) == ["AddressRemoved"] and removed[0].payload["interface_addresses"] == [
        "2001:4860::1/64"
    ]


def test_routes_firewall_vpn_dns_and_external_ip() -> None:
    feed = Feed()
    r = {
        "table": "main",
        "family": 4,
        "dst": "default",
        "prefixlen": 0,
        "metric": 100,
        "gateway": "192.0.2.254",
        "ifname": "eth0",
        "protocol": "dhcp",
        "scope": "global",
        "type": "unicast",
    }
    assert feed("route", "main/0.0.0.0/0/100", r)[0].payload["action"] == "added"
    changed = feed("route", "main/0.0.0.0/0/100", r | {"gateway": "192.0.2.1"})[0].payload
    assert (changed["action"], changed["previous_gateway"]) == ("changed", "192.0.2.254")
    assert feed("route", "main/0.0.0.0/0/100", r, present=False)[0].payload["action"] == "removed"

    rule = {
        "backend": "nftables",
        "family": "inet",
        "table": "filter",
        "chain": "input",
        "position": 1,
        "target": "accept",
        "protocol": "tcp",
        "ports": ["443"],
        "source": None,
        "destination": None,
        "interface": None,
        "text": "tcp dport 443 accept",
    }
    assert _types(feed("firewall", "k1", rule)) == ["FirewallRuleAdded"]
    assert feed("firewall", "k1", rule | {"position": 2}) == [], "moved, not changed"
    assert _types(feed("firewall", "k1", rule, present=False)) == ["FirewallRuleRemoved"]

    wg = {
        "kind": "wireguard",
        "name": "wg0",
        "interface": "wg0",
        "endpoints": ["198.51.100.7:51820"],
        "addresses": [],
        "peers": 1,
        "connected": False,
    }
    assert _types(feed("vpn", "wireguard/wg0", wg)) == ["VpnDisconnected"]  # first seen: known, not active
    assert _types(feed("vpn", "wireguard/wg0", wg | {"connected": True})) == ["VpnConnected"]
    assert feed("vpn", "wireguard/wg0", wg | {"connected": True, "peers": 2}) == []
    assert _types(feed("vpn", "wireguard/wg0", wg | {"connected": True}, present=False)) == [
        "VpnDisconnected"
    ]

    g = {"scope": "global", "ifname": None, "source": "resolved", "servers": ["1.1.1.1"], "search": []}
    e = {
        "scope": "eth0",
        "ifname": "eth0",
        "source": "resolved",
        "servers": ["1.1.1.1", "192.0.2.53"],
        "search": [],
    }
    feed("dns", "global", g)
    out = feed("dns", "eth0", e)[0].payload
    assert out["server_scopes"] == {"1.1.1.1": ["eth0", "global"], "192.0.2.53": ["eth0"]}
    out = feed("dns", "global", g | {"servers": ["9.9.9.9"]})[0].payload
    assert (out["servers"], out["previous"]) == (["9.9.9.9"], ["1.1.1.1"])
    assert out["server_scopes"] == {"1.1.1.1": ["eth0"], "9.9.9.9": ["global"]}

    ip = {"address": "198.51.100.20", "family": 4, "via": "https://echo.example"}
    assert feed("external_ip", "v4", ip)[0].payload["address"] == "198.51.100.20"
    assert feed("external_ip", "v4", ip) == []
    assert (
        feed("external_ip", "v4", ip | {"address": "198.51.100.21"})[0].payload["previous"] == "198.51.100.20"
    )


def test_redelivery_re_emits_the_same_events() -> None:
    feed = Feed()
    raw = feed.raw("interface", "eth0", LINK)
    payload = decode_payload(raw.type, raw.schema_version, raw.payload)
    assert isinstance(payload, NetworkStateObserved)
    first = decide(raw, payload, feed.table)
    again = decide(raw, payload, feed.table)
    assert [e.id for e in again] == [e.id for e in first] and again == first
