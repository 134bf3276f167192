"""The packages domain's questions (apt, dpkg, dnf, dnf5, brew)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.named import DAYS, NamedQuery, Param, since


def _name_prefixes(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    # The exact name by default (docker-ce is not docker); with prefix=true, "docker" also finds
    # docker.io and docker-ce, but not dockerfile-mode.
    return {
        "name": p["name"],
        "prefix": str(p["prefix"]).lower() in ("true", "1", "yes"),
        "dash": p["name"] + "-",
        "dot": p["name"] + ".",
        "limit": p["limit"],
    }


def _lower_since(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = since(p, now)
    out["term"] = str(p["term"]).lower()
    return out


QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "installed-this-week",
        "What was installed this week?",
        "MATCH (e:Event)-[:ACTED_ON]->(s:Software) "
        "WHERE e.action = 'install' AND e.ts >= $since "
        "RETURN e.ts AS ts, e.host AS host, e.package_name AS package, e.version AS version, "
        "e.arch AS arch, e.ecosystem AS ecosystem, e.automatic AS automatic, e.source AS source "
        "ORDER BY ts DESC, package",
        (DAYS,),
        since,
    ),
    NamedQuery(
        "last-updated",
        "When was docker last updated? (any package: --param name=NAME)",
        "MATCH (e:Event)-[:ACTED_ON]->(s:Software) "
        "WHERE e.action IN ['install', 'upgrade', 'downgrade', 'reinstall'] "
        "AND (s.name = $name OR ($prefix AND (s.name STARTS WITH $dash OR s.name STARTS WITH $dot))) "
        "RETURN e.ts AS ts, e.host AS host, s.name AS package, e.action AS action, "
        "e.old_version AS old_version, e.version AS version, e.requested_by AS requested_by "
        "ORDER BY ts DESC, package LIMIT $limit",
        (
            Param("name", str, "docker", "package name"),
            Param("prefix", str, "false", "true: also names starting name- or name. (docker.io, docker-ce)"),
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
        since,
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
            DAYS,
            Param("name", str, "", "exact package name ('' = any)"),
            Param(
                "action",
                str,
                "",
                "install|upgrade|downgrade|reinstall|remove|purge, or what only the package database"
                " told: observed-installed|observed-removed|observed-purged ('' = any)",
            ),
            Param("source", str, "", "apt|dpkg|dnf|dnf-rpm|dnf5|brew|dpkg-status|rpmdb ('' = any)"),
            Param("limit", int, 1000, "at most this many rows"),
        ),
        since,
    ),
)
