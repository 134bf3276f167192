"""Each domain's part of the shell: its settings section, the sources it builds from them, and what
`watchman config check` says of it. The settings, the wiring and the CLI collect them."""

from __future__ import annotations

from types import ModuleType

from watchman.domains import (
    alerts,
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
    services,
    timetravel,
    vulnerabilities,
)

# One entry per domain that observes something on the host (in the order sources are polled).
DOMAINS: tuple[ModuleType, ...] = (
    packages,
    containers,
    network,
    services,
    mcp,
    obsidian,
    resources,
    alerts,
    configfiles,
    backups,
    runners,
    vulnerabilities,
    permissions,
    exposure,
    fido2,
    timetravel,
    retention,
)
