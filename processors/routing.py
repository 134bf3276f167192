"""How a processor is declared: the raw topic it reads, a decide function per raw event type, its sink."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from processors.tables import Table
from schemas.envelope import Envelope
from schemas.events import EventPayload, UnknownEventType, decode_payload, is_command
from schemas.events.commands import COMMANDS
from schemas.model import Topic

Decide = Callable[[Envelope, EventPayload, Table], list[Envelope]]

# What undecodable input raises; hosts send such records to the dead-letter topic with the reason.
DECODE_ERRORS = (ValidationError, UnknownEventType, ValueError, TypeError, KeyError)


P = TypeVar("P", bound=EventPayload)


def typed(cls: type[P], fn: Callable[[Envelope, P, Table], list[Envelope]]) -> Decide:
    """A decide function for one payload class, as the registry calls it (any payload): a payload of
    another class is a TypeError, which the hosts send to the dead-letter topic."""

    def decide(raw: Envelope, payload: EventPayload, table: Table) -> list[Envelope]:
        if not isinstance(payload, cls):
            raise TypeError(f"{fn.__module__}.{fn.__name__} got {type(payload).__name__}")
        return fn(raw, payload, table)

    return decide


@dataclass(frozen=True)
class Route:
    """A processor: consumes `source` topic as consumer group `name`, writes decisions to `sink`
    (and commands its policies issue, e.g. RestartService, to the command topic)."""

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

    def sink_for(self, out: Envelope) -> Topic:
        return COMMANDS if is_command(out.type) else self.sink

    @property
    def sinks(self) -> tuple[Topic, ...]:
        return (self.sink, COMMANDS)
