"""Which decide function handles which raw event type, and where its decisions go (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from processors import packages
from processors.tables import Table
from schemas.envelope import Envelope
from schemas.events import EventPayload, PackageChangeObserved, UnknownEventType, decode_payload
from schemas.topics import EVENTS_PACKAGES, RAW_PACKAGES, Topic

Decide = Callable[[Envelope, EventPayload, Table], list[Envelope]]

# What undecodable input raises; hosts send such records to the dead-letter topic with the reason.
DECODE_ERRORS = (ValidationError, UnknownEventType, ValueError, TypeError, KeyError)


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

    def handle(self, value: bytes, table: Table) -> list[Envelope]:
        """Decode one raw record (upcasting older versions) and decide; raises one of DECODE_ERRORS.

        Both hosts (the embedded pipeline and the Faust agents) call exactly this.
        """
        env = Envelope.from_json(value)
        payload = decode_payload(env.type, env.schema_version, env.payload)
        decide = self.decide.get(env.type)
        if decide is None:
            raise UnknownEventType(f"{self.name} does not handle {env.type}")
        return decide(env, payload, table)


ROUTES: tuple[Route, ...] = (
    Route(
        name=packages.SOURCE,
        source=RAW_PACKAGES,
        sink=EVENTS_PACKAGES,
        table="packages",
        decide={PackageChangeObserved.TYPE: _packages},
    ),
)
