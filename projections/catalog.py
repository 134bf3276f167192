"""The query catalog: every question the product promises, as a named, parameterised Cypher query.

The Cypher here runs unchanged on LadybugDB and Neo4j: no datetime() or duration() (LadybugDB lacks
them); times are computed in Python and passed as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class CatalogError(ValueError):
    """Unknown query name or a bad parameter; the message says what is expected."""


@dataclass(frozen=True)
class Param:
    name: str
    type: type[int] | type[str]
    default: int | str | None
    help: str


@dataclass(frozen=True)
class NamedQuery:
    name: str
    question: str
    cypher: str
    params: tuple[Param, ...] = ()
    # Turns user parameters (+ now) into the Cypher parameters, e.g. days -> since.
    prepare: Callable[[dict[str, Any], datetime], dict[str, Any]] = field(default=lambda p, now: p)


def _since(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = {k: v for k, v in p.items() if k != "days"}
    out["since"] = now - timedelta(days=int(p["days"]))
    return out


def _name_prefixes(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    # "docker" should find docker.io, docker-ce and docker itself, but not dockerfile-mode.
    return {"name": p["name"], "dash": p["name"] + "-", "dot": p["name"] + ".", "limit": p["limit"]}


def _lower_since(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = _since(p, now)
    out["term"] = str(p["term"]).lower()
    return out


_DAYS = Param("days", int, 7, "look back this many days")

QUERIES: dict[str, NamedQuery] = {
    q.name: q
    for q in (
        NamedQuery(
            "installed-this-week",
            "What was installed this week?",
            "MATCH (e:Event)-[:ACTED_ON]->(s:Software) "
            "WHERE e.action = 'install' AND e.ts >= $since "
            "RETURN e.ts AS ts, e.host AS host, e.package_name AS package, e.version AS version, "
            "e.arch AS arch, e.ecosystem AS ecosystem, e.automatic AS automatic, e.source AS source "
            "ORDER BY ts DESC, package",
            (_DAYS,),
            _since,
        ),
        NamedQuery(
            "last-updated",
            "When was docker last updated? (any package: --param name=NAME)",
            "MATCH (e:Event)-[:ACTED_ON]->(s:Software) "
            "WHERE e.action IN ['install', 'upgrade', 'downgrade', 'reinstall'] "
            "AND (s.name = $name OR s.name STARTS WITH $dash OR s.name STARTS WITH $dot) "
            "RETURN e.ts AS ts, e.host AS host, s.name AS package, e.action AS action, "
            "e.old_version AS old_version, e.version AS version, e.requested_by AS requested_by "
            "ORDER BY ts DESC, package LIMIT $limit",
            (
                Param("name", str, "docker", "name or name prefix (docker: docker.io, docker-ce)"),
                Param("limit", int, 5, "at most this many rows"),
            ),
            _name_prefixes,
        ),
        NamedQuery(
            "python-packages-installed",
            "Show me all Python packages installed in the last month",
            "MATCH (e:Event)-[:ACTED_ON]->(s:Software) "
            "WHERE e.action = 'install' AND e.ts >= $since AND lower(s.name) CONTAINS $term "
            "RETURN e.ts AS ts, e.host AS host, s.name AS package, e.version AS version, "
            "e.ecosystem AS ecosystem, e.automatic AS automatic "
            "ORDER BY ts DESC, package",
            (Param("days", int, 30, "look back this many days"), Param("term", str, "python", "name term")),
            _lower_since,
        ),
        NamedQuery(
            "package-history",
            "Everything that happened to one package, newest first",
            "MATCH (e:Event)-[:ACTED_ON]->(s:Software) WHERE s.name = $name "
            "RETURN e.ts AS ts, e.host AS host, e.action AS action, e.old_version AS old_version, "
            "e.version AS version, e.source AS source, e.requested_by AS requested_by, "
            "e.commandline AS commandline ORDER BY ts DESC",
            (Param("name", str, None, "exact package name"),),
        ),
        NamedQuery(
            "recent-changes",
            "Every package change in the last N days",
            "MATCH (e:Event)-[:ACTED_ON]->(s:Software) WHERE e.ts >= $since "
            "RETURN e.ts AS ts, e.host AS host, e.action AS action, s.name AS package, "
            "e.old_version AS old_version, e.version AS version, e.source AS source "
            "ORDER BY ts DESC, package",
            (Param("days", int, 1, "look back this many days"),),
            _since,
        ),
        NamedQuery(
            "installed-software",
            "What is installed now (current state per package)",
            "MATCH (s:Software)-[:INSTALLED_ON]->(h:Host) WHERE s.state = 'installed' "
            "RETURN h.name AS host, s.ecosystem AS ecosystem, s.name AS package, s.arch AS arch, "
            "s.version AS version, s.automatic AS automatic, s.updated_at AS since "
            "ORDER BY host, ecosystem, package",
        ),
    )
}


def resolve(name: str, params: Mapping[str, str | int], now: datetime) -> tuple[str, dict[str, Any]]:
    """The Cypher text and its parameters for a named query, with defaults and type conversion."""
    q = QUERIES.get(name)
    if q is None:
        raise CatalogError(f"unknown query {name!r}; known: {', '.join(sorted(QUERIES))}")
    known = {p.name for p in q.params}
    extra = set(params) - known
    if extra:
        raise CatalogError(f"{name}: unknown parameter(s) {', '.join(sorted(extra))}; takes {sorted(known)}")
    values: dict[str, Any] = {}
    for p in q.params:
        raw = params.get(p.name, p.default)
        if raw is None:
            raise CatalogError(f"{name}: parameter {p.name!r} is required ({p.help})")
        try:
            values[p.name] = p.type(raw)
        except ValueError:
            raise CatalogError(f"{name}: parameter {p.name!r} must be {p.type.__name__}") from None
    return q.cypher, q.prepare(values, now)
