"""The projection step of both deployments: domain records -> graph operations -> the graph store, with
the positions inside the graph (no consumer group). The embedded pipeline, the distributed projector and
replay all use it; it knows nothing of sources, processors or commands (so replay, which backups use,
does not pull the command executors in: an import cycle before 2026-12-04)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from processors.routing import DECODE_ERRORS
from projections.graph_ops import GraphOp
from projections.registry import PROJECTORS
from projections.stores.base import GraphStore
from schemas.envelope import Envelope
from schemas.events import UnknownEventType, decode_payload
from schemas.model import Topic
from schemas.topics import DOMAIN_TOPICS
from watchman import metrics
from watchman.bus.base import Bus, StoredRecord


def decode(value: bytes) -> tuple[Envelope, object]:
    env = Envelope.from_json(value)
    return env, decode_payload(env.type, env.schema_version, env.payload)


def graph_position_name(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def report_projection_lag(bus: Bus, applied: dict[str, int]) -> None:
    """watchman_consumer_lag{group="projections"}: records on the domain topics not yet in the graph."""
    for topic in DOMAIN_TOPICS:
        ends = bus.end_offsets(topic.name)
        behind = {
            p: end - (applied.get(graph_position_name(topic.name, p), -1) + 1) for p, end in ends.items()
        }
        metrics.set_lag("projections", topic.name, behind)


OnDead = Callable[[str, str, Exception, bytes], None]


def project_records(
    topic: str, partition: int, records: Iterable[StoredRecord], on_dead: OnDead
) -> list[GraphOp]:
    """Decode domain records and project them into graph operations; undecodable ones to `on_dead`."""
    ops: list[GraphOp] = []
    for r in records:
        try:
            env, payload = decode(r.value)
            fn = PROJECTORS.get(env.type)
            if fn is None:
                raise UnknownEventType(f"no projection for {env.type}")
            ops.extend(fn(env, payload))  # type: ignore[arg-type]
        except DECODE_ERRORS as exc:
            on_dead("projections", f"{topic}/{partition}/{r.offset}", exc, r.value)
            metrics.DEAD_LETTERS.labels("project", "projections").inc()
    return ops


def project_topics(
    bus: Bus,
    graph: GraphStore,
    topics: Iterable[Topic],
    batch_size: int,
    *,
    on_dead: OnDead,
) -> int:
    """Apply the next batch of every domain partition past the graph's recorded positions, atomically.

    The positions live in the graph, written in the same transaction as the operations, so this is
    the whole projector of both deployments: it needs no consumer group.
    """
    applied = graph.positions()
    ops: list[GraphOp] = []
    positions: dict[str, int] = {}
    n = 0
    for topic in topics:
        starts = bus.start_offsets(topic.name)
        for p in range(bus.partitions(topic.name)):
            name = graph_position_name(topic.name, p)
            offset = max(applied.get(name, -1) + 1, starts.get(p, 0))
            records = bus.read(topic.name, p, offset, batch_size)
            ops.extend(project_records(topic.name, p, records, on_dead))
            if records:
                positions[name] = records[-1].offset
                n += len(records)
                metrics.EVENTS_IN.labels("project", topic.name, "projections").inc(len(records))
    if positions:
        started = time.perf_counter()
        graph.apply(ops, positions)
        elapsed = time.perf_counter() - started
        metrics.PROJECTION_APPLY_SECONDS.labels(type(graph).__name__).observe(elapsed)
        metrics.BATCH_SECONDS.labels("project").observe(elapsed)
        metrics.EVENTS_OUT.labels("project", "graph").inc(len(ops))
    return n
