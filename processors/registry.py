"""Which decide function handles which raw event type, and where its decisions go (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from processors import containers, network, packages, security, services
from processors.tables import Table
from schemas.envelope import Envelope
from schemas.events import EventPayload, PackageChangeObserved, UnknownEventType, decode_payload, is_command
from schemas.events.commands import COMMANDS
from schemas.events.containers import (
    EVENTS_CONTAINERS,
    RAW_CONTAINERS,
    DockerEventObserved,
    DockerStateObserved,
)
from schemas.events.network import EVENTS_NETWORK, RAW_NETWORK, NetworkStateObserved
from schemas.events.packages import EVENTS_PACKAGES, RAW_PACKAGES
from schemas.events.security import EVENTS_SECURITY
from schemas.events.services import (
    EVENTS_SERVICES,
    RAW_JOURNAL,
    RAW_SERVICES,
    HealthCheckObserved,
    JournalEntryObserved,
    ServiceMetricsObserved,
)
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


ROUTES: tuple[Route, ...] = (
    Route(
        name=packages.SOURCE,
        source=RAW_PACKAGES,
        sink=EVENTS_PACKAGES,
        table="packages",
        decide={PackageChangeObserved.TYPE: typed(PackageChangeObserved, packages.decide)},
    ),
    Route(
        name=containers.SOURCE,
        source=RAW_CONTAINERS,
        sink=EVENTS_CONTAINERS,
        table="containers",
        decide={
            DockerEventObserved.TYPE: typed(DockerEventObserved, containers.decide_event),
            DockerStateObserved.TYPE: typed(DockerStateObserved, containers.decide_state),
        },
    ),
    Route(
        name=network.SOURCE,
        source=RAW_NETWORK,
        sink=EVENTS_NETWORK,
        table="network",
        decide={NetworkStateObserved.TYPE: typed(NetworkStateObserved, network.decide)},
    ),
    # The journal feeds two processors (two consumer groups): service lifecycle/logs and security.
    Route(
        name=services.SOURCE,
        source=RAW_JOURNAL,
        sink=EVENTS_SERVICES,
        table="services",
        decide={JournalEntryObserved.TYPE: typed(JournalEntryObserved, services.decide_journal)},
    ),
    Route(
        name=security.SOURCE,
        source=RAW_JOURNAL,
        sink=EVENTS_SECURITY,
        table="security",
        decide={JournalEntryObserved.TYPE: typed(JournalEntryObserved, security.decide)},
    ),
    Route(
        name=services.HEALTH_SOURCE,
        source=RAW_SERVICES,
        sink=EVENTS_SERVICES,
        table="services-health",
        decide={
            ServiceMetricsObserved.TYPE: typed(ServiceMetricsObserved, services.decide_metrics),
            HealthCheckObserved.TYPE: typed(HealthCheckObserved, services.decide_health),
        },
    ),
)
