"""The query catalog: every question the product promises, as each domain declares it, collected.

A domain's questions live in projections/queries/<domain>.py (the declaration: projections/named.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from projections.named import INT_RANGE, CatalogError, NamedQuery, ParamOutOfRange
from projections.queries import (
    alerts,
    backups,
    commands,
    configfiles,
    containers,
    exposure,
    fido2,
    mcp,
    network,
    obsidian,
    packages,
    permissions,
    resources,
    retention,
    runners,
    security,
    services,
    timetravel,
    vulnerabilities,
)

# One line per domain: a new domain adds its questions here. The order is the order of `query --list`.
QUERIES: dict[str, NamedQuery] = {
    q.name: q
    for q in (
        *packages.QUERIES,
        *commands.QUERIES,
        *network.QUERIES,
        *containers.QUERIES,
        *services.QUERIES,
        *security.QUERIES,
        *mcp.QUERIES,
        *obsidian.QUERIES,
        *resources.QUERIES,
        *alerts.QUERIES,
        *configfiles.QUERIES,
        *backups.QUERIES,
        *retention.QUERIES,
        *runners.QUERIES,
        *vulnerabilities.QUERIES,
        *permissions.QUERIES,
        *exposure.QUERIES,
        *fido2.QUERIES,
        *timetravel.QUERIES,
    )
}

__all__ = ["INT_RANGE", "QUERIES", "CatalogError", "NamedQuery", "ParamOutOfRange", "resolve"]


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
        if p.type is int and not INT_RANGE[0] <= values[p.name] <= INT_RANGE[1]:
            raise ParamOutOfRange(
                f"{name}: parameter {p.name!r} must be between {INT_RANGE[0]} and {INT_RANGE[1]:,}"
            )
    return q.cypher, q.prepare(values, now)
