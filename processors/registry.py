"""Every processor of every domain, as each domain declares it (its module's ROUTES), collected."""

from __future__ import annotations

from processors import (
    containers,
    exposure,
    network,
    packages,
    permissions,
    security,
    services,
    vulnerabilities,
)
from processors.routing import Route

# One line per domain: a new domain appends its module's ROUTES here.
ROUTES: tuple[Route, ...] = (
    *packages.ROUTES,
    *containers.ROUTES,
    *network.ROUTES,
    *services.ROUTES,
    *security.ROUTES,
    *vulnerabilities.ROUTES,
    *permissions.ROUTES,
    *exposure.ROUTES,
)
