"""Event types: frozen payload models, their registry and the upcasters of older versions."""

from schemas.events.base import (
    EventPayload,
    UnknownEventType,
    decode_payload,
    event_types,
    register,
    upcaster,
)
from schemas.events.packages import (
    PACKAGE_EVENT_BY_ACTION,
    PackageAction,
    PackageChanged,
    PackageChangeObserved,
    PackageDowngraded,
    PackageInstalled,
    PackagePurged,
    PackageReinstalled,
    PackageRemoved,
    PackageSource,
    PackageUpgraded,
    ecosystem_of,
)

__all__ = [
    "PACKAGE_EVENT_BY_ACTION",
    "EventPayload",
    "PackageAction",
    "PackageChangeObserved",
    "PackageChanged",
    "PackageDowngraded",
    "PackageInstalled",
    "PackagePurged",
    "PackageReinstalled",
    "PackageRemoved",
    "PackageSource",
    "PackageUpgraded",
    "UnknownEventType",
    "decode_payload",
    "ecosystem_of",
    "event_types",
    "register",
    "upcaster",
]
