"""`watchman why`: what changed on the host in the window before an event, ranked, with the evidence.

`rank` is pure: a failure, the changes in its window and what the graph says about the failing
subject (its package names, its ports, its config directories) in, ranked causes out. `explain` asks
a graph for those through a query function (the live graph, or the time machine's graph at a time),
with Cypher that runs unchanged on LadybugDB and Neo4j, always parameterised.

Score = proximity (1 for a change just before, 0 at the window's start) + the weight of each link:
  package   the change is to a package of the subject (its name, or the package owning its socket,
            or the package that provides a config file it reads)           +2.0
  config    a config file of the subject changed (under /etc/<name>, or one its package provides) +2.0
  port      a firewall rule that names one of the subject's listening ports changed   +1.5
  subject   an earlier event of the subject itself (a restart, a reload)              +0.5
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Event types that are "something broke": `why` starts from the latest of these for the subject (or
# from its latest event of any type when it has none).
FAILURES = frozenset(
    {
        "ServiceFailed",
        "ServiceOOMKilled",
        "ContainerDied",
        "ContainerOOMKilled",
        "BackupFailed",
        "BackupVerificationFailed",
        "JobFailed",
        "MCPServerStartFailed",
        "CommandFailed",
    }
)
# Events that are observations, not changes: never offered as causes.
NOT_CHANGES = frozenset({"ServiceMetricsSampled", "LogLine"})

WEIGHTS = {"package": 2.0, "config": 2.0, "port": 1.5, "subject": 0.5}

QueryFn = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Change:
    id: str
    ts: datetime
    type: str
    subject: str
    summary: str = ""
    package: str | None = None  # a Software change: its package name
    config_path: str | None = None  # a ConfigFile change
    config_package: str | None = None
    config_app: str | None = None
    ports: frozenset[int] = frozenset()  # a FirewallRule change: its single ports
    port_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class Context:
    """What the graph knows of the failing subject."""

    host: str
    subject: str
    name: str  # the bare name: nginx for nginx.service
    packages: frozenset[str] = frozenset()
    ports: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Cause:
    change: Change
    score: float
    proximity: float
    evidence: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        c = self.change
        return {
            "score": round(self.score, 3),
            "ts": c.ts.isoformat(),
            "type": c.type,
            "subject": c.subject,
            "summary": c.summary,
            "evidence": list(self.evidence),
            "event_id": c.id,
        }


def bare_name(subject: str) -> str:
    """nginx.service -> nginx; host/container/x -> x; h/deb/nginx:amd64 -> nginx."""
    tail = subject.rsplit("/", 1)[-1].split(":", 1)[0]  # h/deb/nginx:amd64 -> nginx
    for suffix in (".service", ".socket", ".timer"):
        if tail.endswith(suffix):
            return tail[: -len(suffix)]
    return tail


def _links(c: Change, ctx: Context) -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []
    names = ctx.packages | {ctx.name}
    if c.package is not None and c.package in names:
        why = "its own name" if c.package == ctx.name else "owns its socket or config"
        links.append(("package", f"package {c.package} belongs to {ctx.subject} ({why})"))
    if c.config_path is not None:
        if f"/{ctx.name}/" in c.config_path or c.config_path.endswith(f"/{ctx.name}.conf"):
            links.append(("config", f"config file {c.config_path} is under {ctx.name}'s name"))
        elif c.config_app == ctx.name:
            links.append(("config", f"config file {c.config_path} is {ctx.name}'s (app {c.config_app})"))
        elif c.config_package is not None and c.config_package in names:
            links.append(("config", f"config file {c.config_path} comes with package {c.config_package}"))
    if c.ports or c.port_range:
        hit = sorted(
            p
            for p in ctx.ports
            if p in c.ports or (c.port_range is not None and c.port_range[0] <= p <= c.port_range[1])
        )
        if hit:
            links.append(
                ("port", f"firewall rule names port {','.join(map(str, hit))}, where {ctx.subject} listens")
            )
    if c.subject == ctx.subject or (
        bare_name(c.subject) == ctx.name and c.package is None and c.config_path is None
    ):
        links.append(("subject", f"an earlier event of {ctx.subject} itself"))
    return links


def rank(failed_at: datetime, changes: Sequence[Change], ctx: Context, window: timedelta) -> list[Cause]:
    """The changes in (failed_at - window, failed_at], best first (ties: the later change first)."""
    out: list[Cause] = []
    secs = window.total_seconds() or 1.0
    for c in changes:
        dt = (failed_at - c.ts).total_seconds()
        if dt < 0 or dt > secs or c.type in NOT_CHANGES:
            continue
        proximity = 1.0 - dt / secs
        links = _links(c, ctx)
        score = proximity + sum(WEIGHTS[kind] for kind, _ in links)
        evidence = (f"{int(dt)} s before", *(text for _, text in links))
        out.append(Cause(c, score, proximity, evidence))
    out.sort(key=lambda x: (-x.score, -x.change.ts.timestamp(), x.change.id))
    return out


def _ports(port_set: str | None) -> frozenset[int]:
    return frozenset(int(p) for p in (port_set or "").split(",") if p.strip().isdigit())


@dataclass(frozen=True)
class Explanation:
    failure: dict[str, Any]
    context: Context
    causes: list[Cause]

    def to_json(self) -> dict[str, Any]:
        return {
            "failure": self.failure,
            "context": {
                "host": self.context.host,
                "subject": self.context.subject,
                "packages": sorted(self.context.packages),
                "ports": sorted(self.context.ports),
            },
            "causes": [c.to_json() for c in self.causes],
        }


class NothingToExplain(LookupError):
    """No event of that subject (at or before the time asked)."""


def explain(query: QueryFn, subject: str, at: datetime, window: timedelta, limit: int = 20) -> Explanation:
    """Find the subject's latest failure at or before `at` and rank the changes in the window before it."""
    name = bare_name(subject)
    events = query(
        "MATCH (e:Event) WHERE e.ts <= $at "
        "AND (e.subject = $s OR e.subject ENDS WITH $tail OR e.subject ENDS WITH $unit "
        "OR e.package_name = $s OR e.subject STARTS WITH $prefix) "
        "RETURN e.id AS id, e.ts AS ts, e.type AS type, e.subject AS subject, e.host AS host, "
        "e.summary AS summary "
        "ORDER BY ts DESC LIMIT 200",
        {
            "at": at,
            "s": subject,
            "tail": f"/{subject}",
            "unit": f"/{subject}.service",
            "prefix": f"{subject}/",  # a full key's host part given: web1/nginx.service
        },
    )
    if not events:
        raise NothingToExplain(f"no event of {subject!r} at or before {at.isoformat()}")
    failure = next((e for e in events if e["type"] in FAILURES), events[0])
    host, fsubject, failed_at = failure["host"], failure["subject"], failure["ts"]
    since = failed_at - window
    sockets = query(
        "MATCH (l:ListeningSocket) WHERE l.host = $host AND (l.unit = $subject OR l.process = $name) "
        "RETURN l.port AS port, l.package AS package",
        {"host": host, "subject": fsubject, "name": name},
    )
    ctx = Context(
        host,
        fsubject,
        name,
        frozenset(str(s["package"]) for s in sockets if s["package"]),
        frozenset(int(s["port"]) for s in sockets if s["port"] is not None),
    )
    window_params = {"host": host, "since": since, "until": failed_at, "id": failure["id"]}
    rows = query(
        "MATCH (e:Event) WHERE e.host = $host AND e.ts >= $since AND e.ts <= $until AND e.id <> $id "
        "RETURN e.id AS id, e.ts AS ts, e.type AS type, e.subject AS subject, e.summary AS summary, "
        "e.package_name AS package",
        window_params,
    )
    configs = {
        r["id"]: r
        for r in query(
            "MATCH (e:Event)-[:ACTED_ON]->(c:ConfigFile) WHERE e.host = $host AND e.ts >= $since "
            "AND e.ts <= $until AND e.id <> $id "
            "RETURN e.id AS id, c.path AS path, c.app AS app, c.package AS package",
            window_params,
        )
    }
    rules = {
        r["id"]: r
        for r in query(
            "MATCH (e:Event)-[:ACTED_ON]->(r:FirewallRule) WHERE e.host = $host AND e.ts >= $since "
            "AND e.ts <= $until AND e.id <> $id "
            "RETURN e.id AS id, r.port_set AS port_set, r.range_lo AS lo, r.range_hi AS hi",
            window_params,
        )
    }
    # A config file's package counts as the subject's when the file is under its name.
    for c in configs.values():
        if c["package"] and (f"/{name}/" in (c["path"] or "") or c["app"] == name):
            ctx = Context(ctx.host, ctx.subject, ctx.name, ctx.packages | {str(c["package"])}, ctx.ports)
    changes = []
    for r in rows:
        cfg: dict[str, Any] | None = configs.get(r["id"])
        rule: dict[str, Any] | None = rules.get(r["id"])
        lo, hi = (rule["lo"], rule["hi"]) if rule else (None, None)
        changes.append(
            Change(
                r["id"],
                r["ts"],
                r["type"],
                r["subject"] or "",
                r["summary"] or "",
                package=r["package"],
                config_path=cfg["path"] if cfg else None,
                config_package=cfg["package"] if cfg else None,
                config_app=cfg["app"] if cfg else None,
                ports=_ports(rule["port_set"]) if rule else frozenset(),
                port_range=(int(lo), int(hi)) if lo is not None and hi is not None else None,
            )
        )
    failure_json = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in failure.items()}
    return Explanation(failure_json, ctx, rank(failed_at, changes, ctx, window)[:limit])
