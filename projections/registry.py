"""Which projection turns which domain event type into graph operations (pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from projections import commands, containers, network, packages, security, services
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
from schemas.events.network import NETWORK_EVENT_TYPES
from schemas.events.security import SECURITY_EVENTS
from schemas.events.services import SERVICE_EVENTS

Project = Callable[[Envelope, EventPayload], list[GraphOp]]


P = TypeVar("P", bound=EventPayload)


def typed(cls: type[P], fn: Callable[[Envelope, P], list[GraphOp]]) -> Project:
    """A project function for one payload class, as the registry calls it (any payload)."""

    def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
        if not isinstance(payload, cls):
            raise TypeError(f"{fn.__module__}.{fn.__name__} got {type(payload).__name__}")
        return fn(event, payload)

    return project


PROJECTORS: dict[str, Project] = {
    cls.TYPE: typed(PackageChanged, packages.project) for cls in PACKAGE_EVENT_BY_ACTION.values()
}
_project_commands = typed(CommandOutcome, commands.project)
PROJECTORS.update({cls.TYPE: _project_commands for cls in OUTCOME_TYPES})
# The containers domain: one pure project() for all its types (it dispatches on the payload's class).
_CONTAINER_TYPES = (*CONTAINER_EVENTS, *IMAGE_EVENTS, *VOLUME_EVENTS, *ENDPOINT_EVENTS)
PROJECTORS.update({cls.TYPE: containers.project for cls in _CONTAINER_TYPES})
# The services and security domains (journald, metrics, health): one project() each, by payload class.
PROJECTORS.update({cls.TYPE: services.project for cls in SERVICE_EVENTS})
PROJECTORS.update({cls.TYPE: security.project for cls in SECURITY_EVENTS})
# The network domain: one pure project() for all its types (it dispatches on the payload's class).
PROJECTORS.update({cls.TYPE: network.project for cls in NETWORK_EVENT_TYPES})
