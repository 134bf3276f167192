"""Which projection turns which domain event type into graph operations (pure)."""

from __future__ import annotations

from collections.abc import Callable

from projections import commands, containers, packages, security, services
from projections.graph_ops import GraphOp
from schemas.envelope import Envelope
from schemas.events import (
    OUTCOME_TYPES,
    PACKAGE_EVENT_BY_ACTION,
    CommandOutcome,
    EventPayload,
    PackageChanged,
)
from schemas.events.containers import CONTAINER_EVENTS, ENDPOINT_EVENTS, IMAGE_EVENTS, VOLUME_EVENTS
from schemas.events.security import SECURITY_EVENTS
from schemas.events.services import SERVICE_EVENTS

Project = Callable[[Envelope, EventPayload], list[GraphOp]]


def _packages(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if not isinstance(payload, PackageChanged):
        raise TypeError(f"package projection got {type(payload).__name__}")
    return packages.project(event, payload)


def _commands(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if not isinstance(payload, CommandOutcome):
        raise TypeError(f"command projection got {type(payload).__name__}")
    return commands.project(event, payload)


PROJECTORS: dict[str, Project] = {cls.TYPE: _packages for cls in PACKAGE_EVENT_BY_ACTION.values()}
PROJECTORS.update({cls.TYPE: _commands for cls in OUTCOME_TYPES})
# The containers domain: one pure project() for all its types (it dispatches on the payload's class).
_CONTAINER_TYPES = (*CONTAINER_EVENTS, *IMAGE_EVENTS, *VOLUME_EVENTS, *ENDPOINT_EVENTS)
PROJECTORS.update({cls.TYPE: containers.project for cls in _CONTAINER_TYPES})
# The services and security domains (journald, metrics, health): one project() each, by payload class.
PROJECTORS.update({cls.TYPE: services.project for cls in SERVICE_EVENTS})
PROJECTORS.update({cls.TYPE: security.project for cls in SECURITY_EVENTS})

# The network domain: one pure project() for all its types (it dispatches on the payload's class).
from projections import network as _network  # noqa: E402
from schemas.events.network import NETWORK_EVENT_TYPES  # noqa: E402

PROJECTORS.update({cls.TYPE: _network.project for cls in NETWORK_EVENT_TYPES})
