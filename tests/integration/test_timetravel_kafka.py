"""`watchman tail` and a webhook subscription's position on the distributed deployment's bus: a real Kafka."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.envelope import Envelope, event_id
from schemas.model import Topic
from tests.support.kafka import delete_topics
from watchman.bus.base import Record
from watchman.bus.kafka import KafkaBus
from watchman.timetravel.tail import BEGINNING, END, TailFilter, follow, start_positions

pytestmark = pytest.mark.servers

BOOTSTRAP = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")
PREFIX = f"test.tail.{uuid.uuid4().hex[:8]}"


def _record(i: int, type_: str = "ServiceFailed") -> Record:
    env = Envelope(
        id=event_id("tail", i),
        type=type_,
        schema_version=1,
        host="web1" if i % 2 else "db1",
        source="test",
        ts=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
        subject=f"unit{i}.service",
        payload={"n": i},
    )
    return Record(env.key, env.to_json(), {"type": type_})


@pytest.fixture(scope="module")
def kafka() -> Iterator[tuple[KafkaBus, str]]:
    bus = KafkaBus(BOOTSTRAP)
    topic = Topic(f"{PREFIX}.events", partitions=2, retention_days=None)
    bus.ensure_topics([topic])
    yield bus, topic.name
    bus.close()
    delete_topics(BOOTSTRAP, PREFIX)


def test_tail_on_kafka_from_the_beginning_filtered_and_live(kafka: tuple[KafkaBus, str]) -> None:
    bus, topic = kafka
    bus.append(topic, [_record(i) for i in range(10)])
    got: list[dict[str, Any]] = []
    follow(bus, start_positions(bus, [topic], BEGINNING), TailFilter(), got.append, exit_at_end=True)
    assert sorted(x["value"]["payload"]["n"] for x in got) == list(range(10))
    web1: list[dict[str, Any]] = []
    flt = TailFilter(hosts=frozenset({"web1"}), subjects=("unit[13]*",))
    follow(bus, start_positions(bus, [topic], BEGINNING), flt, web1.append, exit_at_end=True)
    assert sorted(x["value"]["subject"] for x in web1) == ["unit1.service", "unit3.service"]
    # From a time (Kafka's record timestamps): everything was appended before now.
    later: list[dict[str, Any]] = []
    follow(
        bus,
        start_positions(bus, [topic], datetime.now(UTC) + timedelta(minutes=5)),
        TailFilter(),
        later.append,
        exit_at_end=True,
    )
    assert later == []
    # Live: a follower from the end sees what is appended after it started.
    live: list[dict[str, Any]] = []
    stop, seen = threading.Event(), threading.Event()

    def emit(line: dict[str, Any]) -> None:
        live.append(line)
        if len(live) == 2:
            seen.set()

    positions = start_positions(bus, [topic], END)
    t = threading.Thread(
        target=follow, args=(bus, positions, TailFilter(), emit), kwargs={"exit_at_end": False, "stop": stop}
    )
    t.start()
    try:
        bus.append(topic, [_record(100), _record(101)])
        assert seen.wait(60)
    finally:
        stop.set()
        t.join(60)
    assert sorted(x["value"]["payload"]["n"] for x in live) == [100, 101]
