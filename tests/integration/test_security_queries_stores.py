"""The six security questions on both graph stores (LadybugDB and the shared Neo4j): the same decided
events (a DSA-5514-1 finding, its security update on a second host, a permission change, listeners with
a firewall rule dropping one of them) projected into each, the same answers from each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.vulnerabilities.advisories import osv_advisory
from producers.vulnerabilities.installed import digest
from producers.vulnerabilities.source import advisory_envelope
from projections.catalog import resolve
from projections.graph_ops import UpsertNode, UpsertRel
from projections.registry import PROJECTORS
from projections.stores.base import GraphStore
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import EventPayload, decode_payload
from schemas.events.exposure import Listener, ListeningSocketsObserved
from schemas.events.permissions import FileState, PermissionScanObserved
from schemas.events.vulnerabilities import InstalledPackage, InstalledSourcesObserved
from tests.integration.test_neo4j_store import open_store

pytestmark = pytest.mark.servers
DATA = Path(__file__).parents[1] / "data" / "vulnerabilities"
NOW = datetime.now(UTC)


def _raw(host: str, p: EventPayload, rid: str, ts: datetime) -> Envelope:
    return Envelope(
        id=rid,
        type=p.TYPE,
        schema_version=1,
        host=host,
        source="t",
        ts=ts,
        observed_at=ts,
        subject="s",
        payload=p.model_dump(mode="json"),
    )


def _libc(host: str, v: str) -> InstalledSourcesObserved:
    pkgs = [
        InstalledPackage(
            key=f"{host}/deb/{n}", name=n, ecosystem="deb", version=v, source="glibc", source_version=v
        )
        for n in ("libc6", "libc-bin")
    ]
    return InstalledSourcesObserved(
        ts=NOW, release="Debian:12", packages=tuple(pkgs), digest=digest("Debian:12", pkgs)
    )


def _events() -> list[Envelope]:
    t1, t2 = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    adv = osv_advisory(json.loads((DATA / "osv" / "DEBIAN-CVE-2023-4911.json").read_text()))
    shadow = FileState(path="/etc/shadow", role="sensitive", uid=0, gid=42, mode=0o640, size=1, sha256="a")
    sockets = (
        Listener(protocol="tcp", address="0.0.0.0", port=22, pid=1, process="sshd", package="libc-bin"),
        Listener(protocol="tcp", address="0.0.0.0", port=8082, pid=2, process="web"),
        Listener(protocol="tcp", address="127.0.0.1", port=5432, pid=3, process="postgres"),
    )
    raws = [
        _raw("a", _libc("a", "2.36-9+deb12u2").model_copy(update={"ts": t1}), "i1", t1),
        _raw("b", _libc("b", "2.36-9+deb12u2").model_copy(update={"ts": t1}), "i2", t1),
        advisory_envelope("a", adv, t1),
        _raw("b", _libc("b", "2.36-9+deb12u3").model_copy(update={"ts": t2}), "i3", t2),
        _raw("a", PermissionScanObserved(ts=t1, files=(shadow,), digest="1"), "p1", t1),
        _raw(
            "a",
            PermissionScanObserved(ts=t2, files=(shadow.model_copy(update={"mode": 0o644}),), digest="2"),
            "p2",
            t2,
        ),
        _raw("a", ListeningSocketsObserved(ts=t2, sockets=sockets, digest="s"), "s1", t2),
    ]
    routes = {r.source.name: r for r in ROUTES}
    tables: dict[str, MemoryTable] = {}
    out: list[Envelope] = []
    for raw in raws:
        topic = {"PermissionScanObserved": "permissions", "ListeningSocketsObserved": "exposure"}.get(
            raw.type, "vulnerabilities"
        )
        route = routes[f"watchman.raw.{topic}"]
        out += route.handle(raw.to_json(), tables.setdefault(topic, MemoryTable()))
    return out


def _firewall() -> list[Any]:
    key = "a/nftables/inet/filter/input/x"
    props = {
        "host": "a",
        "netns": None,
        "backend": "nftables",
        "family": "inet",
        "table_name": "filter",
        "chain": "input",
        "position": 1,
        "target": "drop",
        "protocol": "tcp",
        "ports": "8082",
        "port_set": ",8082,",
        "range_lo": None,
        "range_hi": None,
        "source": None,
        "destination": None,
        "interface": None,
        "text": "tcp dport 8082 drop",
        "present": True,
        "first_seen": NOW,
        "last_seen": NOW,
        "updated_at": NOW,
    }
    return [
        UpsertNode("Host", "a", {"name": "a", "first_seen": NOW, "last_seen": NOW}),
        UpsertNode("FirewallRule", key, props, ts=NOW),
        UpsertRel("HAS_FIREWALL_RULE", "Host", "a", "FirewallRule", key),
    ]


@pytest.fixture(params=["ladybug", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    if request.param == "ladybug":
        with LadybugStore(tmp_path / "graph") as s:
            s.ensure_schema()
            yield s
        return
    n = open_store()
    n.wipe(confirm=True)
    n.ensure_schema()
    try:
        yield n
    finally:
        n.close()


def _ask(store: GraphStore, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, datetime.now(UTC))
    return store.query(cypher, p).dicts()


def test_the_six_questions(store: GraphStore) -> None:
    events = _events()
    ops = _firewall() + [
        op
        for e in events
        for op in PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    ]
    store.apply(ops, {})
    high = _ask(store, "critical-cves", severity="high")
    assert {(r["host"], r["package"], r["vulnerability"]) for r in high} == {
        ("a", "libc6", "DEBIAN-CVE-2023-4911"),
        ("a", "libc-bin", "DEBIAN-CVE-2023-4911"),
    }
    assert _ask(store, "critical-cves") == []
    pending = _ask(store, "pending-security-updates")
    assert {(r["host"], r["package"], r["fixed_version"]) for r in pending} == {
        ("a", "libc6", "2.36-9+deb12u3"),
        ("a", "libc-bin", "2.36-9+deb12u3"),
    }
    done = _ask(store, "security-updates-installed")
    assert {(r["host"], r["package"], r["version"]) for r in done} == {
        ("b", "libc6", "2.36-9+deb12u3"),
        ("b", "libc-bin", "2.36-9+deb12u3"),
    }
    reach = _ask(store, "reachable-from-network")
    assert [(r["host"], r["port"], r["process"]) for r in reach] == [("a", 22, "sshd")]
    vuln = _ask(store, "exposed-vulnerable-services")
    assert [(r["port"], r["package"], r["vulnerability"]) for r in vuln] == [
        (22, "libc-bin", "DEBIAN-CVE-2023-4911")
    ]
    perms = _ask(store, "permission-changes-this-week")
    assert [(r["path"], r["change"], r["mode"]) for r in perms] == [
        ("/etc/shadow", "PermissionChanged", "0644")
    ]
