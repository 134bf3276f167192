"""The topic registry: every topic the product uses, as each domain declares it, collected."""

from __future__ import annotations

import zlib
from types import ModuleType

from schemas import core
from schemas.events import (
    alerts,
    backups,
    commands,
    configfiles,
    containers,
    exposure,
    fido2,
    mcp,
    network,
    obsidian,
    packages,
    permissions,
    resources,
    retention,
    runners,
    scheduler,
    security,
    services,
    vulnerabilities,
)
from schemas.model import Topic

# One entry per domain: a new domain adds its schema module here. Every runner (ingest, forward,
# process, project, replay) takes its topics from RAW_TOPICS and DOMAIN_TOPICS.
DOMAINS: tuple[ModuleType, ...] = (
    core,
    packages,
    commands,
    containers,
    services,
    security,
    network,
    mcp,
    obsidian,
    alerts,
    resources,
    configfiles,
    backups,
    scheduler,
    runners,
    vulnerabilities,
    permissions,
    exposure,
    fido2,
    retention,
)

# How every Kafka producer compresses its batches. Measured on raw journal + metrics records
# (bench/compression.py): zstd 63 bytes/record on the broker's disk, lz4 107, none 815, and zstd took
# the least producer CPU of the three. aiokafka needs cramjam for it (a dependency).
COMPRESSION = "zstd"

_ALL: tuple[Topic, ...] = tuple(t for domain in DOMAINS for t in domain.TOPICS)
# The roles follow the names: watchman.raw.* observations, watchman.events.* decisions (kept forever).
RAW_TOPICS: tuple[Topic, ...] = tuple(t for t in _ALL if t.name.startswith("watchman.raw."))
DOMAIN_TOPICS: tuple[Topic, ...] = tuple(t for t in _ALL if t.name.startswith("watchman.events."))
TOPICS: dict[str, Topic] = {t.name: t for t in _ALL}


def topic(name: str) -> Topic:
    try:
        return TOPICS[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(TOPICS))}") from None


def partition_for(key: str, partitions: int) -> int:
    """Stable key -> partition mapping, the same on every bus, so one entity's records stay ordered in
    one partition and a Faust table partition holds exactly the keys of its stream partition."""
    return zlib.crc32(key.encode("utf-8", "surrogateescape")) % partitions
