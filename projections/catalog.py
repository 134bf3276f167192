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
        NamedQuery(
            "package-changes",
            "Package history with filters (the admin API's /admin/packages): days, name, action, source",
            "MATCH (e:Event)-[:ACTED_ON]->(s:Software) WHERE e.ts >= $since "
            "AND ($name = '' OR s.name = $name) AND ($action = '' OR e.action = $action) "
            "AND ($source = '' OR e.source CONTAINS $source) "
            "RETURN e.ts AS ts, e.host AS host, e.action AS action, s.name AS package, s.arch AS arch, "
            "e.old_version AS old_version, e.version AS version, e.ecosystem AS ecosystem, "
            "e.source AS source, e.requested_by AS requested_by "
            "ORDER BY ts DESC, package LIMIT $limit",
            (
                _DAYS,
                Param("name", str, "", "exact package name ('' = any)"),
                Param("action", str, "", "install|upgrade|downgrade|reinstall|remove|purge ('' = any)"),
                Param("source", str, "", "apt|dpkg|dnf|dnf-rpm|dnf5|brew ('' = any)"),
                Param("limit", int, 1000, "at most this many rows"),
            ),
            _since,
        ),
        NamedQuery(
            "command-status",
            "What became of a command (by the id the admin API returned)",
            "MATCH (c:Command) WHERE c.id = $id "
            "RETURN c.id AS id, c.type AS type, c.host AS host, c.status AS status, c.detail AS detail, "
            "c.issued_by AS issued_by, c.params AS params, c.finished_at AS finished_at",
            (Param("id", str, None, "command id"),),
        ),
    )
}


from schemas.events.network import NETWORK_EVENT_TYPES  # noqa: E402

_NETWORK_EVENT_TYPE_NAMES = tuple(t.TYPE for t in NETWORK_EVENT_TYPES)
NETWORK_QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "external-ip",
        "What's my external IP? (the echo lookup's answer first when enabled; else interface addresses, "
        "with a note that NAT may hide the real one)",
        "MATCH (a:IPAddress) WHERE a.present = true AND (a.origin = $echo OR a.scope = $scope) "
        "RETURN a.host AS host, a.address AS address, a.interface AS interface, a.public AS public, "
        "a.origin AS origin, a.note AS note, a.updated_at AS since "
        "ORDER BY a.rank, host, address",
        (),
        lambda p, now: {"echo": "echo", "scope": "global"},
    ),
    NamedQuery(
        "firewall-rules-for-port",
        "Show firewall rules for port 443 (nftables, iptables, ufw, firewalld alike)",
        "MATCH (r:FirewallRule) WHERE r.present = true "
        "AND (r.port_set CONTAINS $needle OR (r.range_lo <= $port AND r.range_hi >= $port)) "
        "RETURN r.host AS host, r.backend AS backend, r.family AS family, r.table_name AS table_name, "
        "r.chain AS chain, r.position AS position, r.target AS target, r.protocol AS protocol, "
        "r.ports AS ports, r.source AS source, r.destination AS destination, r.interface AS interface, "
        "r.text AS rule ORDER BY host, backend, family, table_name, chain, position",
        (Param("port", int, 443, "destination port"),),
        lambda p, now: {"port": p["port"], "needle": f",{p['port']},"},
    ),
    NamedQuery(
        "vpn-active",
        "Is my VPN active? (every VPN known, active ones first)",
        "MATCH (v:VPNConnection) "
        "RETURN v.host AS host, v.kind AS kind, v.name AS name, v.interface AS interface, "
        "v.active AS active, v.since AS since, v.endpoints AS endpoints, v.addresses AS addresses, "
        "v.peers AS peers ORDER BY active DESC, host, name",
    ),
    NamedQuery(
        "dns-servers",
        "What DNS servers am I using? (and for which interface or host-wide scope)",
        "MATCH (d:DNSServer) WHERE d.in_use = true "
        "RETURN d.host AS host, d.address AS server, d.scopes AS scopes, d.updated_at AS since "
        "ORDER BY host, server",
    ),
    NamedQuery(
        "network-changes-today",
        "What changed on the network today? (interfaces, addresses, routes, DNS, firewall, VPN)",
        "MATCH (e:Event) WHERE e.ts >= $since AND e.type IN $types "
        "RETURN e.ts AS ts, e.host AS host, e.type AS type, e.action AS action, "
        "e.subject AS subject, e.summary AS summary ORDER BY ts DESC, subject",
        (Param("days", int, 1, "look back this many days"),),
        lambda p, now: {**_since(p, now), "types": list(_NETWORK_EVENT_TYPE_NAMES)},
    ),
)
QUERIES.update({q.name: q for q in NETWORK_QUERIES})


# The containers domain (Docker). NetworkEndpoint keeps every container it ever reached (EXPOSES is
# never deleted); its `container` property names the one serving it now, and `state` whether it is open.
# Constants go in as parameters too, so the Cypher text holds no literals at all.
def _with(**constants: Any) -> Callable[[dict[str, Any], datetime], dict[str, Any]]:
    def prepare(p: dict[str, Any], now: datetime) -> dict[str, Any]:
        out = _since(p, now) if "days" in p else dict(p)
        return {**out, **constants}

    return prepare


CONTAINER_QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "containers-restarted-today",
        "Which containers restarted today? (the last N days; restarts counted per container)",
        "MATCH (e:Event)-[:ACTED_ON]->(c:Container) WHERE e.type = $type AND e.ts >= $since "
        "RETURN c.host AS host, c.name AS container, c.image AS image, c.state AS state, "
        "count(e) AS restarts, max(e.ts) AS last_restart ORDER BY restarts DESC, host, container",
        (Param("days", int, 1, "look back this many days"),),
        _with(type="ContainerRestarted"),
    ),
    NamedQuery(
        "listening-on-port",
        "What is listening on port N, and which container serves it?",
        "MATCH (n:NetworkEndpoint)-[:EXPOSES]->(c:Container) "
        "WHERE n.host_port = $port AND n.state = $open AND n.container = c.key "
        "RETURN n.host AS host, n.host_ip AS host_ip, n.host_port AS host_port, n.protocol AS protocol, "
        "c.name AS container, c.id AS container_id, n.container_port AS container_port, "
        "c.image AS image, c.state AS state, n.updated_at AS since ORDER BY host, host_ip, protocol",
        (Param("port", int, None, "host port"),),
        _with(open="open"),
    ),
    NamedQuery(
        "containers-died-nonzero-this-week",
        "Which containers died with a non-zero exit code this week?",
        "MATCH (e:Event)-[:ACTED_ON]->(c:Container) WHERE e.type = $type AND e.ts >= $since "
        "AND e.exit_code <> 0 "
        "RETURN e.ts AS ts, c.host AS host, c.name AS container, c.image AS image, e.exit_code AS exit_code "
        "ORDER BY ts DESC, container",
        (_DAYS,),
        _with(type="ContainerDied"),
    ),
)
QUERIES.update({q.name: q for q in CONTAINER_QUERIES})


# The services and security domains (journald, metrics, health). "today" is since midnight UTC.
def _since_hours(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    """hours/minutes -> since (hours = 0: since midnight UTC today); service -> unit names to match."""
    out = {k: v for k, v in p.items() if k not in ("hours", "minutes", "service", "level")}
    if "minutes" in p:
        out["since"] = now - timedelta(minutes=int(p["minutes"]))
    elif int(p["hours"]) > 0:
        out["since"] = now - timedelta(hours=int(p["hours"]))
    else:
        out["since"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if "level" in p:
        level = str(p["level"])
        out["levels"] = ["error", "warning"] if level == "any" else [level]
    if "service" in p:
        name = str(p["service"])
        # "nginx" finds nginx.service; a full unit name (nginx.service, foo.socket) finds itself.
        out["unit"], out["unit_service"] = name, name if "." in name else f"{name}.service"
    return out


_SERVICE = Param("service", str, None, "unit name (nginx or nginx.service)")
SERVICE_QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "services-high-cpu",
        "Which services are using >90% CPU? (latest sample within the last N minutes; 100 = one core)",
        "MATCH (s:Service) WHERE s.cpu_percent > $threshold AND s.metrics_at >= $since "
        "RETURN s.host AS host, s.name AS service, s.cpu_percent AS cpu_percent, s.rss_bytes AS rss_bytes, "
        "s.metrics_at AS at ORDER BY cpu_percent DESC, host, service",
        (
            Param("threshold", int, 90, "CPU percent"),
            Param("minutes", int, 5, "only samples this recent"),
        ),
        _since_hours,
    ),
    NamedQuery(
        "service-logs",
        "Show nginx error logs from today (--param service=NAME, level=error|warning|any, hours=N)",
        "MATCH (l:LogEvent)-[:LOGGED_BY]->(s:Service) "
        "WHERE (s.name = $unit OR s.name = $unit_service) AND l.ts >= $since "
        "AND l.level IN $levels "
        "RETURN l.ts AS ts, s.host AS host, s.name AS service, l.level AS level, l.priority AS priority, "
        "l.message AS message, l.suppressed AS suppressed ORDER BY ts DESC LIMIT $limit",
        (
            _SERVICE,
            Param("level", str, "error", "error, warning or any"),
            Param("hours", int, 0, "look back this many hours (0: today)"),
            Param("limit", int, 200, "at most this many rows"),
        ),
        _since_hours,
    ),
    NamedQuery(
        "services-restarted",
        "What services restarted in the last hour? (restart jobs, scheduled restarts, auto-restarts)",
        "MATCH (e:Event)-[:ACTED_ON]->(s:Service) WHERE e.ts >= $since "
        "AND e.action IN $actions "
        "RETURN s.host AS host, s.name AS service, count(e) AS restarts, max(e.ts) AS last_restart, "
        "s.state AS state, s.restarts AS restart_counter ORDER BY restarts DESC, host, service",
        (Param("minutes", int, 60, "look back this many minutes"),),
        lambda p, now: {**_since_hours(p, now), "actions": ["restart", "restart-scheduled", "auto-restart"]},
    ),
    NamedQuery(
        "service-memory",
        "Graph memory usage for postgres over the last 24 h (one row per minute sampled)",
        "MATCH (m:ServiceMetrics)-[:METRICS_FOR]->(s:Service) "
        "WHERE (s.name = $unit OR s.name = $unit_service) AND m.ts >= $since "
        "RETURN m.ts AS ts, s.host AS host, s.name AS service, m.rss_bytes AS rss_bytes, "
        "m.cpu_percent AS cpu_percent, m.processes AS processes ORDER BY ts, host",
        (_SERVICE, Param("hours", int, 24, "look back this many hours (0: today)")),
        _since_hours,
    ),
    NamedQuery(
        "failed-logins-by-ip",
        "Failed logins in the last 24 h by source IP",
        "MATCH (l:Login) WHERE l.success = false AND l.ts >= $since "
        "RETURN l.source_ip AS source_ip, sum(coalesce(l.count, 1)) AS attempts, "
        "count(DISTINCT l.user) AS users, "
        "min(l.ts) AS first, max(l.ts) AS last ORDER BY attempts DESC, source_ip",
        (Param("hours", int, 24, "look back this many hours (0: today)"),),
        _since_hours,
    ),
    NamedQuery(
        "sudo-by-user",
        "Sudo commands by user today (allowed and refused)",
        "MATCH (c:SudoCommand)-[:BY_USER]->(u:User) WHERE c.ts >= $since "
        "RETURN u.name AS user, c.ts AS ts, c.host AS host, c.target_user AS target_user, "
        "c.command AS command, c.cwd AS cwd, c.tty AS tty, c.allowed AS allowed "
        "ORDER BY user, ts",
        (Param("hours", int, 0, "look back this many hours (0: today)"),),
        _since_hours,
    ),
)
QUERIES.update({q.name: q for q in SERVICE_QUERIES})


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
