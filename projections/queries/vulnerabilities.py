"""The vulnerabilities domain's questions: CVEs of installed packages, pending and installed security
updates. A Finding is one vulnerability on one package of one host, `open` or `fixed`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.named import CatalogError, NamedQuery, Param, since, with_constants

_SEVERITIES = ("critical", "high", "medium", "low")


def _at_least(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    """severity -> that severity and the ones above it."""
    level = str(p.get("severity", "critical")).lower()
    if level not in _SEVERITIES:
        raise CatalogError(f"severity must be one of {', '.join(_SEVERITIES)}")
    out = {k: v for k, v in p.items() if k != "severity"}
    out["severities"] = list(_SEVERITIES[: _SEVERITIES.index(level) + 1])
    out["open"] = "open"
    return out


def _installed_since(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**since(p, now), "action": "fixed:upgraded"}


QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "critical-cves",
        "Which installed packages have critical CVEs? (severity: this one and above)",
        "MATCH (f:Finding)-[:FINDING_OF]->(v:Vulnerability) "
        "WHERE f.state = $open AND f.severity IN $severities "
        "RETURN f.host AS host, f.package AS package, f.version AS version, f.source AS source, "
        "v.id AS vulnerability, v.aliases AS aliases, f.severity AS severity, f.cvss AS cvss, "
        "f.fixed_version AS fixed_version, f.found_at AS since "
        "ORDER BY host, package, vulnerability",
        (Param("severity", str, "critical", "critical, high, medium or low"),),
        _at_least,
    ),
    NamedQuery(
        "pending-security-updates",
        "Pending security updates: installed packages with a known fixed version not installed yet",
        "MATCH (f:Finding)-[:FINDING_OF]->(v:Vulnerability) "
        "WHERE f.state = $open AND f.fixed_version IS NOT NULL "
        "RETURN f.host AS host, f.package AS package, f.version AS installed, "
        "f.fixed_version AS fixed_version, count(v) AS vulnerabilities, "
        "collect(v.id) AS ids, min(f.found_at) AS pending_since "
        "ORDER BY host, package, fixed_version",
        (),
        with_constants(open="open"),
    ),
    NamedQuery(
        "security-updates-installed",
        "Security updates installed this month (an upgrade reached a fixed version; the last N days)",
        "MATCH (e:Event)-[:ACTED_ON]->(f:Finding) "
        "WHERE e.action = $action AND e.ts >= $since "
        "RETURN e.ts AS ts, f.host AS host, f.package AS package, e.version AS version, "
        "f.vulnerability AS vulnerability, f.severity AS severity ORDER BY ts DESC, package, vulnerability",
        (Param("days", int, 30, "look back this many days"),),
        _installed_since,
    ),
)
