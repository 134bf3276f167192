"""The configfiles domain's questions: what changed, what is invalid, a file's history, changed conffiles, and
which config changes came before a service failed (a cross-domain question, asked of the graph)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.named import NamedQuery, Param, since_hours

_HOURS_TODAY = Param("hours", int, 0, "look back this many hours (0: since midnight UTC)")


def _with(**constants: Any) -> Any:
    def prepare(p: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {**since_hours(p, now), **constants}

    return prepare


QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "config-changed-today",
        "What config changed today? (files changed, created or removed; hours=N for the last N hours)",
        "MATCH (v:ConfigVersion)-[:VERSION_OF]->(c:ConfigFile) WHERE v.ts >= $since AND v.via <> $initial "
        "RETURN v.ts AS ts, c.host AS host, c.path AS path, c.app AS app, v.change AS change, "
        "v.lines_added AS lines_added, v.lines_removed AS lines_removed, v.caused_by AS caused_by, "
        "v.rev AS rev ORDER BY ts DESC, path",
        (_HOURS_TODAY,),
        _with(initial="initial"),
    ),
    NamedQuery(
        "configs-invalid",
        "Which configs are invalid? (the last check of each file refused it)",
        "MATCH (c:ConfigFile) WHERE c.valid = $no AND c.state = $present "
        "RETURN c.host AS host, c.path AS path, c.app AS app, c.checker AS checker, "
        "c.validation_message AS message, c.checked_at AS checked_at ORDER BY host, path",
        (),
        lambda p, now: {"no": False, "present": "present"},
    ),
    NamedQuery(
        "config-history",
        "History of a config file (e.g. -p path=/etc/nginx/nginx.conf), newest first",
        "MATCH (v:ConfigVersion)-[:VERSION_OF]->(c:ConfigFile) WHERE c.path = $path "
        "RETURN v.ts AS ts, c.host AS host, v.change AS change, v.sha256 AS sha256, "
        "v.old_sha256 AS old_sha256, v.lines_added AS lines_added, v.lines_removed AS lines_removed, "
        "v.rev AS rev, v.caused_by AS caused_by, v.via AS via ORDER BY ts DESC",
        (Param("path", str, None, "the file's path on the host"),),
    ),
    NamedQuery(
        "conffiles-changed",
        "Which package conffiles did I change? (differ from the checksum their package installed)",
        "MATCH (c:ConfigFile)-[:PROVIDED_BY]->(s:Software) "
        "WHERE c.package_modified = $yes AND s.name = c.package "
        "RETURN c.host AS host, c.path AS path, c.package AS package, s.version AS version, "
        "c.last_changed AS last_changed, c.package_at AS found_at ORDER BY host, path",
        (),
        lambda p, now: {"yes": True},
    ),
    NamedQuery(
        "config-changes-before-failure",
        "What changed in configs before SERVICE failed? (the changes within `hours` before its last failure)",
        "MATCH (f:Event)-[:ACTED_ON]->(s:Service) WHERE f.type = $failed AND f.ts >= $since "
        "AND (s.name = $unit OR s.name = $unit_service) "
        "WITH s.host AS host, max(f.ts) AS failed_at "
        "MATCH (v:ConfigVersion)-[:VERSION_OF]->(c:ConfigFile) "
        "WHERE v.host = host AND v.ts <= failed_at AND v.ts >= $since AND v.via <> $initial "
        "RETURN failed_at, v.ts AS ts, c.path AS path, c.app AS app, v.change AS change, "
        "v.lines_added AS lines_added, v.lines_removed AS lines_removed, v.rev AS rev, "
        "v.caused_by AS caused_by ORDER BY ts DESC",
        (
            Param("service", str, None, "unit name (nginx or nginx.service)"),
            Param("hours", int, 24, "how far back before the failure to look"),
        ),
        _with(failed="ServiceFailed", initial="initial"),
    ),
)
