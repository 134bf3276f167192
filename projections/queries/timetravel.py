"""The timetravel domain's questions: what changed before a service failed, what an upgrade affected,
and every domain's changes in one list. Any of them answers as the graph was at a time with --at."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from projections.named import NamedQuery, Param, with_constants

FAILURES = ["ServiceFailed", "ServiceOOMKilled"]


def _before_failure(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    name = str(p["service"])
    return {
        # Event subjects are entity keys: host/unit for a service.
        "unit": "/" + (name if "." in name else f"{name}.service"),
        "failures": FAILURES,
        "since": now - timedelta(minutes=int(p["minutes"])),
        "limit": int(p["limit"]),
    }


def _hours(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"since": now - timedelta(hours=int(p["hours"])), "limit": int(p["limit"])}


QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "changed-before-failure",
        "What changed on the host before SERVICE last failed? (changes in the last N minutes before its "
        "latest failure; `watchman why` ranks them)",
        "MATCH (f:Event) WHERE f.subject ENDS WITH $unit AND f.type IN $failures AND f.ts >= $since "
        "WITH f.host AS host, max(f.ts) AS failed_at "
        "MATCH (e:Event) WHERE e.host = host AND e.ts <= failed_at AND e.ts >= $since "
        "AND NOT e.subject ENDS WITH $unit "
        "RETURN failed_at, e.ts AS ts, e.type AS type, e.subject AS subject, e.summary AS summary "
        "ORDER BY ts DESC LIMIT $limit",
        (
            Param("service", str, None, "the unit, e.g. nginx or nginx.service"),
            Param("minutes", int, 1440, "how far back from now a failure and its changes may lie"),
            Param("limit", int, 50, "at most this many changes"),
        ),
        _before_failure,
    ),
    NamedQuery(
        "upgrade-affected",
        "What did an upgrade of PACKAGE affect? (its config files, the units and ports of its sockets, "
        "and the package's own changes)",
        "MATCH (s:Software) WHERE s.name = $package "
        "RETURN $k_package AS kind, s.host AS host, s.name AS what, s.version AS detail "
        "UNION ALL MATCH (c:ConfigFile) WHERE c.package = $package "
        "RETURN $k_config AS kind, c.host AS host, c.path AS what, c.state AS detail "
        "UNION ALL MATCH (l:ListeningSocket) WHERE l.package = $package "
        "RETURN $k_socket AS kind, l.host AS host, l.unit AS what, l.key AS detail",
        (Param("package", str, None, "the package name, e.g. nginx"),),
        with_constants(k_package="package", k_config="config file", k_socket="listening socket"),
    ),
    NamedQuery(
        "timeline",
        "Every domain's changes in the last N hours, oldest first (`watchman timeline` reads the log)",
        "MATCH (e:Event) WHERE e.ts >= $since "
        "RETURN e.ts AS ts, e.host AS host, e.type AS type, e.subject AS subject, e.summary AS summary "
        "ORDER BY ts LIMIT $limit",
        (
            Param("hours", int, 24, "look back this many hours"),
            Param("limit", int, 1000, "at most this many"),
        ),
        _hours,
    ),
)
