"""The processors as Faust agents (distributed deployment): raw topics -> decide -> domain topics.

The agents call the very decide functions the embedded runtime calls; their state lives in Faust
tables (changelogged to Kafka). Delivery is at-least-once: a replayed raw record re-emits its change
under the same event id (see processors.packages), so the graph is unaffected.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from processors.registry import DECODE_ERRORS, ROUTES, Route
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.topics import DLQ, partition_for

log = logging.getLogger(__name__)

# The Faust app id is also the consumer group of the raw topics and the prefix of its changelog topics.
APP_ID = "watchman"


class FaustTable:
    """processors.tables.Table over a Faust table (values are JSON, changelogged)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: str) -> Any | None:
        return self._table.get(key)

    def set(self, key: str, value: Any) -> None:
        self._table[key] = value

    def delete(self, key: str) -> None:
        self._table.pop(key, None)


def _headers(env: Envelope) -> dict[str, bytes]:
    return {"type": env.type.encode(), "schema_version": str(env.schema_version).encode()}


class Progress:
    """What the agents have done: `handled` for the watchdog (compared with the consumer lag); the
    per-topic counts for the worker's metrics (mirrored into Prometheus counters by its host)."""

    def __init__(self) -> None:
        self.handled = 0
        self.read: Counter[tuple[str, str]] = Counter()  # (source topic, route) -> records read
        self.written: Counter[str] = Counter()  # sink topic -> records written
        self.dead: Counter[str] = Counter()  # route -> records sent to the dead-letter topic


def create_app(
    broker: str,
    *,
    host: str,
    app_id: str = APP_ID,
    datadir: Path | None = None,
    progress: Progress | None = None,
) -> faust.App:
    """A Faust app with one agent per processor route. `broker` is e.g. kafka://127.0.0.1:9092."""
    app = faust.App(
        app_id,
        broker=broker,
        store="memory://",
        datadir=str(datadir) if datadir else None,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        producer_acks=-1,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        # A killed worker's membership must expire quickly, or its successor waits to join the group.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        # Let sends of one burst share a produce request (measured: bench/RESULTS.md, tuned worker).
        producer_linger=0.005,
    )
    dlq = app.topic(DLQ.name, partitions=DLQ.partitions, key_type=bytes, value_type=bytes)
    for route in ROUTES:
        _add_route(app, route, dlq, host, progress or Progress())
    return app


def _add_route(app: faust.App, route: Route, dlq: Any, host: str, progress: Progress) -> None:
    source = app.topic(
        route.source.name, partitions=route.source.partitions, key_type=bytes, value_type=bytes
    )
    sinks = {
        t.name: app.topic(t.name, partitions=t.partitions, key_type=bytes, value_type=bytes)
        for t in route.sinks
    }
    table = app.Table(
        f"{route.table}-state",
        default=None,
        partitions=route.source.partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )
    state = FaustTable(table)

    async def process(stream: Any) -> None:
        async for event in stream.events():
            progress.handled += 1
            progress.read[(route.source.name, route.name)] += 1
            value: bytes = event.value
            position = f"{event.message.topic}/{event.message.partition}/{event.message.offset}"
            try:
                outputs = route.handle(value, state)
            except DECODE_ERRORS as exc:
                dead = DeadLetter.of(
                    host, route.name, position, f"{type(exc).__name__}: {exc}", value, datetime.now(UTC)
                )
                key = f"{dead.host}/{dead.source}".encode()
                await dlq.send(key=key, value=dead.model_dump_json().encode())
                progress.dead[route.name] += 1
                continue
            for out in outputs:
                topic = route.sink_for(out)
                await sinks[topic.name].send(
                    key=out.key.encode(),
                    value=out.to_json(),
                    partition=partition_for(out.key, topic.partitions),
                    headers=_headers(out),
                )
                progress.written[topic.name] += 1

    app.agent(source, name=f"agent-{route.table}")(process)
