"""The declarative building blocks every domain uses: topics, node labels, properties, relationship types.

The graph schema: node labels with their key and typed properties, relationship types with endpoints.

Store DDL, constraints and upsert statements are generated from these declarations, never written by hand.
Each property says how a new value merges with the stored one, so every store applies the same rules:
  set     the new value replaces the old one
  min     keep the smaller (first_seen)
  max     keep the larger (last_seen)
  latest  replace only when the operation's time is not older than the node's `updated_at`
          (so an old event replayed late cannot roll current state back)

A `latest` property that only some events tell (Software.automatic: only an install told by apt or dnf)
names a `clock`, a TIMESTAMP property of its own that holds the time of the value it shows, and is
compared with that instead of `updated_at`. Otherwise the value would depend on arrival order: apt's
telling of an install that arrives after dpkg's telling of a later upgrade (twins are merged whenever
the second one comes) would be older than `updated_at` and lost, where in time order it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

PropType = Literal["STRING", "INT64", "DOUBLE", "BOOLEAN", "TIMESTAMP"]
Merge = Literal["set", "min", "max", "latest"]


@dataclass(frozen=True)
class Prop:
    name: str
    type: PropType
    merge: Merge = "set"
    # `latest` only: the property holding the time of this one's value (see the module docstring).
    clock: str | None = None


@dataclass(frozen=True)
class NodeLabel:
    label: str
    key: str
    props: tuple[Prop, ...]
    description: str = ""

    # cached_property: computed once per label (every upsert asks), stored beside the frozen fields.
    @cached_property
    def has_latest(self) -> bool:
        return any(p.merge == "latest" for p in self.props)

    @cached_property
    def by_name(self) -> dict[str, Prop]:
        return {p.name: p for p in self.props}

    @cached_property
    def latest(self) -> frozenset[str]:
        """The names of the `latest` properties."""
        return frozenset(p.name for p in self.props if p.merge == "latest")

    @cached_property
    def clocks(self) -> dict[str, str]:
        """clock property -> the `latest` property whose time it holds."""
        return {p.clock: p.name for p in self.props if p.clock is not None}

    def prop(self, name: str) -> Prop:
        p = self.by_name.get(name)
        if p is None:
            raise KeyError(f"{self.label} has no property {name!r}")
        return p


@dataclass(frozen=True)
class RelType:
    type: str
    endpoints: tuple[tuple[str, str], ...]
    props: tuple[Prop, ...] = ()
    description: str = ""


# The property every node with "latest" properties carries: the time of the state it shows.
UPDATED_AT = Prop("updated_at", "TIMESTAMP", "max")


MiB = 2**20


@dataclass(frozen=True)
class Topic:
    """A topic; its retention holds in both deployments (Kafka topic configs retention.ms and
    retention.bytes; the embedded log and the producer's spool delete by the same rules every hour)."""

    name: str
    partitions: int
    # None keeps records forever: the domain topics are the source of truth.
    retention_days: int | None
    # Per partition, as Kafka counts it: the oldest records go first once a partition holds more.
    retention_bytes: int | None = None
    cleanup: Literal["delete", "compact"] = "delete"
    description: str = ""


Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class AlertKind:
    """An alert is a domain event of a known kind (DESIGN §9): each domain declares, in its schema
    module's `ALERTS`, which of its events fire an alert and which resolve it; schemas/alerts.py collects
    them and the one delivery stage (Alertmanager v2, webhooks) sends them, whatever the domain.

    `fires_on` / `resolves_on` are event TYPE names of this domain; `when` / `resolves_when` narrow them
    to payloads whose fields hold those values (ServiceHealthChanged fires with status "unhealthy",
    resolves with "healthy"). The alert's identity, so that firing and resolving meet and repeats are
    de-duplicated, is (name, host, the payload's `subject` field). `summary` is a str.format template
    over the payload's fields. An alert without a resolving event ends after `ends_after_minutes`.
    """

    name: str
    fires_on: str
    severity: Severity
    subject: str
    summary: str
    when: tuple[tuple[str, object], ...] = ()
    resolves_on: tuple[str, ...] = ()
    resolves_when: tuple[tuple[str, object], ...] = ()
    ends_after_minutes: int | None = 60
