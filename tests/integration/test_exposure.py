"""Exposed services in a network namespace: real servers listening on 0.0.0.0, on a veth address and on
loopback, a real nft ruleset that drops one port, the scanner reading the namespace's sockets, the network
domain's own nft parser putting the rules in a real LadybugDB, and "What is reachable from the network?"
agreeing with what a real connection does."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.exposure.source import ListeningScanner
from producers.kinds import KINDS
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.vulnerabilities import VulnerabilityFound
from tests.support.netns import NetNS, netns

RULES = """\
table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 8082 drop
  }
}
"""
SERVER = (
    "import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); time.sleep(600)"
)


@pytest.fixture(scope="module")
def ns() -> Iterator[NetNS]:
    with netns() as n:
        yield n


def _serve(ns: NetNS, address: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns.name, sys.executable, "-c", SERVER, address, str(port)]
    )


def _connects(ns: NetNS, address: str, port: int) -> bool:
    code = f"import socket; s=socket.socket(); s.settimeout(1.5); s.connect(({address!r}, {port}))"
    return ns.run(sys.executable, "-c", code, check=False).returncode == 0


def _route(name: str):  # type: ignore[no-untyped-def]
    return next(r for r in ROUTES if r.name == name)


def _project(store: LadybugStore, events: list[Envelope]) -> None:
    ops = [
        op
        for e in events
        for op in PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    ]
    store.apply(ops, {})


def _ask(store: LadybugStore, name: str) -> list[dict[str, object]]:
    cypher, p = resolve(name, {}, datetime.now(UTC))
    return store.query(cypher, p).dicts()


def _scan(scanner: ListeningScanner, table: MemoryTable, want: set[int]) -> list[Envelope]:
    route = _route("exposure")
    for _ in range(100):
        scanner.scan_now()
        if {s.port for s in scanner.scan()} >= want:
            break
        time.sleep(0.1)
    scanner.scan_now()
    return [e for raw in scanner.poll(10).observations for e in route.handle(raw.to_json(), table)]


def test_reachability_follows_binding_and_the_firewall(ns: NetNS, tmp_path: Path) -> None:
    ns.veth("wma", "wmb")
    ns.ip("addr", "add", "10.77.0.1/24", "dev", "wma")
    ns.run("nft", "-f", "-", stdin=RULES)
    servers = [_serve(ns, "0.0.0.0", 8080), _serve(ns, "0.0.0.0", 8082), _serve(ns, "127.0.0.1", 8081)]
    try:
        scanner = ListeningScanner("h", pid=servers[0].pid)
        table = MemoryTable()
        events = _scan(scanner, table, {8080, 8081, 8082})
        exposed = {(e.type, e.payload["port"]) for e in events}
        assert exposed == {("ServiceExposed", 8080), ("ServiceExposed", 8082)}  # loopback is not exposed
        first = next(e.payload for e in events if e.payload["port"] == 8080)
        assert first["pid"] == servers[0].pid and first["process"].startswith("python")
        exe = Path(f"/proc/{servers[0].pid}/exe").resolve()
        owner = subprocess.run(["dpkg", "-S", str(exe)], capture_output=True, text=True, check=False)
        if owner.returncode == 0:
            assert first["package"] == owner.stdout.split(":")[0]

        # The network domain's parser and processor put the namespace's real ruleset in the graph.
        dump = tmp_path / "rules.json"
        dump.write_text(ns.run("nft", "-j", "list", "ruleset").stdout)
        kind = KINDS["nft"]
        from producers.parse_kind import ParseOptions

        raws = [
            r
            for r in kind.parse(dump, ParseOptions(host="h", tz=UTC, now=datetime.now(UTC)))
            if isinstance(r, Envelope)
        ]
        net = next(r for r in ROUTES if r.source == kind.topic)
        ntable = MemoryTable()
        rules = [e for raw in raws for e in net.handle(raw.to_json(), ntable)]
        assert any(e.type == "FirewallRuleAdded" for e in rules)

        # A finding on the package serving 8080 (a decision as the vulnerabilities processor makes it).
        software = f"h/deb/{first['package']}"
        found = VulnerabilityFound(
            vulnerability="TEST-0001",
            software=software,
            finding=f"TEST-0001|{software}",
            package=str(first["package"]),
            source="python3",
            version="1",
            severity="high",
            reason="installed",
        )
        ts = datetime.now(UTC)
        finding = Envelope(
            id="f1",
            type=found.TYPE,
            schema_version=1,
            host="h",
            source="t",
            ts=ts,
            observed_at=ts,
            subject="f",
            payload=found.model_dump(mode="json"),
        )
        with LadybugStore(tmp_path / "graph") as store:
            store.ensure_schema()
            _project(store, rules + events + ([finding] if first["package"] else []))
            reach = _ask(store, "reachable-from-network")
            assert [(r["port"], r["address"]) for r in reach] == [(8080, "0.0.0.0")]
            # And so it is, for real: 8080 answers on the veth address, 8082 is dropped.
            assert _connects(ns, "10.77.0.1", 8080)
            assert not _connects(ns, "10.77.0.1", 8082)
            if first["package"]:
                vuln = _ask(store, "exposed-vulnerable-services")
                assert [(r["port"], r["vulnerability"]) for r in vuln] == [(8080, "TEST-0001")]

            servers[0].terminate()
            servers[0].wait(10)
            scanner.pid = servers[1].pid
            gone = _scan(scanner, table, set())
            assert [(e.type, e.payload["port"]) for e in gone] == [("ServiceUnexposed", 8080)]
            _project(store, gone)
            assert _ask(store, "reachable-from-network") == []
    finally:
        for s in servers:
            s.kill()
            s.wait(10)
