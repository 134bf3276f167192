"""The Faust worker decides raw records in batches on the real Kafka from infra/: what it writes (domain
records in order, dead letters, its table's changelog, committed offsets) is what deciding one record at
a time gives."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from processors.faust_app import APP_ID
from processors.registry import ROUTES
from processors.routing import DECODE_ERRORS
from processors.tables import MemoryTable
from schemas.core import DLQ
from schemas.events.packages import EVENTS_PACKAGES, RAW_PACKAGES
from schemas.topics import partition_for
from tests.support.histories import History, generate
from tests.support.instance import Instance
from tests.support.kafka import delete_topics
from watchman.bus.base import Record, StoredRecord
from watchman.bus.kafka import KafkaBus

# Resets or shares state on the infra/ servers: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

KAFKA = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")
NEO4J = os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687")
NEO4J_USER = os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j")
PACKAGES = next(r for r in ROUTES if r.source == RAW_PACKAGES)
CHANGELOG = f"{APP_ID}-{PACKAGES.table}-state-changelog"  # Faust: <app id>-<table name>-changelog
GARBAGE = Record("testhost/pkg-garbage", b"{not an envelope")


@pytest.fixture
def bus() -> Iterator[KafkaBus]:
    delete_topics(KAFKA, "watchman")  # fresh raw, domain and changelog topics
    b = KafkaBus(KAFKA)
    try:
        yield b
    finally:
        b.close()


def _everything(bus: KafkaBus, topic: str) -> list[StoredRecord]:
    out: list[StoredRecord] = []
    for p in range(bus.partitions(topic)):
        offset = 0
        while batch := bus.read(topic, p, offset, 5000):
            out += batch
            offset = batch[-1].offset + 1
    return out


def _append_lines(inst: Instance, h: History) -> None:
    with inst.apt_log.open("a") as f:
        f.write("".join(line + "\n" for line in h.apt))
    with inst.dpkg_log.open("a") as f:
        f.write("".join(line + "\n" for line in h.dpkg))


class CountingTable(MemoryTable):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def set(self, key: str, value: Any) -> None:
        self.writes += 1
        super().set(key, value)


def test_batches_decide_as_one_record_at_a_time_and_a_dead_letter_stops_nothing(
    tmp_path: Path, bus: KafkaBus
) -> None:
    inst = Instance(tmp_path)
    inst.write_config(bus=f"kafka://{KAFKA}", graph=NEO4J, neo4j_user=NEO4J_USER)
    inst.apt_log.parent.mkdir(parents=True, exist_ok=True)
    # Two histories one after the other: an undecodable record lands between them in its partition.
    first = generate(6, start=datetime(2024, 3, 1), seed=31)
    second = generate(6, start=datetime(2024, 4, 1), seed=32)
    _append_lines(inst, first)
    inst.cli("produce", "--once")
    [(garbage_partition, garbage_offset)] = bus.append(RAW_PACKAGES.name, [GARBAGE])
    _append_lines(inst, second)
    inst.cli("produce", "--once")

    raw = sorted(_everything(bus, RAW_PACKAGES.name), key=lambda r: (r.partition, r.offset))
    assert any(r.partition == garbage_partition and r.offset > garbage_offset for r in raw), (
        "the dead letter should have records after it in its partition"
    )
    # What deciding the raw records one at a time, in each partition's order, gives.
    table = CountingTable()
    expected: dict[int, list[str]] = {p: [] for p in range(EVENTS_PACKAGES.partitions)}
    dead: list[str] = []
    for r in raw:
        try:
            outputs = PACKAGES.handle(r.value, table)
        except DECODE_ERRORS:
            dead.append(f"{r.topic}/{r.partition}/{r.offset}")
            continue
        for out in outputs:
            expected[partition_for(out.key, EVENTS_PACKAGES.partitions)].append(out.id)
    assert dead == [f"{RAW_PACKAGES.name}/{garbage_partition}/{garbage_offset}"]
    want = sum(len(ids) for ids in expected.values())
    # apt's and dpkg's tellings of one change are one event (the second re-emits it, merged, under its id)
    assert len({i for ids in expected.values() for i in ids}) == first.changes + second.changes

    # Every raw record is on Kafka before the worker starts: it takes them in one or a few batches.
    worker = inst.start("worker")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert worker.poll() is None, inst.daemon_log("worker")
            with contextlib.suppress(Exception):  # topics still being created by the worker
                done = sum(bus.end_offsets(EVENTS_PACKAGES.name).values()) >= want
                if done and sum(bus.lag(APP_ID, RAW_PACKAGES.name).values()) == 0:
                    break
            time.sleep(0.5)
        else:
            raise AssertionError(f"worker did not finish and commit in 180 s:\n{inst.daemon_log('worker')}")
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    domain = _everything(bus, EVENTS_PACKAGES.name)
    got: dict[int, list[str]] = {p: [] for p in range(EVENTS_PACKAGES.partitions)}
    for r in sorted(domain, key=lambda r: (r.partition, r.offset)):
        got[r.partition].append(orjson.loads(r.value)["id"])
        assert r.headers["type"] == orjson.loads(r.value)["type"]
    # The same events under the same ids, none twice, in the order decided within each partition.
    assert got == expected

    letters = [orjson.loads(r.value) for r in _everything(bus, DLQ.name)]
    assert [(d["source"], d["position"]) for d in letters] == [(PACKAGES.name, dead[0])]
    assert "{not an envelope" in letters[0]["raw_text"]

    # The table is durable as the last changelog record of each key: exactly the one-at-a-time state,
    # written once per key per batch rather than once per write.
    changelog = _everything(bus, CHANGELOG)
    last = {orjson.loads(r.key): orjson.loads(r.value) for r in changelog}
    assert last == orjson.loads(orjson.dumps(table.data))
    assert len(changelog) < table.writes, (len(changelog), table.writes)
