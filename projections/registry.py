"""Every projection of every domain, as each domain declares it (its module's PROJECTORS), collected."""

from __future__ import annotations

from projections import (
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
    scheduler,
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
    **runners.PROJECTORS,
    **services.PROJECTORS,
    **security.PROJECTORS,
    **network.PROJECTORS,
    **mcp.PROJECTORS,
    **obsidian.PROJECTORS,
    **alerts.PROJECTORS,
    **resources.PROJECTORS,
    **configfiles.PROJECTORS,
    **backups.PROJECTORS,
    **retention.PROJECTORS,
    **scheduler.PROJECTORS,
    **vulnerabilities.PROJECTORS,
    **permissions.PROJECTORS,
    **exposure.PROJECTORS,
    **fido2.PROJECTORS,
}
