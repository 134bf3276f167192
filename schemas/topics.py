"""The topic registry: every topic the product uses, declared once."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    # None keeps records forever: the domain topics are the source of truth.
    retention_days: int | None
    retention_bytes: int | None = None
    cleanup: Literal["delete", "compact"] = "delete"
    description: str = ""


RAW_PACKAGES = Topic(
    "watchman.raw.packages",
    partitions=4,
    retention_days=30,
    description="PackageChangeObserved records parsed from apt/dpkg/dnf/dnf5 logs and brew snapshots; "
    "key host/package.",
)
EVENTS_PACKAGES = Topic(
    "watchman.events.packages",
    partitions=4,
    retention_days=None,
    description="Package* domain events (one per real change); key host/package. Kept forever.",
)
DLQ = Topic(
    "watchman.dlq",
    partitions=1,
    retention_days=30,
    description="Input that could not be parsed or decided, with the raw bytes, the error and the position.",
)

# A new domain adds its raw topic to RAW_TOPICS and its domain topic to DOMAIN_TOPICS; every runner
# (ingest, forward, process, project, replay) takes its topics from these two tuples.
RAW_TOPICS: tuple[Topic, ...] = (RAW_PACKAGES,)
DOMAIN_TOPICS: tuple[Topic, ...] = (EVENTS_PACKAGES,)
TOPICS: dict[str, Topic] = {t.name: t for t in (*RAW_TOPICS, *DOMAIN_TOPICS, DLQ)}


def topic(name: str) -> Topic:
    try:
        return TOPICS[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(TOPICS))}") from None


def partition_for(key: str, partitions: int) -> int:
    """Stable key -> partition mapping, the same on every bus, so one entity's records stay ordered in
    one partition and a Faust table partition holds exactly the keys of its stream partition."""
    return zlib.crc32(key.encode("utf-8", "surrogateescape")) % partitions
