"""Network parsers (pure): netlink messages, firewall listings, DNS configuration, VPN tools.

nft, iptables-save and ip6tables-save outputs under tests/data/network were generated on this machine
from real rules in a network namespace, and so was ip-link-tun.json (`ip -d -j link show`). ufw,
firewalld, wg, tailscale and resolvectl are not installed here: their samples were written by hand in
the formats those tools document and print.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from producers.network import dns, firewall, netlink, vpn

DATA = Path(__file__).resolve().parents[2] / "data" / "network"


def _read(name: str) -> str:
    return (DATA / name).read_text()


# --- netlink --------------------------------------------------------------------------------------------


def _link(
    index: int, name: str, flags: int = 0x1 | 0x40, operstate: str = "UP", **kw: object
) -> dict[str, object]:
    return {
        "event": "RTM_NEWLINK",
        "family": 0,
        "index": index,
        "ifname": name,
        "flags": flags,
        "operstate": operstate,
        "address": "02:00:00:00:00:01",
        "mtu": 1500,
        "master": None,
        "kind": "veth",
        **kw,
    }


def test_snapshot_keys_interfaces_by_name_and_skips_kernel_bookkeeping_routes() -> None:
    links = [
        _link(1, "lo", operstate="UNKNOWN", kind=None),
        _link(5, "eth0"),
        _link(6, "br0", kind="bridge"),
        {**_link(5, "eth0", master=6), "family": 7},
    ]  # the AF_BRIDGE copy of a port
    addrs = [
        {
            "event": "RTM_NEWADDR",
            "family": 2,
            "index": 5,
            "address": "192.0.2.1",
            "local": "192.0.2.1",
            "prefixlen": 24,
            "scope": 0,
        },
        {
            "event": "RTM_NEWADDR",
            "family": 10,
            "index": 5,
            "address": "2001:4860::1",
            "prefixlen": 64,
            "scope": 0,
        },
    ]
    routes = [
        {
            "event": "RTM_NEWROUTE",
            "family": 2,
            "table": 254,
            "dst": None,
            "dst_len": 0,
            "gateway": "192.0.2.254",
            "oif": 5,
            "priority": 100,
            "proto": 16,
            "scope": 0,
            "type": 1,
            "flags": 0,
        },
        {
            "event": "RTM_NEWROUTE",
            "family": 2,
            "table": 255,
            "dst": "192.0.2.1",
            "dst_len": 32,
            "oif": 5,
            "proto": 2,
            "scope": 254,
            "type": 2,
            "flags": 0,
        },  # local table: not a forwarding decision
    ]
    items = netlink.snapshot_of(links, addrs, routes)
    assert sorted(items) == [
        "address|eth0/192.0.2.1/24",
        "address|eth0/2001:4860::1/64",
        "interface|br0",
        "interface|eth0",
        "interface|lo",
        "route|main/0.0.0.0/0/100",
    ]
    assert items["route|main/0.0.0.0/0/100"] == {
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
    assert items["address|eth0/2001:4860::1/64"]["public"] is True
    assert items["address|eth0/192.0.2.1/24"]["public"] is False  # documentation range


def test_apply_renames_and_down_ask_for_a_resync() -> None:
    items = netlink.snapshot_of([_link(5, "eth0")], [], [])
    assert netlink.apply(items, _link(5, "eth0", mtu=9000)) == ""
    assert items["interface|eth0"]["mtu"] == 9000
    # the kernel flushes the IPv4 routes of a link that goes down, silently
    assert netlink.apply(items, _link(5, "eth0", flags=0, operstate="DOWN")) == "resync"
    assert netlink.apply(items, _link(5, "lan0", flags=0, operstate="DOWN")) == "resync"
    assert list(items) == ["interface|lan0"]
    assert (
        netlink.apply(items, {"event": "RTM_DELLINK", "family": 0, "index": 5, "ifname": "lan0"}) == "resync"
    )
    assert items == {}


# --- firewall ---------------------------------------------------------------------------------------------


def test_nft_json_rules_are_normalised() -> None:
    rules = firewall.parse_nft_json(_read("nft-ruleset.json"), skip_iptables_tables=True)
    assert {r["family"] for r in rules} == {"inet"}, "iptables-nft's tables are told by iptables-save"
    by_text = {r["text"]: r for r in rules}
    r443 = by_text["tcp dport 443 accept"]
    assert (
        r443["table"],
        r443["chain"],
        r443["position"],
        r443["target"],
        r443["protocol"],
        r443["ports"],
    ) == ("filter", "input", 3, "accept", "tcp", ["443"])
    multi = next(r for r in rules if r["ports"] == ["80", "8080"])
    assert multi["source"] == "10.0.0.0/8"
    assert next(r for r in rules if r["protocol"] == "udp")["ports"] == ["1000-2000"]
    v6 = next(r for r in rules if r["source"] == "fd00::/8")
    assert v6["target"] == "reject" and v6["ports"] == ["443"]
    assert all("packets" not in r["text"] for r in rules), "counters change without the rule changing"
    everything = firewall.parse_nft_json(_read("nft-ruleset.json"))
    assert {r["family"] for r in everything} == {"inet", "ip", "ip6"}


def test_iptables_save_rules_are_normalised() -> None:
    text = _read("iptables-save.txt")
    assert firewall.is_nf_tables_save(text)
    rules = firewall.parse_iptables_save(text)
    assert [(r["table"], r["chain"], r["position"], r["target"]) for r in rules] == [
        ("filter", "INPUT", 1, "ACCEPT"),
        ("filter", "INPUT", 2, "DROP"),
        ("filter", "INPUT", 3, "REJECT"),
        ("nat", "POSTROUTING", 1, "MASQUERADE"),
    ]
    assert rules[1]["ports"] == ["53", "1000-2000"] and rules[1]["source"] == "10.0.0.0/8"
    assert (rules[2]["source"], rules[2]["interface"], rules[2]["ports"]) == (
        "!192.168.0.0/16",
        "eth0",
        ["22"],
    )
    v6 = firewall.parse_iptables_save(_read("ip6tables-save.txt"), family="ipv6")
    assert [(r["backend"], r["family"], r["ports"]) for r in v6] == [("ip6tables", "ipv6", ["443"])]


def test_ufw_status_verbose() -> None:
    rules = firewall.parse_ufw_status(_read("ufw-status-verbose.txt"))
    got = [
        (r["family"], r["chain"], r["target"], r["protocol"], r["ports"], r["source"], r["interface"])
        for r in rules
    ]
    assert got == [
        ("ipv4", "input", "allow", "tcp", ["22"], None, None),
        ("ipv4", "input", "allow", None, ["443"], "192.168.1.0/24", None),
        ("ipv4", "input", "allow", "tcp", ["80", "443"], None, None),
        ("ipv4", "input", "deny", "tcp", ["6000-6007"], None, None),
        ("ipv4", "input", "allow", None, [], None, None),  # an application profile: no ports listed
        ("ipv4", "input", "allow", None, [], "10.0.0.0/8", "eth1"),
        ("ipv4", "output", "allow", None, ["53"], None, None),
        ("ipv6", "input", "allow", "tcp", ["22"], None, None),
        ("ipv6", "input", "allow", "tcp", ["80", "443"], None, None),
    ]
    assert "Nginx Full" in rules[4]["text"]
    assert firewall.parse_ufw_status("Status: inactive\n") == []


def test_firewalld_zones() -> None:
    rules = firewall.parse_firewalld(_read("firewalld-list-all-zones.txt"))
    assert {r["chain"] for r in rules} == {"public"}
    got = [(r["text"].split(" source")[0], r["protocol"], r["ports"], r["target"]) for r in rules]
    assert got == [
        ("service dhcpv6-client", "udp", ["546"], "accept"),
        ("service ssh", "tcp", ["22"], "accept"),
        ("service https", "tcp", ["443"], "accept"),
        ("port 8080/tcp", "tcp", ["8080"], "accept"),
        ("port 60000-61000/udp", "udp", ["60000-61000"], "accept"),
        ('rule family="ipv4"', "tcp", ["443"], "accept"),
        ('rule family="ipv4"', None, [], "drop"),
    ]
    assert rules[5]["source"] == "10.0.0.0/8" and rules[5]["interface"] == "eth0"


def test_rule_keys_survive_a_move_and_tell_twins_apart() -> None:
    rules = firewall.parse_iptables_save(
        "*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    keys = list(firewall.rule_items(rules))
    assert len(keys) == 2 and keys[1] == keys[0] + "#2"
    moved = firewall.parse_iptables_save(
        "*filter\n-A INPUT -j DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    assert keys[0] in firewall.rule_items(moved)


# --- DNS and VPN ------------------------------------------------------------------------------------------


def test_resolv_conf_and_resolvectl() -> None:
    got = dns.parse_resolv_conf(
        "# generated\nnameserver 127.0.0.53\nnameserver 127.0.0.53\noptions edns0\n"
        "search a.example b.example\n"
    )
    assert got["resolv.conf"]["servers"] == ["127.0.0.53"] and got["resolv.conf"]["search"] == [
        "a.example",
        "b.example",
    ]
    scopes = dns.parse_resolvectl(_read("resolvectl-dns.txt"), _read("resolvectl-domain.txt"))
    assert {k: v["servers"] for k, v in scopes.items()} == {
        "global": ["1.1.1.1#cloudflare-dns.com", "9.9.9.9"],
        "eth0": ["192.168.1.1", "fe80::1%eth0"],
        "wg0": ["10.64.0.1"],
    }
    assert scopes["eth0"]["ifname"] == "eth0" and scopes["global"]["ifname"] is None
    assert scopes["wg0"]["search"] == ["~corp.example.com"]


def test_wireguard_dump_never_carries_keys_that_are_secret() -> None:
    text = _read("wg-show-all-dump.txt")
    items = vpn.parse_wg_dump(text, datetime.fromtimestamp(1764117000 + 60, UTC))
    assert {k: (v["connected"], v["peers"], v["endpoints"]) for k, v in items.items()} == {
        "wireguard/wg0": (True, 2, ["198.51.100.7:51820"]),
        "wireguard/wg1": (False, 1, ["203.0.113.9:51820"]),  # last handshake in 2023
    }
    dumped = repr(items)
    for secret in ("YAAAA", "WAAAA", "ZZZZZ"):  # the private and preshared keys of the sample
        assert secret not in dumped


def test_tun_devices_and_tailscale() -> None:
    items = vpn.parse_ip_link_json(_read("ip-link-tun.json"))
    # tun0 is up but nobody holds it (NO-CARRIER); tap1 is down: neither is connected.
    assert {k: (v["detail"], v["connected"]) for k, v in items.items()} == {
        "openvpn/tun0": ("tun", False),
        "openvpn/tap1": ("tap", False),
    }
    ts = vpn.parse_tailscale_status(_read("tailscale-status.json"))["tailscale/tailscale0"]
    assert (ts["connected"], ts["name"], ts["peers"], ts["endpoints"]) == (
        True,
        "alice@example.com",
        2,
        ["100.64.0.2/32"],
    )
    assert ts["addresses"] == ["100.101.102.103", "fd7a:115c:a1e0::1234:5678"]
