"""The bus suite against a real Kafka broker, plus what only the Kafka adapter promises."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

from schemas.core import DLQ
from schemas.model import Topic
from schemas.topics import RAW_TOPICS
from tests.integration.bus_suite import BusSuite
from watchman.bus.base import Bus, Record, partition_for
from watchman.bus.kafka import BusUnavailable, KafkaBus

# Resets or shares state on the infra/ servers: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

BOOTSTRAP = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")


def _fresh(prefix: str, **kw: Any) -> Topic:
    kw.setdefault("partitions", 1)
    kw.setdefault("retention_days", None)
    return Topic(f"test.{prefix}.{uuid.uuid4().hex[:12]}", **kw)


@pytest.fixture
def opened() -> Iterator[list[KafkaBus]]:
    """Every bus a test opens, closed at teardown even when the test fails."""
    buses: list[KafkaBus] = []
    yield buses
    for b in buses:
        b.close()


@pytest.fixture
def kbus(opened: list[KafkaBus]) -> KafkaBus:
    b = KafkaBus(BOOTSTRAP)
    opened.append(b)
    return b


class TestKafkaBus(BusSuite):
    @pytest.fixture
    def bus(self, kbus: KafkaBus) -> Bus:
        return kbus

    @pytest.fixture
    def reopen(self, opened: list[KafkaBus]) -> Callable[[Bus], Bus]:
        def _reopen(old: Bus) -> Bus:
            old.close()
            new = KafkaBus(BOOTSTRAP)
            opened.append(new)
            return new

        return _reopen


def _admin_call(fn: Callable[[AIOKafkaAdminClient], Any]) -> Any:
    async def go() -> Any:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            return await fn(admin)
        finally:
            await admin.close()

    return asyncio.run(go())


def _topic_config(name: str) -> dict[str, str]:
    (response,) = _admin_call(
        lambda admin: admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    )
    ((_code, _msg, _type, _name, entries),) = response.resources
    return {e[0]: e[1] for e in entries}


def test_topic_config_comes_from_the_registry(kbus: KafkaBus) -> None:
    aged = _fresh("aged", partitions=4, retention_days=30, retention_bytes=10_000_000)
    forever = _fresh("forever", partitions=2, retention_days=None, cleanup="compact")
    kbus.ensure_topics([aged, forever])
    assert kbus.partitions(aged.name) == 4
    assert kbus.partitions(forever.name) == 2
    a = _topic_config(aged.name)
    assert a["retention.ms"] == str(30 * 86_400_000)
    assert a["retention.bytes"] == "10000000"
    assert a["segment.bytes"] == "2500000"  # deletion is by closed segment: a quarter of the limit
    assert a["cleanup.policy"] == "delete"
    f = _topic_config(forever.name)
    assert f["retention.ms"] == "-1"
    assert f["cleanup.policy"] == "compact"


def test_the_raw_topics_are_bounded_in_time_and_size(kbus: KafkaBus) -> None:
    raw = [replace(t, name=f"test.{t.name}.{uuid.uuid4().hex[:8]}") for t in (*RAW_TOPICS, DLQ)]
    kbus.ensure_topics(raw)
    for declared in raw:
        config = _topic_config(declared.name)
        assert declared.retention_days is not None and declared.retention_bytes is not None
        assert config["retention.ms"] == str(declared.retention_days * 86_400_000)
        assert config["retention.bytes"] == str(declared.retention_bytes)
        assert int(config["segment.bytes"]) == declared.retention_bytes // 4


def test_existing_topic_is_left_alone(kbus: KafkaBus) -> None:
    t = _fresh("kept", retention_days=1)
    kbus.ensure_topics([t])
    kbus.ensure_topics([Topic(t.name, partitions=1, retention_days=7)])
    assert _topic_config(t.name)["retention.ms"] == str(86_400_000)


def test_set_topic_configs_gives_an_existing_topic_its_declared_retention(kbus: KafkaBus) -> None:
    """[retention.topics] on Kafka: the worker and the projector set every topic's configs at start."""
    from watchman.domains.retention import RetentionSettings, TopicRetention
    from watchman.retention.log import effective_topics

    t = _fresh("override", retention_days=30)
    kbus.ensure_topics([t])
    shorter = replace(t, retention_days=7, retention_bytes=64 * 2**20)
    kbus.set_topic_configs([shorter])
    got = _topic_config(t.name)
    assert (got["retention.ms"], got["retention.bytes"]) == (str(7 * 86_400_000), str(64 * 2**20))
    assert got["segment.bytes"] == str(16 * 2**20) and got["cleanup.policy"] == "delete"
    # Back to the declared Topic: AlterConfigs replaces the whole set, the size limit goes with it.
    kbus.set_topic_configs([t])
    got = kbus.describe_topic_configs(t.name)
    assert (got["retention.ms"], got["retention.bytes"]) == (str(30 * 86_400_000), "-1")
    # What the worker computes from the settings: an override for one topic, the code's for the rest.
    settings = RetentionSettings(topics={t.name: TopicRetention(retention_days=3)})
    other = _fresh("untouched", retention_days=5)
    assert [(x.name, x.retention_days) for x in effective_topics(settings, [t, other])] == [
        (t.name, 3),
        (other.name, 5),
    ]
    with pytest.raises(ValueError, match="unknown topic"):
        effective_topics(RetentionSettings(topics={"no.such.topic": TopicRetention(retention_days=1)}), [t])


def test_a_topic_the_broker_refuses_is_a_clear_error(opened: list[KafkaBus]) -> None:
    bus = KafkaBus(BOOTSTRAP, replication_factor=3)  # the test broker is a single node
    opened.append(bus)
    t = _fresh("refused")
    with pytest.raises(RuntimeError, match=re.escape(t.name)):
        bus.ensure_topics([t])


def test_records_are_plain_kafka_records(kbus: KafkaBus) -> None:
    """Headers, key and JSON value as any Kafka tool (kcat, Kafka UI) sees them without our code."""
    t = _fresh("plain")
    kbus.ensure_topics([t])
    event = {"type": "PackageInstalled", "subject": "bash", "payload": {"version": "5.2-1"}}
    kbus.append(t.name, [Record("web-1/bash", orjson.dumps(event), {"type": "PackageInstalled"})])

    async def consume() -> Any:
        consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition(t.name, 0)])
            return await asyncio.wait_for(consumer.getone(), 10)
        finally:
            await consumer.stop()

    m = asyncio.run(consume())
    assert m.key == b"web-1/bash"
    assert orjson.loads(m.value) == event
    assert list(m.headers) == [("type", b"PackageInstalled")]


def test_partitioning_matches_the_embedded_log(kbus: KafkaBus) -> None:
    t = _fresh("parts", partitions=4)
    kbus.ensure_topics([t])
    keys = [f"web-1/pkg{i}" for i in range(40)]
    positions = kbus.append(t.name, [Record(k, b"x") for k in keys])
    assert [p for p, _ in positions] == [partition_for(k, 4) for k in keys]


def test_producer_is_idempotent_and_compresses(kbus: KafkaBus) -> None:
    """The broker stored the batch with a producer id and sequence numbers: idempotent delivery."""
    t = _fresh("idem")
    kbus.ensure_topics([t])
    kbus.append(t.name, [Record("k", b"a"), Record("k", b"b")])

    async def first_batch() -> Any:
        client = AIOKafkaClient(bootstrap_servers=BOOTSTRAP)
        await client.bootstrap()
        try:
            await client._wait_on_metadata(t.name)
            leader = client.cluster.leader_for_partition(TopicPartition(t.name, 0))
            request = FetchRequest(100, 1, 1 << 20, 0, [(t.name, [(0, 0, 1 << 20)])])
            response = await client.send(leader, request)
            ((_topic, ((_p, error, _hw, *data),)),) = response.topics
            assert error == 0
            return MemoryRecords(data[-1]).next_batch()
        finally:
            await client.close()

    batch = asyncio.run(first_batch())
    assert batch.producer_id >= 0
    assert batch.base_sequence >= 0
    assert batch.compression_type == 4  # zstd, Kafka's codec id (schemas.topics.COMPRESSION)


def test_sequential_reads_in_chunks_across_partitions(kbus: KafkaBus) -> None:
    t = _fresh("chunks", partitions=3)
    kbus.ensure_topics([t])
    kbus.append(t.name, [Record(f"k{i % 11}", str(i).encode()) for i in range(3000)])
    ends = kbus.end_offsets(t.name)
    nxt = dict.fromkeys(ends, 0)
    seen: dict[int, list[int]] = {p: [] for p in ends}
    while any(nxt[p] < ends[p] for p in ends):
        for p in ends:  # interleaved, as the pipeline polls its partitions
            got = kbus.read(t.name, p, nxt[p], max_records=170)
            seen[p] += [r.offset for r in got]
            if got:
                nxt[p] = got[-1].offset + 1
    assert {p: len(v) for p, v in seen.items()} == ends
    assert all(v == list(range(ends[p])) for p, v in seen.items())
    assert kbus.read(t.name, 0, ends[0]) == []


def test_deleted_records_are_skipped(kbus: KafkaBus) -> None:
    """Records removed from the log's head (retention, DeleteRecords) are skipped, offsets are kept."""
    t = _fresh("trimmed")
    kbus.ensure_topics([t])
    kbus.append(t.name, [Record("k", str(i).encode()) for i in range(10)])
    _admin_call(lambda admin: admin.delete_records({TopicPartition(t.name, 0): RecordsToDelete(6)}))
    assert kbus.start_offsets(t.name) == {0: 6}
    assert [r.offset for r in kbus.read(t.name, 0, 0)] == [6, 7, 8, 9]
    assert kbus.lag("g", t.name) == {0: 4}


def test_unknown_topic_everywhere(kbus: KafkaBus) -> None:
    from watchman.bus.base import UnknownTopic

    name = f"test.missing.{uuid.uuid4().hex[:12]}"
    for call in (
        lambda: kbus.partitions(name),
        lambda: kbus.read(name, 0, 0),
        lambda: kbus.end_offsets(name),
        lambda: kbus.committed("g", name),
    ):
        with pytest.raises(UnknownTopic):
            call()
    # Asking about it must not have created it (brokers may auto-create on a metadata request).
    with pytest.raises(UnknownTopic):
        kbus.append(name, [Record("k", b"x")])


def test_unreachable_broker_is_a_clear_error_within_the_bound(opened: list[KafkaBus]) -> None:
    bus = KafkaBus("127.0.0.1:1", connect_timeout=5)
    opened.append(bus)
    t0 = time.monotonic()
    with pytest.raises(BusUnavailable, match=r"127\.0\.0\.1:1"):
        bus.ensure_topics([_fresh("nowhere")])
    with pytest.raises(BusUnavailable, match=r"127\.0\.0\.1:1"):
        bus.append("watchman.raw.packages", [Record("k", b"x")])
    assert time.monotonic() - t0 < 15


def test_silent_broker_is_a_clear_error_not_a_hang(opened: list[KafkaBus]) -> None:
    """A port that accepts connections but never answers (a hung broker, a wrong service)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"127.0.0.1:{server.getsockname()[1]}"
        bus = KafkaBus(address, connect_timeout=2)
        opened.append(bus)
        t0 = time.monotonic()
        with pytest.raises(BusUnavailable, match=re.escape(address)):
            bus.end_offsets("watchman.raw.packages")
        assert time.monotonic() - t0 < 10
