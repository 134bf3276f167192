"""The network domain end to end, through the real command line: changes made in a real network
namespace (links, addresses, routes, nftables rules, a tun device, resolv.conf) become answers to the
catalog's network questions, on the embedded deployment and on the distributed one (Kafka, Faust,
Neo4j from infra/)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.instance import Instance
from tests.support.netns import NetNS, netns

# The distributed test resets the shared Kafka topics and Neo4j: one such module at a time.
pytestmark = pytest.mark.servers


@pytest.fixture
def ns() -> Iterator[NetNS]:
    with netns() as n:
        yield n


def _configure(inst: Instance, ns: NetNS, resolv: Path, **extra: Any) -> None:
    inst.write_config(**extra)
    # [packages] is the config's last table, so another table can follow it. With a [network] table
    # the harness leaves the network sources on (tests/support/instance.py turns them off otherwise).
    inst.config.write_text(
        inst.config.read_text()
        + "\n".join(
            [
                "[network]",
                f'netns = "{ns.name}"',
                "scan_interval = 0.2",
                f'resolv_conf = "{resolv}"',
                "resolved = false",
                "ufw = false",
                "firewalld = false",
                "wireguard = false",
                "tailscale = false",
            ]
        )
        + "\n"
    )


def _wait(
    inst: Instance,
    *args: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 60,
    log: str = "daemon",
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = inst.query(*args)
        if until(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"{args}: no answer in {timeout}s; last rows {rows}\n{inst.daemon_log(log)}")


def _summaries(rows: list[dict[str, Any]]) -> set[str]:
    return {r["summary"] for r in rows}


def _drive_and_ask(inst: Instance, ns: NetNS, resolv: Path, log: str) -> None:
    """The same script for both deployments: each change, then the question it answers."""
    _wait(
        inst, "network-changes-today", until=lambda r: "interface va up (mtu 1500)" in _summaries(r), log=log
    )

    ns.ip("addr", "add", "93.184.216.34/32", "dev", "va")
    ns.ip("addr", "add", "10.7.0.1/24", "dev", "vb")
    ns.ip("route", "add", "10.8.0.0/16", "via", "10.7.0.2")
    rows = _wait(inst, "external-ip", until=lambda r: any(x["public"] for x in r), log=log)
    assert rows[0]["address"] == "93.184.216.34" and "NAT" in rows[0]["note"]
    assert {"93.184.216.34", "10.7.0.1"} <= {x["address"] for x in rows}

    ns.run("nft", "add", "table", "inet", "wm")
    ns.run("nft", "add", "chain", "inet", "wm", "input", "{ type filter hook input priority 0; }")
    ns.run("nft", "add", "rule", "inet", "wm", "input", "tcp", "dport", "443", "accept")
    rules = _wait(inst, "firewall-rules-for-port", "-p", "port=443", until=bool, log=log)
    assert [(r["backend"], r["chain"], r["target"], r["ports"]) for r in rules] == [
        ("nftables", "input", "accept", "443")
    ]

    resolv.write_text("nameserver 192.0.2.53\nnameserver 192.0.2.54\n")
    _wait(
        inst, "dns-servers", until=lambda r: {x["server"] for x in r} == {"192.0.2.53", "192.0.2.54"}, log=log
    )

    ns.hold_tun("tun0")
    ns.ip("link", "set", "tun0", "up")
    vpn = _wait(inst, "vpn-active", until=lambda r: bool(r) and r[0]["active"] is True, log=log)
    assert (vpn[0]["kind"], vpn[0]["name"]) == ("openvpn", "tun0")

    ns.ip("link", "set", "va", "down")
    ns.release_tuns()
    changes = _wait(
        inst,
        "network-changes-today",
        until=lambda r: {"interface va down (mtu 1500)", "openvpn VPN tun0 disconnected"} <= _summaries(r),
        log=log,
    )
    types = {r["type"] for r in changes}
    assert {"InterfaceUp", "InterfaceDown", "AddressAdded", "RouteChanged", "FirewallRuleAdded"} <= types
    assert {"DnsServersChanged", "VpnConnected", "VpnDisconnected"} <= types
    assert any(s.startswith("route 10.8.0.0/16 via 10.7.0.2 dev vb added") for s in _summaries(changes))


def test_embedded_network_changes_are_answered(tmp_path: Path, ns: NetNS) -> None:
    ns.veth("va", "vb")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    inst = Instance(tmp_path / "w")
    _configure(inst, ns, resolv)
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        _drive_and_ask(inst, ns, resolv, "daemon")
    finally:
        assert inst.stop(proc) == 0, inst.daemon_log()
    # Restarted, the daemon reports only what changed while it was down: nothing here.
    before = len(inst.query("MATCH (e:Event) RETURN e.id AS id"))
    inst.cli("run", "--once")
    assert len(inst.query("MATCH (e:Event) RETURN e.id AS id")) == before


def test_distributed_network_changes_are_answered(tmp_path: Path, ns: NetNS) -> None:
    from tests.e2e.test_distributed import KAFKA, NEO4J, NEO4J_USER, _stop, reset_servers

    reset_servers()
    ns.veth("va", "vb")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    inst = Instance(tmp_path / "d")
    _configure(inst, ns, resolv, bus=f"kafka://{KAFKA}", graph=NEO4J, neo4j_user=NEO4J_USER)
    procs = {name: inst.start(name) for name in ("worker", "project", "produce")}
    try:
        _drive_and_ask(inst, ns, resolv, "worker")
    finally:
        for proc in procs.values():
            _stop(proc)
