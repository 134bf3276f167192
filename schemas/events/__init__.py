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

# The services and security domains' types (journald, metrics, health) register on import.
import schemas.events.security  # isort: skip
import schemas.events.services  # isort: skip
import schemas.events.exposure  # isort: skip
import schemas.events.permissions  # isort: skip
import schemas.events.vulnerabilities  # noqa: F401  # isort: skip

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
