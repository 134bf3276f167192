"""Prometheus metrics of every stage, one set for all deployments (names are an API: dashboards and
alert rules in infra/ use them).

Stages: ingest (sources -> raw topics), forward (producer spool -> Kafka), process (raw -> domain
topics), project (domain topics -> graph), execute (commands). The processes expose them at
/admin/metrics on their admin API (bearer token); see docs/operations.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from schemas.envelope import Envelope

# The *_created series double the output and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_IN = Counter(
    "watchman_events_in_total",
    "Records a stage consumed, by stage, topic it read (or source it polled) and source.",
    ["stage", "topic", "source"],
    registry=REGISTRY,
)
EVENTS_OUT = Counter(
    "watchman_events_out_total",
    "Records a stage wrote, by stage and topic written.",
    ["stage", "topic"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "watchman_dead_letters_total",
    "Records sent to the dead-letter topic, by stage and source.",
    ["stage", "source"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "watchman_consumer_lag",
    "Records between a consumer group's committed position and the end of a topic.",
    ["group", "topic"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "watchman_batch_seconds",
    "Wall time of one batch of a stage.",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
PROJECTION_APPLY_SECONDS = Histogram(
    "watchman_projection_apply_seconds",
    "Wall time of applying one batch of graph operations to the store.",
    ["store"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
COMMANDS_EXECUTED = Counter(
    "watchman_commands_total",
    "Commands executed on this host, by type and outcome status.",
    ["type", "status"],
    registry=REGISTRY,
)
BUILD = Info("watchman_build", "Version, deployment and role of this process.", registry=REGISTRY)


class _CursorAges(Collector):
    """watchman_producer_cursor_age_seconds{source}: seconds since a source's cursor last moved, computed
    at scrape time so a stalled source shows a growing age without anyone updating it."""

    def __init__(self) -> None:
        self.advanced: dict[str, float] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily(
            "watchman_producer_cursor_age_seconds",
            "Seconds since the source's saved cursor last advanced (new input read and acknowledged).",
            labels=["source"],
        )
        now = time.time()
        for source, at in sorted(self.advanced.items()):
            g.add_metric([source], now - at)
        yield g


CURSOR_AGES = _CursorAges()
REGISTRY.register(CURSOR_AGES)


def prime_source(source: str, topic: str) -> None:
    """Create a source's series at zero, so dashboards and rate() see it before its first record."""
    EVENTS_IN.labels("ingest", topic, source)
    EVENTS_OUT.labels("ingest", topic)
    DEAD_LETTERS.labels("ingest", source)
    source_seen(source)


def prime_stage(stage: str, topic: str, source: str, out_topics: tuple[str, ...] = ()) -> None:
    EVENTS_IN.labels(stage, topic, source)
    DEAD_LETTERS.labels(stage, source)
    BATCH_SECONDS.labels(stage)
    for t in out_topics:
        EVENTS_OUT.labels(stage, t)


def command_executed(outcome: Envelope) -> None:
    status = outcome.type.removeprefix("Command").lower()  # CommandSucceeded -> succeeded
    COMMANDS_EXECUTED.labels(str(outcome.payload.get("command_type", "?")), status).inc()


def set_lag(group: str, topic: str, per_partition: Mapping[int, int]) -> None:
    CONSUMER_LAG.labels(group, topic).set(sum(max(0, v) for v in per_partition.values()))


def exposition() -> bytes:
    return generate_latest(REGISTRY)


def cursor_advanced(source: str, at: float | None = None) -> None:
    CURSOR_AGES.advanced[source] = time.time() if at is None else at


def source_seen(source: str) -> None:
    """Start a source's cursor age at process start, so a source that never reads shows up too."""
    CURSOR_AGES.advanced.setdefault(source, time.time())
