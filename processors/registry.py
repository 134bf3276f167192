"""Every processor of every domain, as each domain declares it (its module's ROUTES), collected."""

from __future__ import annotations

from processors import (
    backups,
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
    scheduler,
    security,
    services,
    vulnerabilities,
)
from processors.routing import Route

# One line per domain: a new domain appends its module's ROUTES here.
ROUTES: tuple[Route, ...] = (
    *packages.ROUTES,
    *containers.ROUTES,
    *runners.ROUTES,
    *network.ROUTES,
    *services.ROUTES,
    *security.ROUTES,
    *mcp.ROUTES,
    *obsidian.ROUTES,
    *resources.ROUTES,
    *configfiles.ROUTES,
    *backups.ROUTES,
    *retention.ROUTES,
    *scheduler.ROUTES,
    *vulnerabilities.ROUTES,
    *permissions.ROUTES,
    *exposure.ROUTES,
    *fido2.ROUTES,
)
