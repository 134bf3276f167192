"""The graph schema: node labels with their key and typed properties, relationship types with endpoints.

Store DDL, constraints and upsert statements are generated from these declarations, never written by hand.
Each property says how a new value merges with the stored one, so every store applies the same rules:
  set     the new value replaces the old one
  min     keep the smaller (first_seen)
  max     keep the larger (last_seen)
  latest  replace only when the operation's time is not older than the node's `updated_at`
          (so an old event replayed late cannot roll current state back)
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

HOST = NodeLabel(
    "Host",
    key="name",
    props=(
        Prop("name", "STRING"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
    ),
    description="A machine The Watchman observes.",
)
SOFTWARE = NodeLabel(
    "Software",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("ecosystem", "STRING"),
        Prop("name", "STRING"),
        Prop("arch", "STRING"),
        Prop("version", "STRING", "latest"),
        Prop("state", "STRING", "latest"),
        Prop("automatic", "BOOLEAN", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One package of one package manager on one host; key host/ecosystem/name[:arch].",
)
EVENT = NodeLabel(
    "Event",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("type", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("action", "STRING"),
        # Every domain fills these two, so "what changed on this host today" spans all domains.
        Prop("subject", "STRING"),
        Prop("summary", "STRING"),
        Prop("package_name", "STRING"),
        Prop("arch", "STRING"),
        Prop("ecosystem", "STRING"),
        Prop("version", "STRING"),
        Prop("old_version", "STRING"),
        Prop("source", "STRING"),
        Prop("automatic", "BOOLEAN"),
        Prop("requested_by", "STRING"),
        Prop("commandline", "STRING"),
        Prop("repo", "STRING"),
    ),
    description="A domain event that happened to an entity, kept in the graph for history queries.",
)

NODES: dict[str, NodeLabel] = {n.label: n for n in (HOST, SOFTWARE, EVENT)}

ACTED_ON = RelType("ACTED_ON", (("Event", "Software"),), description="The event changed this software.")
INSTALLED_ON = RelType("INSTALLED_ON", (("Software", "Host"),), description="Software known on a host.")
HAPPENED_ON = RelType("HAPPENED_ON", (("Event", "Host"),), description="The host an event happened on.")

RELS: dict[str, RelType] = {r.type: r for r in (ACTED_ON, INSTALLED_ON, HAPPENED_ON)}
