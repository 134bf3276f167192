"""Event types: frozen payload models, their registry and the upcasters of older versions."""

from schemas.events.base import (
    EventPayload,
    UnknownEventType,
    decode_payload,
    event_types,
    register,
    upcaster,
)
from schemas.events.commands import (
    OUTCOME_TYPES,
    CommandFailed,
    CommandOutcome,
    CommandPayload,
    CommandRejected,
    CommandSucceeded,
    RebuildGraph,
    RestartService,
    TriggerScan,
    command_envelope,
    command_types,
    is_command,
    outcome_envelope,
    register_command,
)
from schemas.events.packages import (
    OBSERVED_EVENT_BY_STATE,
    PACKAGE_EVENT_BY_ACTION,
    PackageAction,
    PackageChanged,
    PackageChangeObserved,
    PackageDowngraded,
    PackageInstalled,
    PackageInventoried,
    PackageObserved,
    PackageObservedInstalled,
    PackageObservedRemoved,
    PackagePurged,
    PackageReinstalled,
    PackageRemoved,
    PackageSource,
    PackageUpgraded,
    ecosystem_of,
)

# The network domain's types (imported from schemas.events.network by its users) register on import.
import schemas.events.network  # isort: skip

# The containers domain's types (Docker; imported from schemas.events.containers) register on import.
import schemas.events.containers  # isort: skip
import schemas.events.runners  # isort: skip  # the runners domain's types register on import

# The services and security domains' types (journald, metrics, health) register on import.
import schemas.events.security  # isort: skip
import schemas.events.services  # isort: skip

# The MCP domain's types (MCP servers; imported from schemas.events.mcp) register on import.
import schemas.events.mcp  # isort: skip

# The Obsidian vault sync domain's types (imported from schemas.events.obsidian) register on import.
import schemas.events.obsidian  # isort: skip

# Alert delivery's own record (AlertDelivered) registers on import.
import schemas.events.alerts  # isort: skip

# Host resources (psutil samples, rollups, thresholds) register on import.
import schemas.events.resources  # isort: skip

# The configfiles domain's types (config files: versions, validation, drift, rollback) register on import.
import schemas.events.configfiles  # isort: skip

# The backups domain's types and the scheduler's record register on import.
import schemas.events.backups  # isort: skip
import schemas.events.scheduler  # isort: skip
import schemas.events.exposure  # isort: skip
import schemas.events.fido2  # isort: skip
import schemas.events.permissions  # isort: skip
import schemas.events.vulnerabilities  # isort: skip
import schemas.events.retention  # noqa: F401  # isort: skip

__all__ = [
    "OBSERVED_EVENT_BY_STATE",
    "OUTCOME_TYPES",
    "PACKAGE_EVENT_BY_ACTION",
    "CommandFailed",
    "CommandOutcome",
    "CommandPayload",
    "CommandRejected",
    "CommandSucceeded",
    "EventPayload",
    "PackageAction",
    "PackageChangeObserved",
    "PackageChanged",
    "PackageDowngraded",
    "PackageInstalled",
    "PackageInventoried",
    "PackageObserved",
    "PackageObservedInstalled",
    "PackageObservedRemoved",
    "PackagePurged",
    "PackageReinstalled",
    "PackageRemoved",
    "PackageSource",
    "PackageUpgraded",
    "RebuildGraph",
    "RestartService",
    "TriggerScan",
    "UnknownEventType",
    "command_envelope",
    "command_types",
    "decode_payload",
    "ecosystem_of",
    "event_types",
    "is_command",
    "outcome_envelope",
    "register",
    "register_command",
    "upcaster",
]
