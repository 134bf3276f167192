"""Which decide function handles which raw event type, and where its decisions go (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from processors import packages
from processors.tables import Table
from schemas.envelope import Envelope
from schemas.events import EventPayload, PackageChangeObserved
from schemas.topics import EVENTS_PACKAGES, RAW_PACKAGES, Topic

Decide = Callable[[Envelope, EventPayload, Table], list[Envelope]]


def _packages(raw: Envelope, payload: EventPayload, table: Table) -> list[Envelope]:
    if not isinstance(payload, PackageChangeObserved):
        raise TypeError(f"packages processor got {type(payload).__name__}")
    return packages.decide(raw, payload, table)


@dataclass(frozen=True)
class Route:
    """A processor: consumes `source` topic as consumer group `name`, writes decisions to `sink`."""

    name: str
    source: Topic
    sink: Topic
    table: str
    decide: dict[str, Decide]


ROUTES: tuple[Route, ...] = (
    Route(
        name=packages.SOURCE,
        source=RAW_PACKAGES,
        sink=EVENTS_PACKAGES,
        table="packages",
        decide={PackageChangeObserved.TYPE: _packages},
    ),
)
