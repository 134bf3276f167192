"""The processors as Faust agents (distributed deployment): raw topics -> decide -> domain topics.

The agents call the very decide functions the embedded runtime calls; their state lives in Faust
tables (changelogged to Kafka). Each agent takes its raw records in batches: it decides them in order
against a per-batch overlay of its table, hands every output and one changelog record per touched key
to the producer, waits until Kafka has them, and only then lets Faust mark the batch's offsets
committable. Delivery is at-least-once: a replayed raw record re-emits its change under the same event
id (see processors.packages), so the graph is unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import orjson

from processors.registry import ROUTES
from processors.routing import DECODE_ERRORS, Route
from schemas.core import DLQ
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.topics import COMPRESSION, partition_for

log = logging.getLogger(__name__)

# The Faust app id is also the consumer group of the raw topics and the prefix of its changelog topics.
APP_ID = "watchman"

# A batch whose outputs Kafka did not take (the broker away) is decided and sent again after this
# long, doubling up to RETRY_MAX: never acked before it is delivered, never skipped.
RETRY_FIRST = 0.5
RETRY_MAX = 10.0

# A batch is at most BATCH_MAX raw records, or what arrived within BATCH_WITHIN seconds (the latency
# target is 1 s p99 end to end; measured in docs/performance.md, "Distributed pipeline").
BATCH_MAX = 2000
BATCH_WITHIN = 0.05

_DELETED = object()


class BatchTable:
    """processors.tables.Table over a Faust table for one batch of raw records.

    A Faust table writes a changelog record for every assignment, and only inside the iteration of one
    event (it takes the changelog partition from the current event, which a batch does not have). Here
    each key is read from the table at most once per batch (a copy), writes stay in the overlay,
    `changelog` sends one record per touched key, on the partition of the last raw record that wrote
    it (set `partition` before deciding each record), and `apply` writes the keys into the table
    once Kafka has the batch.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._values: dict[str, Any] = {}  # key -> value as of the record being decided (or _DELETED)
        self._written: dict[str, int] = {}  # key -> partition of the last record that wrote it
        self.partition = 0

    def get(self, key: str) -> Any | None:
        try:
            value = self._values[key]
        except KeyError:
            # A copy: decide functions change the state they get in place, and the table must keep
            # its value untouched until the batch is delivered (a failed batch is decided again).
            stored = self._table.get(key)
            value = self._values[key] = None if stored is None else orjson.loads(orjson.dumps(stored))
        return None if value is _DELETED else value

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value
        self._written[key] = self.partition

    def delete(self, key: str) -> None:
        self._values[key] = _DELETED
        self._written[key] = self.partition

    def changelog(self) -> list[asyncio.Future[Any]]:
        """Send one changelog record per key the batch changed; returns the sends, to be awaited."""
        table, sent = self._table, []
        for key, partition in self._written.items():
            value = self._values[key]
            if value is _DELETED:
                # A null value is the changelog's tombstone, as Faust's own `del table[key]` writes it.
                sent.append(table.send_changelog(partition, key, None, value_serializer="raw"))
            else:
                sent.append(table.send_changelog(partition, key, value))
        return sent

    def apply(self) -> None:
        """Write the batch's changes into the table, once Kafka has the batch's records."""
        store = self._table.data
        for key in self._written:
            value = self._values[key]
            if value is _DELETED:
                store.pop(key, None)
            else:
                store[key] = value
        self._values.clear()
        self._written.clear()


def _headers(env: Envelope) -> list[tuple[str, bytes]]:
    return [("type", env.type.encode()), ("schema_version", str(env.schema_version).encode())]


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
    batch_max: int = BATCH_MAX,
    batch_within: float = BATCH_WITHIN,
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
        # Domain records and changelogs compress ~10x (bench/compression.py; needs cramjam).
        producer_compression_type=COMPRESSION,
    )
    progress = progress or Progress()
    for route in ROUTES:
        _add_route(app, route, host, progress, batch_max, batch_within)
    return app


def _add_route(
    app: faust.App, route: Route, host: str, progress: Progress, batch_max: int, batch_within: float
) -> None:
    source = app.topic(
        route.source.name, partitions=route.source.partitions, key_type=bytes, value_type=bytes
    )
    table = app.Table(
        f"{route.table}-state",
        default=None,
        partitions=route.source.partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )

    async def handle(producer: Any, events: Sequence[Any]) -> None:
        """Decide the batch in order, then hand all it produced to the producer and wait for Kafka."""
        state = BatchTable(table)  # per batch: an overlay left by a failed batch must not leak on
        sent: list[asyncio.Future[Any]] = []
        written: Counter[str] = Counter()
        dead = 0
        for event in events:
            message = event.message
            value: bytes = event.value
            state.partition = message.partition
            try:
                outputs = route.handle(value, state)
            except DECODE_ERRORS as exc:
                position = f"{message.topic}/{message.partition}/{message.offset}"
                letter = DeadLetter.of(
                    host, route.name, position, f"{type(exc).__name__}: {exc}", value, datetime.now(UTC)
                )
                key = f"{letter.host}/{letter.source}".encode()
                sent.append(
                    await producer.send(
                        DLQ.name,
                        key,
                        letter.model_dump_json().encode(),
                        partition=None,
                        timestamp=None,
                        headers=None,
                    )
                )
                dead += 1
                continue
            # Appended in the order decided: aiokafka keeps that order within each partition.
            for out in outputs:
                topic = route.sink_for(out)
                sent.append(
                    await producer.send(
                        topic.name,
                        out.key.encode(),
                        out.to_json(),
                        partition=partition_for(out.key, topic.partitions),
                        timestamp=None,
                        headers=_headers(out),
                    )
                )
                written[topic.name] += 1
        sent += state.changelog()
        # Kafka has every output, dead letter and changelog record of the batch before its offsets
        # become committable and the table changes; a failed send raises here, the table is as it
        # was, and the batch is decided and sent again.
        await asyncio.gather(*sent)
        state.apply()
        progress.handled += len(events)
        progress.read[(route.source.name, route.name)] += len(events)
        progress.written.update(written)
        if dead:
            progress.dead[route.name] += dead

    async def process(stream: Any) -> None:
        producer = await app.maybe_start_producer()
        async for events in stream.take_events(batch_max, within=batch_within):
            # take_events acks the batch whenever it resumes or is closed, even after our exception or
            # cancellation mid-batch; holding a reference of our own on each message until the batch is
            # done keeps the offsets of an unfinished batch uncommitted, so they are read again.
            for event in events:
                event.message.incref()
            delay = RETRY_FIRST
            while True:
                try:
                    await handle(producer, events)
                    break
                except Exception as exc:  # any failed send: the broker away, a timeout
                    # Skipping the batch would lose its outputs for good: the agent would go on with
                    # the next records while this batch's offsets stay uncommitted until a restart.
                    # The table is untouched (BatchTable writes only once delivered), so deciding the
                    # batch again gives the same outputs under the same ids.
                    log.warning(
                        "%s: a batch of %d records was not delivered (%s); again in %.1fs",
                        route.name,
                        len(events),
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
            for event in events:
                event.ack()

    app.agent(source, name=f"agent-{route.table}")(process)
