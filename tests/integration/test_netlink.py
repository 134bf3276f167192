"""Real netlink in a throw-away network namespace: the netlink source's dump, live events, overflow
resync and restart; the scan source on real nftables/iptables rules and a held tun device; and the
whole domain (decide + project) into a real LadybugDB answering the catalog's network questions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.network.envelopes import observation
from producers.network.sources import NetlinkSource, NetworkScanSource, ToolMissing, Tools
from producers.source import Poll
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.base import GraphStore
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.network import RAW_NETWORK
from tests.support.netns import NetNS, netns

ROUTE = next(r for r in ROUTES if r.source == RAW_NETWORK)


@pytest.fixture
def ns() -> Iterator[NetNS]:
    with netns() as n:
        yield n


def _poll_until(
    src: NetlinkSource | NetworkScanSource,
    until: Callable[[list[Envelope]], bool],
    timeout: float = 10.0,
) -> tuple[list[Envelope], dict[str, Any] | None]:
    """Poll (as the runner does) until the observations so far satisfy `until`; bounded in time."""
    got: list[Envelope] = []
    cursor: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll: Poll = src.poll(1000)
        got += poll.observations
        cursor = poll.cursor or cursor
        if until(got):
            return got, cursor
        time.sleep(0.02)
    raise AssertionError(f"not seen within {timeout}s; got {[_brief(e) for e in got]}")


def _brief(env: Envelope) -> tuple[str, str, bool]:
    return env.payload["kind"], env.payload["key"], env.payload["present"]


def _has(*wanted: tuple[str, str, bool]) -> Callable[[list[Envelope]], bool]:
    return lambda got: set(wanted) <= {_brief(e) for e in got}


def _decide(raws: list[Envelope], table: MemoryTable) -> list[Envelope]:
    return [out for raw in raws for out in ROUTE.handle(raw.to_json(), table)]


def _project(store: GraphStore, events: list[Envelope]) -> None:
    ops = []
    for e in events:
        ops += PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    store.apply(ops, {})


def _ask(store: GraphStore, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, datetime.now(UTC))
    return store.query(cypher, p).dicts()


def test_dump_then_live_changes_become_events_and_graph(ns: NetNS, tmp_path: Path) -> None:
    ns.veth("va", "vb")
    src = NetlinkSource("h", netns=ns.name)
    table = MemoryTable()
    try:
        first, _ = _poll_until(src, _has(("interface", "va", True), ("interface", "vb", True)))
        assert {e.payload["via"] for e in first} == {"dump"}
        assert all(e.subject.startswith(f"netns:{ns.name}/") for e in first)

        ns.ip("addr", "add", "10.1.0.1/24", "dev", "va")
        ns.ip("-6", "addr", "add", "fd00:1::1/64", "dev", "va", "nodad")
        ns.ip("addr", "add", "93.184.216.34/32", "dev", "vb")
        ns.ip("route", "add", "10.2.0.0/16", "via", "10.1.0.2")
        ns.ip("-6", "route", "add", "fd00:2::/64", "via", "fd00:1::2")
        live, _ = _poll_until(
            src,
            _has(
                ("address", "va/10.1.0.1/24", True),
                ("address", "va/fd00:1::1/64", True),
                ("address", "vb/93.184.216.34/32", True),
                ("route", "main/10.2.0.0/16/", True),
                ("route", "main/fd00:1::/64/256", True),
                ("route", "main/fd00:2::/64/1024", True),
            ),
        )
        assert {e.payload["via"] for e in live} == {"event"}

        # Down: the kernel flushes va's IPv4 routes without telling; the source resyncs and says so.
        ns.ip("link", "set", "va", "down")
        down, _ = _poll_until(src, _has(("interface", "va", True), ("route", "main/10.2.0.0/16/", False)))
        ns.ip("link", "del", "vb")  # takes va with it (a veth pair)
        gone, _ = _poll_until(src, _has(("interface", "vb", False), ("interface", "va", False)))
    finally:
        src.close()

    events = _decide(first + live + down + gone, table)
    types = [
        (e.type, e.payload["dst"] if e.type == "RouteChanged" else e.payload.get("ifname")) for e in events
    ]
    assert ("InterfaceUp", "va") in types
    assert ("AddressAdded", "va") in types
    assert ("RouteChanged", "10.2.0.0") in types
    r6 = next(e.payload for e in events if e.type == "RouteChanged" and e.payload["dst"] == "fd00:2::")
    assert (r6["family"], r6["gateway"], r6["ifname"], r6["action"]) == (6, "fd00:1::2", "va", "added")
    assert types.count(("InterfaceDown", "va")) == 2  # went down, then removed
    removed = [e for e in events if e.type == "InterfaceDown" and e.payload["state"] == "removed"]
    assert {e.payload["ifname"] for e in removed} == {"va", "vb"}
    added6 = next(e for e in events if e.type == "AddressAdded" and e.payload["address"] == "fd00:1::1")
    assert {"10.1.0.1/24", "fd00:1::1/64"} <= set(added6.payload["interface_addresses"])

    n_live = len(_decide(first + live, MemoryTable()))
    with LadybugStore(tmp_path / "graph") as store:
        store.ensure_schema()
        iface_q = (
            "MATCH (h:Host)-[:HAS_INTERFACE]->(i:NetworkInterface) WHERE i.name = 'va' "
            "RETURN h.name, i.state, i.mtu, i.mac_address, i.ip_addresses"
        )
        _project(store, events[:n_live])
        iface = store.query(iface_q).rows
        assert iface[0][:3] == ["h", "up", 1500]
        assert {"10.1.0.1/24", "fd00:1::1/64"} <= set(iface[0][4].split(","))
        ext = _ask(store, "external-ip")
        public = [r for r in ext if r["public"]]
        assert [r["address"] for r in public] == ["93.184.216.34"]
        assert "NAT" in public[0]["note"]
        private = next(r for r in ext if r["address"] == "10.1.0.1")
        assert not private["public"] and "private" in private["note"]
        # With the echo lookup on, its answer comes first.
        echo = observation(
            "h",
            "external-ip",
            1,
            "external_ip",
            "v4",
            True,
            {"address": "198.51.100.20", "family": 4, "via": "https://echo.example/"},
            netns=None,
            via="scan",
            now=datetime.now(UTC),
        )
        _project(store, _decide([echo], table))
        ext = _ask(store, "external-ip")
        assert (ext[0]["address"], ext[0]["origin"], ext[0]["note"]) == (
            "198.51.100.20",
            "echo",
            "seen by https://echo.example/",
        )
        assert ext[1]["address"] == "93.184.216.34"
        _project(store, events[n_live:])
        iface = store.query(iface_q).rows
        assert iface[0][1] == "removed" and not iface[0][4]
        public = [r["address"] for r in _ask(store, "external-ip") if r["public"]]
        assert public == ["198.51.100.20"], "vb's address went with vb"
        changes = _ask(store, "network-changes-today")
        summaries = [r["summary"] for r in changes]
        assert "interface va down (mtu 1500)" in summaries
        assert any(s.startswith("route 10.2.0.0/16 via 10.1.0.2 dev va removed") for s in summaries)


def test_overflow_resyncs_and_reports_each_change_once(ns: NetNS) -> None:
    # A tiny receive buffer and a burst of 60 veth pairs created while nobody reads: ENOBUFS.
    src = NetlinkSource("h", netns=ns.name, rcvbuf=2048)
    try:
        _poll_until(src, _has(("interface", "lo", True)))
        ns.batch([f"link add a{i} type veth peer name b{i}" for i in range(60)])
        got, cursor = _poll_until(
            src, lambda g: {f"a{i}" for i in range(60)} <= {e.payload["key"] for e in g}
        )
        assert src.resyncs >= 1
        assert "resync" in {e.payload["via"] for e in got}
        names = [e.payload["key"] for e in got if e.payload["kind"] == "interface"]
        assert len(names) == len(set(names)) == 120, "every new interface told exactly once"
    finally:
        src.close()

    # A restart with the saved cursor: only what changed while it was away.
    ns.ip("link", "del", "a0")
    again = NetlinkSource("h", cursor, netns=ns.name)
    try:
        back, _ = _poll_until(again, _has(("interface", "a0", False), ("interface", "b0", False)))
        assert {_brief(e) for e in back} == {("interface", "a0", False), ("interface", "b0", False)}
        assert {e.payload["via"] for e in back} == {"dump"}
    finally:
        again.close()


def test_absent_namespace_is_reported_once_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    src = NetlinkSource("h", netns="wm-test-does-not-exist", retry_every=0.0)
    try:
        with caplog.at_level("INFO"):
            for _ in range(3):
                assert src.poll(100).observations == []
        assert sum("not observed" in r.message for r in caplog.records) == 1
    finally:
        src.close()


NFT_RULES = """
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    tcp dport 443 accept
    tcp dport { 80, 8443 } ip saddr 10.0.0.0/8 accept
    udp dport 1000-2000 drop
  }
}
"""


def test_scan_source_reads_real_rules_dns_and_vpn(ns: NetNS, tmp_path: Path) -> None:
    ns.run("nft", "-f", "-", stdin=NFT_RULES)
    ns.run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "443", "-j", "ACCEPT")
    ns.hold_tun("tun0")
    ns.ip("link", "set", "tun0", "up")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search example.org\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    tools = Tools(resolved=False, ufw=False, firewalld=False, wireguard=False, tailscale=False)
    src = NetworkScanSource("h", netns=ns.name, interval=0.01, resolv_conf=resolv, tools=tools)
    table = MemoryTable()
    first, _ = _poll_until(src, bool)
    kinds = {e.payload["kind"] for e in first}
    assert kinds == {"dns", "firewall", "vpn"}
    rules = [e.payload["item"] for e in first if e.payload["kind"] == "firewall"]
    # iptables here is iptables-nft: its rules are told once, by iptables, not again by nft.
    assert sorted(r["backend"] for r in rules if "443" in r["ports"]) == ["iptables", "nftables"]

    # A change: a rule removed, a server replaced, the VPN's device released (no carrier).
    ns.run("iptables", "-D", "INPUT", "-p", "tcp", "--dport", "443", "-j", "ACCEPT")
    resolv.write_text("nameserver 192.0.2.54\n")
    ns.release_tuns()
    time.sleep(0.05)
    second, _ = _poll_until(src, lambda g: len(g) >= 3)
    assert {(_brief(e)[0], _brief(e)[2]) for e in second} == {
        ("firewall", False),
        ("dns", True),
        ("vpn", True),
    }
    events = _decide(first, table)
    with LadybugStore(tmp_path / "graph") as store:
        store.ensure_schema()
        _project(store, events)
        assert _ask(store, "vpn-active")[0] | {"since": None} == {
            "host": "h",
            "kind": "openvpn",
            "name": "tun0",
            "interface": "tun0",
            "active": True,
            "since": None,
            "endpoints": "",
            "addresses": "",
            "peers": 0,
        }
        assert {r["server"] for r in _ask(store, "dns-servers")} == {"192.0.2.53", "2001:db8::53"}
        by_port = _ask(store, "firewall-rules-for-port", port=443)
        assert sorted((r["backend"], r["target"]) for r in by_port) == [
            ("iptables", "ACCEPT"),
            ("nftables", "accept"),
        ]
        assert [r["ports"] for r in _ask(store, "firewall-rules-for-port", port=1500)] == ["1000-2000"]
        assert [r["ports"] for r in _ask(store, "firewall-rules-for-port", port=8443)] == ["80,8443"]
        assert _ask(store, "firewall-rules-for-port", port=22) == []

        _project(store, _decide(second, table))
        assert _ask(store, "vpn-active")[0]["active"] is False
        assert [r["server"] for r in _ask(store, "dns-servers")] == ["192.0.2.54"]
        assert [r["backend"] for r in _ask(store, "firewall-rules-for-port", port=443)] == ["nftables"]
        changes = {r["type"] for r in _ask(store, "network-changes-today")}
        assert {"FirewallRuleRemoved", "DnsServersChanged", "VpnDisconnected", "VpnConnected"} <= changes


def test_flapping_burst_converges_on_the_kernels_state(ns: NetNS) -> None:
    ns.batch([f"link add f{i} type veth peer name g{i}" for i in range(30)])
    src = NetlinkSource("h", netns=ns.name, rcvbuf=2048)
    try:
        _poll_until(src, _has(("interface", "f29", True)))
        # 30 links flapping 5 times, left with the even ones down: far more than the buffer holds.
        script = []
        for _ in range(5):
            script += [f"link set f{i} up" for i in range(30)]
            script += [f"link set f{i} down" for i in range(30)]
        script += [f"link set f{i} up" for i in range(1, 30, 2)]
        ns.batch(script)
        last: dict[str, bool] = {}
        quiet = 0
        deadline = time.monotonic() + 20
        while quiet < 5 and time.monotonic() < deadline:
            got = src.poll(1000).observations
            quiet = 0 if got else quiet + 1
            for e in got:
                if e.payload["kind"] == "interface" and e.payload["present"]:
                    last[e.payload["key"]] = e.payload["item"]["admin_up"]
            time.sleep(0.05)
        assert quiet >= 5, "the source kept reporting"
    finally:
        src.close()
    # A fresh source's dump is the kernel's truth; what the first one reported last must match it.
    fresh = NetlinkSource("h", netns=ns.name)
    try:
        dump, _ = _poll_until(fresh, _has(("interface", "f29", True)))
    finally:
        fresh.close()
    truth = {
        e.payload["key"]: e.payload["item"]["admin_up"] for e in dump if e.payload["kind"] == "interface"
    }
    assert {k: v for k, v in truth.items() if k.startswith("f")} == {f"f{i}": i % 2 == 1 for i in range(30)}
    # The links that ended up (they started down) were reported up last; those that ended down as they
    # started may have flapped unseen between two dumps, but if reported, their last report says down.
    assert {f"f{i}": last.get(f"f{i}") for i in range(1, 30, 2)} == {f"f{i}": True for i in range(1, 30, 2)}
    assert all(last.get(f"f{i}", False) is False for i in range(0, 30, 2))
    assert src.resyncs >= 1


def test_resolved_scopes_link_servers_to_interfaces(tmp_path: Path) -> None:
    """systemd-resolved is not installed here: its output comes from the documented-format sample."""
    data = Path(__file__).resolve().parents[1] / "data" / "network"
    outputs = {
        "dns": (data / "resolvectl-dns.txt").read_text(),
        "domain": (data / "resolvectl-domain.txt").read_text(),
    }

    def runner(argv: Sequence[str]) -> str:
        if argv[0] == "resolvectl":
            return outputs[argv[1]]
        raise ToolMissing(argv[0])

    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\n")
    src = NetworkScanSource("h", interval=0.01, resolv_conf=resolv, runner=runner, tools=Tools(tun=False))
    table = MemoryTable()
    events = _decide(src.poll(100).observations, table)
    with LadybugStore(tmp_path / "graph") as store:
        store.ensure_schema()
        _project(store, events)
        used = store.query(
            "MATCH (d:DNSServer)-[:USED_BY]->(i:NetworkInterface) RETURN d.address, i.name ORDER BY d.address"
        ).rows
        assert used == [["10.64.0.1", "wg0"], ["192.168.1.1", "eth0"], ["fe80::1%eth0", "eth0"]]
        host_wide = store.query(
            "MATCH (d:DNSServer)-[:USED_BY]->(h:Host) RETURN d.address ORDER BY d.address"
        ).rows
        assert host_wide == [["1.1.1.1#cloudflare-dns.com"], ["127.0.0.53"], ["9.9.9.9"]]
        rows = {r["server"]: r["scopes"] for r in _ask(store, "dns-servers")}
        assert rows["192.168.1.1"] == "eth0" and rows["127.0.0.53"] == "resolv.conf"

        # wg0 goes away: its server is no longer in use, the others stay.
        outputs["dns"] = outputs["dns"].replace("Link 4 (wg0): 10.64.0.1\n", "")
        time.sleep(0.02)
        _project(store, _decide(src.poll(100).observations, table))
        assert "10.64.0.1" not in {r["server"] for r in _ask(store, "dns-servers")}
        assert len(_ask(store, "dns-servers")) == 5
