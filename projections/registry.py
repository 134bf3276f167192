"""Every projection of every domain, as each domain declares it (its module's PROJECTORS), collected."""

from __future__ import annotations

from projections import (
    commands,
    containers,
    exposure,
    network,
    packages,
    permissions,
    security,
    services,
    vulnerabilities,
)
from projections.projecting import Project

# One line per domain: a new domain adds its module's PROJECTORS here.
PROJECTORS: dict[str, Project] = {
    **packages.PROJECTORS,
    **commands.PROJECTORS,
    **containers.PROJECTORS,
    **services.PROJECTORS,
    **security.PROJECTORS,
    **network.PROJECTORS,
    **vulnerabilities.PROJECTORS,
    **permissions.PROJECTORS,
    **exposure.PROJECTORS,
}
