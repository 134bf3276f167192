"""The topic registry: every topic the product uses, declared once."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

MiB = 2**20
# How every Kafka producer compresses its batches. Measured on raw journal + metrics records
# (bench/compression.py): zstd 63 bytes/record on the broker's disk, lz4 107, none 815, and zstd took
# the least producer CPU of the three. aiokafka needs cramjam for it (a dependency).
COMPRESSION = "zstd"


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


RAW_PACKAGES = Topic(
    "watchman.raw.packages",
    partitions=4,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="PackageChangeObserved records parsed from apt/dpkg/dnf/dnf5 logs and brew snapshots; "
    "key host/package.",
)
EVENTS_PACKAGES = Topic(
    "watchman.events.packages",
    partitions=4,
    retention_days=None,
    description="Package* domain events (one per real change); key host/package. Kept forever.",
)
COMMANDS = Topic(
    "watchman.commands",
    partitions=1,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="Commands (TriggerScan, RestartService, ...) for the executors on each host.",
)
EVENTS_COMMANDS = Topic(
    "watchman.events.commands",
    partitions=1,
    retention_days=None,
    description="Command outcomes (CommandSucceeded/Failed/Rejected): the audit trail. Kept forever.",
)
RAW_CONTAINERS = Topic(
    "watchman.raw.containers",
    partitions=4,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="DockerEventObserved (the engine's events stream) and DockerStateObserved (snapshot "
    "differences after a (re)connect) records; key host/object id.",
)
EVENTS_CONTAINERS = Topic(
    "watchman.events.containers",
    partitions=4,
    retention_days=None,
    description="Container*/Image*/Volume*/Endpoint* domain events; key host/object id. Kept forever.",
)
RAW_JOURNAL = Topic(
    "watchman.raw.journal",
    partitions=4,
    retention_days=7,
    retention_bytes=256 * MiB,
    description="JournalEntryObserved records read from journald; key host/unit (or syslog identifier).",
)
RAW_SERVICES = Topic(
    "watchman.raw.services",
    partitions=4,
    retention_days=7,
    retention_bytes=128 * MiB,
    description="ServiceMetricsObserved samples and HealthCheckObserved results; key host/unit.",
)
EVENTS_SERVICES = Topic(
    "watchman.events.services",
    partitions=4,
    retention_days=None,
    description="Service* lifecycle, log, metrics, health and auto-restart audit events; key host/unit.",
)
EVENTS_SECURITY = Topic(
    "watchman.events.security",
    partitions=4,
    retention_days=None,
    description="LoginFailed/LoginSucceeded/SudoCommandRun/SuUsed, AuthFailuresAggregated (storms) and "
    "BruteForceDetected events; key host/unit. Kept forever.",
)
RAW_NETWORK = Topic(
    "watchman.raw.network",
    partitions=4,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="NetworkStateObserved records (netlink interfaces/addresses/routes, DNS, firewall, VPN, "
    "external IP snapshot differences); key host/interface (or dns, firewall, route/..., vpn/...).",
)
EVENTS_NETWORK = Topic(
    "watchman.events.network",
    partitions=4,
    retention_days=None,
    description="Interface*/Address*/RouteChanged/DnsServersChanged/FirewallRule*/Vpn*/ExternalIpChanged "
    "events; key host/interface (or dns, firewall, ...). Kept forever.",
)
DLQ = Topic(
    "watchman.dlq",
    partitions=1,
    retention_days=30,
    retention_bytes=256 * MiB,
    description="Input that could not be parsed or decided, with the raw bytes, the error and the position.",
)

# A new domain adds its raw topic to RAW_TOPICS and its domain topic to DOMAIN_TOPICS; every runner
# (ingest, forward, process, project, replay) takes its topics from these two tuples.
RAW_TOPICS: tuple[Topic, ...] = (RAW_PACKAGES, RAW_CONTAINERS, RAW_JOURNAL, RAW_SERVICES, RAW_NETWORK)
DOMAIN_TOPICS: tuple[Topic, ...] = (
    EVENTS_PACKAGES,
    EVENTS_COMMANDS,
    EVENTS_CONTAINERS,
    EVENTS_SERVICES,
    EVENTS_SECURITY,
    EVENTS_NETWORK,
)
TOPICS: dict[str, Topic] = {t.name: t for t in (*RAW_TOPICS, *DOMAIN_TOPICS, COMMANDS, DLQ)}


def topic(name: str) -> Topic:
    try:
        return TOPICS[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(TOPICS))}") from None


def partition_for(key: str, partitions: int) -> int:
    """Stable key -> partition mapping, the same on every bus, so one entity's records stay ordered in
    one partition and a Faust table partition holds exactly the keys of its stream partition."""
    return zlib.crc32(key.encode("utf-8", "surrogateescape")) % partitions
