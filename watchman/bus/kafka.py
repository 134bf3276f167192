"""The distributed bus: the Bus port over Apache Kafka (its aiokafka machinery: bus/kafka_clients.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    TopicAlreadyExistsError,
    for_code,
)

from schemas.model import Topic
from watchman.bus.base import Bus, Record, StoredRecord, UnknownTopic, partition_for
from watchman.bus.kafka_clients import HUSH, STOP_CHECK_SECONDS, BusUnavailable, KafkaClients

log = logging.getLogger(__name__)
SEGMENT_MIN, SEGMENT_MAX = 2**20, 2**30  # Kafka's bounds of segment.bytes: 1 MiB (its minimum) .. 1 GiB

__all__ = ["BusUnavailable", "KafkaBus"]


class KafkaBus(KafkaClients, Bus):
    """Bus over Kafka, for the distributed deployment: topics, appends, reads, waits and group positions
    (the clients and the private event loop: KafkaClients)."""

    # -- topics ---------------------------------------------------------------------------------

    def ensure_topics(self, topics: Iterable[Topic]) -> None:
        self._run(self._ensure_topics(list(topics)))

    async def _ensure_topics(self, topics: list[Topic]) -> None:
        admin = await self._admin_client()
        existing = await self._refresh_partitions()
        for t in topics:
            if t.name in existing and existing[t.name] != t.partitions:
                log.warning(
                    "topic %s has %d partitions on %s, the registry says %d; left as it is",
                    t.name,
                    existing[t.name],
                    self.bootstrap,
                    t.partitions,
                )
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return
        response = await admin.create_topics([self._new_topic(t) for t in missing])
        for name, code, *rest in response.topic_errors:
            error = for_code(code)
            if code != 0 and error is not TopicAlreadyExistsError:
                detail = rest[0] if rest and rest[0] else error.__name__
                raise RuntimeError(f"cannot create topic {name} on {self.bootstrap}: {detail}")
        log.info("created topics %s on %s", ", ".join(t.name for t in missing), self.bootstrap)
        await self._wait_for_leaders([t.name for t in missing])

    def set_topic_configs(self, topics: Iterable[Topic]) -> None:
        """Give existing topics the retention (and cleanup, segment size) their Topic says: a topic
        created by an earlier release, or before `[retention.topics]` changed, keeps what it was created
        with otherwise. AlterConfigs replaces a topic's dynamic configs as a whole, so every config a new
        topic gets is sent."""
        self._run(self._set_topic_configs(list(topics)))

    async def _set_topic_configs(self, topics: list[Topic]) -> None:
        if not topics:
            return
        admin = await self._admin_client()
        resources = [ConfigResource(ConfigResourceType.TOPIC, t.name, self.topic_configs(t)) for t in topics]
        for response in await admin.alter_configs(resources):
            for code, message, _type, name in response.resources:
                if code != 0:
                    detail = message or for_code(code).__name__
                    raise RuntimeError(
                        f"cannot set the configs of topic {name} on {self.bootstrap}: {detail}"
                    )

    def describe_topic_configs(self, name: str) -> dict[str, str]:
        """A topic's configs as the broker reports them (defaults included)."""
        return self._run(self._describe_topic_configs(name))

    async def _describe_topic_configs(self, name: str) -> dict[str, str]:
        admin = await self._admin_client()
        out: dict[str, str] = {}
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)]):
            for code, message, _type, _name, entries in response.resources:
                if code != 0:
                    raise RuntimeError(f"cannot describe topic {name}: {message or for_code(code).__name__}")
                for entry in entries:
                    out[entry[0]] = entry[1]
        return out

    def topic_configs(self, t: Topic) -> dict[str, str]:
        configs = {
            "retention.ms": str(-1 if t.retention_days is None else t.retention_days * 86_400_000),
            "cleanup.policy": t.cleanup,
        }
        if t.retention_bytes is not None:
            configs["retention.bytes"] = str(t.retention_bytes)
            # Kafka deletes whole closed segments (1 GiB by default): a segment of a quarter of the
            # limit keeps a partition within ~1.25 x retention.bytes instead of limit + 1 GiB.
            configs["segment.bytes"] = str(min(max(t.retention_bytes // 4, SEGMENT_MIN), SEGMENT_MAX))
        return configs

    def _new_topic(self, t: Topic) -> Any:
        return NewTopic(t.name, t.partitions, self.replication_factor, topic_configs=self.topic_configs(t))

    async def _wait_for_leaders(self, names: list[str]) -> None:
        # CreateTopics returns once the controller has the topic; the broker's metadata follows a
        # moment later, and a produce before that fails with UnknownTopicOrPartition.
        admin = await self._admin_client()
        for _ in range(100):
            described = await admin.describe_topics(names)
            if all(
                d["error_code"] == 0 and d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"])
                for d in described
            ):
                break
            await asyncio.sleep(0.05)
        await self._refresh_partitions()

    async def _refresh_partitions(self) -> dict[str, int]:
        admin = await self._admin_client()
        # All topics (topics=None): a Metadata request naming a topic may auto-create it.
        described = await admin.describe_topics(None)
        self._partitions = {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
        return self._partitions

    async def _partitions_of(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            n = (await self._refresh_partitions()).get(topic)
            if n is None:
                raise UnknownTopic(topic)
        return n

    def partitions(self, topic: str) -> int:
        n = self._partitions.get(topic)
        return n if n is not None else self._run(self._partitions_of(topic))

    async def _tps(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(await self._partitions_of(topic))]

    # -- records --------------------------------------------------------------------------------

    def append(self, topic: str, records: Sequence[Record]) -> list[tuple[int, int]]:
        if not records:
            return []
        return self._run(self._append(topic, records))

    async def _append(self, topic: str, records: Sequence[Record]) -> list[tuple[int, int]]:
        n = await self._partitions_of(topic)
        producer = await self._producer_client()
        # Partition chosen here, not by Kafka's murmur2 partitioner, so a key lands in the same
        # partition as in the embedded log.
        by_partition: dict[int, list[int]] = {}
        for i, r in enumerate(records):
            by_partition.setdefault(partition_for(r.key, n), []).append(i)
        out: list[tuple[int, int]] = [(-1, -1)] * len(records)

        async def send(partition: int, indexes: list[int]) -> None:
            # Whole batches instead of one send() per record: half the CPU per record, and one
            # future per batch. The idempotent producer still stamps producer id and sequences.
            sent: list[tuple[Awaitable[Any], list[int]]] = []
            batch: Any = producer.create_batch()
            members: list[int] = []
            for i in indexes:
                r = records[i]
                fields = {
                    "timestamp": None,
                    "key": r.key.encode("utf-8", "surrogateescape"),
                    "value": r.value,
                    "headers": [(k, v.encode()) for k, v in r.headers.items()],
                }
                if batch.append(**fields) is None:  # full: a new batch always takes one record
                    sent.append((await producer.send_batch(batch, topic, partition=partition), members))
                    batch, members = producer.create_batch(), []
                    batch.append(**fields)
                members.append(i)
            sent.append((await producer.send_batch(batch, topic, partition=partition), members))
            for acked, members in sent:
                base = (await acked).offset
                for k, i in enumerate(members):
                    out[i] = (partition, base + k)

        await asyncio.gather(*(send(p, indexes) for p, indexes in by_partition.items()))
        return out

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[StoredRecord]:
        return self._run(self._read(topic, partition, offset, max_records))

    async def _read(self, topic: str, partition: int, offset: int, max_records: int) -> list[StoredRecord]:
        if not 0 <= partition < await self._partitions_of(topic):
            raise ValueError(f"{topic} has no partition {partition}")
        tp = TopicPartition(topic, partition)
        offsets = await self._offsets_client()
        end = (await offsets.end_offsets([tp]))[tp]
        if offset >= end or max_records <= 0:
            return []
        async with self._read_lock:
            reader = await self._reader_client()
            if reader.assignment() != {tp}:
                reader.assign([tp])
                self._read_next = None
            if self._read_next != (tp, offset):
                reader.seek(tp, offset)
            out: list[StoredRecord] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._read_wait
            position = offset
            try:
                while len(out) < max_records and position < end:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        log.warning("read of %s from %d on %s timed out", tp, offset, self.bootstrap)
                        break
                    got = await reader.getmany(
                        tp, timeout_ms=int(remaining * 1000), max_records=max_records - len(out)
                    )
                    out.extend(_stored(m) for m in got.get(tp, ()))
                    # The position, not the last record: compaction leaves gaps in the offsets.
                    position = await reader.position(tp)
            except BaseException:
                self._read_next = None
                raise
            self._read_next = (tp, position)
            return out

    def wait_for_records(
        self,
        positions: Mapping[tuple[str, int], int],
        timeout: float,
        stop: threading.Event | None = None,
    ) -> bool:
        """A long-polling fetch from the positions: it returns within milliseconds of a record being
        appended, and costs one fetch a second while nothing comes."""
        if not positions:
            return super().wait_for_records(positions, timeout, stop)
        if stop is not None and stop.is_set():
            return False
        wanted = {TopicPartition(t, p): o for (t, p), o in positions.items()}
        # The first wait also starts the waiter's consumer: allow for connecting too.
        return self._run(self._wait(wanted, timeout, stop), timeout=timeout + self._connect_timeout + 1)

    async def _wait(
        self, wanted: dict[TopicPartition, int], seconds: float, stop: threading.Event | None
    ) -> bool:
        topics = {tp.topic for tp in wanted}
        for topic in topics:  # no metadata request naming a missing topic
            n = await self._partitions_of(topic)
            if any(not 0 <= tp.partition < n for tp in wanted if tp.topic == topic):
                raise ValueError(f"{topic} has only {n} partitions")
        waiter = await self._waiter_client()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        async with self._wait_lock:
            # Assigned for this wait only: a consumer left assigned to a topic that is then deleted
            # asks for metadata in a tight loop (and logs an error each time) until it is unassigned.
            with HUSH.hushed():
                waiter.assign(list(wanted))
            try:
                for tp, offset in wanted.items():
                    waiter.seek(tp, offset)
                while (remaining := deadline - loop.time()) > 0:
                    fetch = asyncio.ensure_future(waiter.getmany(timeout_ms=max(1, int(remaining * 1000))))
                    try:
                        # `stop` is a thread's event: looked at on this loop's clock rather than by
                        # waking the caller's thread for it.
                        while not fetch.done():
                            await asyncio.wait([fetch], timeout=STOP_CHECK_SECONDS)
                            if stop is not None and stop.is_set():
                                return False
                            await self._check_topics(waiter, topics)
                    finally:
                        if not fetch.done():
                            fetch.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await fetch
                    # Records below a position come only after a reset to the oldest one (the
                    # position was past the end: a recreated topic): they do not count.
                    if any(
                        records[-1].offset >= wanted[tp] for tp, records in fetch.result().items() if records
                    ):
                        return True
                return False
            finally:
                with HUSH.hushed():
                    waiter.unsubscribe()

    async def _check_topics(self, waiter: Any, topics: set[str]) -> None:
        """UnknownTopic if a topic was deleted during the wait (not merely absent from the waiter's
        metadata yet, as right after the assignment)."""
        if all(waiter.partitions_for_topic(t) for t in topics):
            return
        existing = await self._refresh_partitions()
        for t in topics:
            if t not in existing:
                raise UnknownTopic(t)

    def end_offsets(self, topic: str) -> dict[int, int]:
        return self._run(self._list_offsets(topic, end=True))

    def start_offsets(self, topic: str) -> dict[int, int]:
        return self._run(self._list_offsets(topic, end=False))

    async def _list_offsets(self, topic: str, *, end: bool) -> dict[int, int]:
        tps = await self._tps(topic)
        offsets = await self._offsets_client()
        got = await (offsets.end_offsets(tps) if end else offsets.beginning_offsets(tps))
        return {tp.partition: int(o) for tp, o in got.items()}

    # -- consumer groups ------------------------------------------------------------------------

    def commit(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        if positions:
            self._run(self._commit(group, topic, dict(positions)))

    async def _commit(self, group: str, topic: str, positions: dict[int, int]) -> None:
        tps = await self._tps(topic)
        consumer = await self._group_client(group)
        async with self._group_lock:
            assigned = consumer.assignment()
            if not set(tps) <= assigned:
                # A consumer commits only for assigned partitions. Manual assignment never joins
                # the group (no rebalance, no heartbeats); paused, it fetches no records.
                wanted = assigned | set(tps)
                consumer.assign(list(wanted))
                consumer.pause(*wanted)
            await consumer.commit({TopicPartition(topic, p): o for p, o in positions.items()})

    def committed(self, group: str, topic: str) -> dict[int, int]:
        return self._run(self._committed(group, topic))

    async def _committed(self, group: str, topic: str) -> dict[int, int]:
        tps = await self._tps(topic)
        consumer = await self._group_client(group)
        got = await asyncio.gather(*(consumer.committed(tp) for tp in tps))
        return {tp.partition: int(o) for tp, o in zip(tps, got, strict=True) if o is not None}

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_clients(), self._loop).result(self._request_timeout)
        except Exception:
            log.warning("closing the Kafka clients of %s failed", self.bootstrap, exc_info=True)
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()

    async def _close_clients(self) -> None:
        clients = [
            self._producer,
            self._reader,
            self._offsets,
            self._waiter,
            self._admin,
            *self._groups.values(),
        ]
        self._producer = self._reader = self._offsets = self._waiter = self._admin = None
        self._groups.clear()
        await asyncio.gather(*(self._stop(c) for c in clients if c is not None))


def _stored(m: Any) -> StoredRecord:
    key = b"" if m.key is None else m.key
    return StoredRecord(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        timestamp_ms=m.timestamp,
        key=key.decode("utf-8", "surrogateescape"),
        value=b"" if m.value is None else m.value,
        headers={k: (v or b"").decode("utf-8", "replace") for k, v in m.headers},
    )
