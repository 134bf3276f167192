"""Which projection turns which domain event type into graph operations (pure)."""

from __future__ import annotations

from collections.abc import Callable

from projections import packages
from projections.graph_ops import GraphOp
from schemas.envelope import Envelope
from schemas.events import PACKAGE_EVENT_BY_ACTION, EventPayload, PackageChanged

Project = Callable[[Envelope, EventPayload], list[GraphOp]]


def _packages(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if not isinstance(payload, PackageChanged):
        raise TypeError(f"package projection got {type(payload).__name__}")
    return packages.project(event, payload)


PROJECTORS: dict[str, Project] = {cls.TYPE: _packages for cls in PACKAGE_EVENT_BY_ACTION.values()}
