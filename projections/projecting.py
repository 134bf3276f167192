"""How a projection is declared: a pure function per domain event type that returns graph operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from projections.graph_ops import GraphOp
from schemas.envelope import Envelope
from schemas.events import EventPayload

Project = Callable[[Envelope, EventPayload], list[GraphOp]]


P = TypeVar("P", bound=EventPayload)


def typed(cls: type[P], fn: Callable[[Envelope, P], list[GraphOp]]) -> Project:
    """A project function for one payload class, as the registry calls it (any payload)."""

    def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
        if not isinstance(payload, cls):
            raise TypeError(f"{fn.__module__}.{fn.__name__} got {type(payload).__name__}")
        return fn(event, payload)

    return project
