"""What every domain shares: the Host and Event nodes, the relationships of events, the dead-letter topic."""

from __future__ import annotations

from schemas.model import MiB, NodeLabel, Prop, RelType, Topic

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
        Prop("exit_code", "INT64"),  # ContainerDied
    ),
    description="A domain event that happened to an entity, kept in the graph for history queries.",
)
# Each domain adds the pairs its own labels take part in (schemas/graph.py merges them by type).
ACTED_ON = RelType(
    "ACTED_ON",
    (),
    description="The event changed this entity (software, container, service, interface, ...).",
)
HAPPENED_ON = RelType(
    "HAPPENED_ON",
    (("Event", "Host"),),
    description="The host an event happened on (or a command ran on).",
)
DLQ = Topic(
    "watchman.dlq",
    partitions=1,
    retention_days=30,
    retention_bytes=256 * MiB,
    description="Input that could not be parsed or decided, with the raw bytes, the error and the position.",
)

TOPICS: tuple[Topic, ...] = (DLQ,)
NODES: tuple[NodeLabel, ...] = (HOST, EVENT)
RELS: tuple[RelType, ...] = (ACTED_ON, HAPPENED_ON)
