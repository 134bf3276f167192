"""Project vulnerability events into graph operations (pure).

(:Vulnerability)-[:AFFECTS]->(:Software) is made when a finding opens and kept (relationships are never
deleted); the (:Finding) beside it holds whether it is open or fixed, and since when. The Software node
is the packages domain's (same key); only its identity properties are written here.
"""

from __future__ import annotations

from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.vulnerabilities import (
    FINDING_EVENTS,
    FindingEvent,
    VulnerabilityFound,
    VulnerabilityPublished,
)


def finding_key(host: str, vulnerability: str, software: str) -> str:
    return f"{host}/{vulnerability}/{software}"


def _event(event: Envelope, label: str, key: str, action: str, summary: str, **props: Any) -> list[GraphOp]:
    ts = event.ts
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": event.host,
                "action": action,
                "subject": key,
                "summary": summary,
                **props,
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", event.host),
        UpsertRel("ACTED_ON", "Event", event.id, label, key),
    ]


def project_published(event: Envelope, p: VulnerabilityPublished) -> list[GraphOp]:
    ts = event.ts
    node = {
        "feed": p.feed,
        "aliases": ",".join(p.aliases),
        "severity": p.severity,
        "cvss": p.cvss,
        "summary": p.summary,
        "published": p.published,
        "modified": p.modified,
        "withdrawn": p.withdrawn,
        "first_seen": ts,
        "last_seen": ts,
        "updated_at": ts,
    }
    summary = f"publish {p.id}" + (f" ({p.severity})" if p.severity else "")
    return [
        UpsertNode("Vulnerability", p.id, {"id": p.id, **node}, ts=ts),
        *_event(event, "Vulnerability", p.id, "publish", summary),
    ]


def project_finding(event: Envelope, p: FindingEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    key = finding_key(host, p.vulnerability, p.software)
    opened = isinstance(p, VulnerabilityFound)
    node: dict[str, Any] = {
        "host": host,
        "vulnerability": p.vulnerability,
        "software": p.software,
        "package": p.package,
        "source": p.source,
        "state": "open" if opened else "fixed",
        "version": p.version,
        "fixed_version": p.fixed_version,
        "severity": p.severity,
        "cvss": p.cvss,
        "reason": p.reason,
        "first_seen": ts,
        "last_seen": ts,
        "updated_at": ts,
    }
    if opened:
        node["found_at"] = ts
    else:
        node["fixed_at"] = ts
    verb = "found" if opened else "fixed"
    summary = f"{verb} {p.vulnerability} in {p.package} {p.version}" + (
        f" (fixed in {p.fixed_version})" if p.fixed_version and opened else ""
    )
    ops: list[GraphOp] = [
        # The vulnerability and the package may not be projected yet (other topics): their keys suffice.
        UpsertNode("Vulnerability", p.vulnerability, {"id": p.vulnerability}),
        UpsertNode("Software", p.software, {"host": host, "name": p.package}),
        UpsertNode("Finding", key, node, ts=ts),
        UpsertRel("FINDING_OF", "Finding", key, "Vulnerability", p.vulnerability),
        UpsertRel("FINDING_ON", "Finding", key, "Software", p.software),
        *_event(
            event, "Finding", key, f"{verb}:{p.reason}", summary, package_name=p.package, version=p.version
        ),
    ]
    if opened:
        ops.append(UpsertRel("AFFECTS", "Vulnerability", p.vulnerability, "Software", p.software))
    return ops


PROJECTORS: dict[str, Project] = {
    VulnerabilityPublished.TYPE: typed(VulnerabilityPublished, project_published),
    **{cls.TYPE: typed(cls, project_finding) for cls in FINDING_EVENTS},
}
