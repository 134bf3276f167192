"""Bus.wait_for_records on the real Kafka broker and on the embedded log, and the distributed projector
woken by it: a record appended during the wait ends it, nothing ends it at the timeout, `stop` at once."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin.records_to_delete import RecordsToDelete

from schemas.envelope import Envelope
from schemas.events import PackageRemoved
from schemas.events.packages import EVENTS_PACKAGES
from schemas.model import Topic
from tests.integration.test_kafka_bus import _admin_call
from watchman.bus.base import Bus, Record, UnknownTopic, partition_for
from watchman.bus.kafka import BusUnavailable, KafkaBus
from watchman.bus.sqlite_log import SqliteLog

# Uses the infra/ Kafka; the projector test deletes the watchman topics: one such module at a time.
pytestmark = pytest.mark.servers

BOOTSTRAP = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")
# Long enough that returning in under half of it can only be the record (or `stop`) ending the wait.
LONG = 20.0

Pair = tuple[Bus, Bus]


@pytest.fixture(params=["kafka", "sqlite"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Two buses on one log: the one that waits, and another that appends (as another process would)."""
    if request.param == "kafka":
        buses: list[Bus] = [KafkaBus(BOOTSTRAP), KafkaBus(BOOTSTRAP)]
    else:
        buses = [SqliteLog(tmp_path / "log.sqlite"), SqliteLog(tmp_path / "log.sqlite")]
    try:
        yield buses[0], buses[1]
    finally:
        for b in buses:
            b.close()


@pytest.fixture
def opened_kafka() -> Iterator[list[KafkaBus]]:
    buses: list[KafkaBus] = []
    yield buses
    for b in buses:
        b.close()


def _topic(partitions: int = 3, retention_bytes: int | None = None) -> Topic:
    name = f"test.wait.{uuid.uuid4().hex[:12]}"
    return Topic(name, partitions=partitions, retention_days=None, retention_bytes=retention_bytes)


def _at_ends(bus: Bus, *topics: Topic) -> dict[tuple[str, int], int]:
    return {(t.name, p): o for t in topics for p, o in bus.end_offsets(t.name).items()}


def _later(delay: float, action: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _timed(fn: Callable[[], bool]) -> tuple[bool, float]:
    t0 = time.monotonic()
    result = fn()
    return result, time.monotonic() - t0


def test_a_record_appended_during_the_wait_ends_it(pair: Pair) -> None:
    waiting, other = pair
    a, b = _topic(), _topic()
    waiting.ensure_topics([a, b])
    other.ensure_topics([a, b])
    other.append(b.name, [Record("before", b"x")])  # the positions start past records already there
    positions = _at_ends(waiting, a, b)
    appended = _later(0.5, lambda: other.append(b.name, [Record("late", b"y")]))
    ready, took = _timed(lambda: waiting.wait_for_records(positions, LONG))
    appended.join(timeout=30)
    assert ready is True
    assert took < LONG / 2
    p = partition_for("late", 3)
    assert [r.key for r in waiting.read(b.name, p, positions[(b.name, p)])] == ["late"]


def test_records_already_past_the_positions_end_it_at_once(pair: Pair) -> None:
    waiting, other = pair
    t = _topic()
    other.ensure_topics([t])
    other.append(t.name, [Record("k", b"1"), Record("k", b"2")])
    p = partition_for("k", 3)
    positions = {(t.name, q): 0 for q in range(3)}
    ready, took = _timed(lambda: waiting.wait_for_records(positions, LONG))
    assert ready is True and took < LONG / 2
    # Nothing was consumed: asked again from the same positions, the records are still there.
    assert waiting.wait_for_records(positions, LONG) is True
    # Past the last of them, they no longer count.
    positions[(t.name, p)] = 2
    assert waiting.wait_for_records(positions, 1.0) is False


def test_nothing_appended_returns_false_after_the_timeout(pair: Pair) -> None:
    waiting, _ = pair
    t = _topic()
    waiting.ensure_topics([t])
    ready, took = _timed(lambda: waiting.wait_for_records(_at_ends(waiting, t), 1.5))
    assert ready is False
    assert 1.4 <= took < 1.5 + 5


def test_stop_ends_the_wait(pair: Pair) -> None:
    waiting, other = pair
    t = _topic()
    waiting.ensure_topics([t])
    stop = threading.Event()
    setter = _later(0.5, stop.set)
    ready, took = _timed(lambda: waiting.wait_for_records(_at_ends(waiting, t), LONG, stop))
    setter.join(timeout=30)
    assert ready is False
    assert took < 2.0  # `stop` is looked at every quarter second
    # Already set: no wait at all, records there or not.
    other.append(t.name, [Record("k", b"x")])
    ready, took = _timed(lambda: waiting.wait_for_records({(t.name, q): 0 for q in range(3)}, LONG, stop))
    assert ready is False and took < 1.0


def test_a_log_emptied_by_retention_does_not_wake(pair: Pair) -> None:
    """Positions below the oldest retained record, and nothing retained: no record to read, so no wake
    (a projector would otherwise spin)."""
    waiting, other = pair
    t = _topic(partitions=1, retention_bytes=1)
    other.ensure_topics([t])
    other.append(t.name, [Record("k", str(i).encode()) for i in range(5)])
    if isinstance(other, KafkaBus):
        _admin_call(lambda admin: admin.delete_records({TopicPartition(t.name, 0): RecordsToDelete(5)}))
    else:
        assert isinstance(other, SqliteLog) and other.enforce_retention() == 5
    assert waiting.start_offsets(t.name) == waiting.end_offsets(t.name) == {0: 5}
    assert waiting.wait_for_records({(t.name, 0): 0}, 1.5) is False
    # A new record past that still wakes it.
    _later(0.3, lambda: other.append(t.name, [Record("k", b"new")]))
    ready, took = _timed(lambda: waiting.wait_for_records({(t.name, 0): 0}, LONG))
    assert ready is True and took < LONG / 2


def test_reads_and_waits_interleave_on_one_bus(pair: Pair) -> None:
    """The wait has its own consumer: a read continuing the previous one still gets what follows."""
    waiting, other = pair
    t = _topic(partitions=1)
    other.ensure_topics([t])
    other.append(t.name, [Record("k", str(i).encode()) for i in range(10)])
    assert [r.offset for r in waiting.read(t.name, 0, 0, 4)] == [0, 1, 2, 3]
    assert waiting.wait_for_records({(t.name, 0): 4}, LONG) is True
    assert [r.offset for r in waiting.read(t.name, 0, 4, 4)] == [4, 5, 6, 7]
    assert waiting.wait_for_records({(t.name, 0): 10}, 0.5) is False
    assert [r.offset for r in waiting.read(t.name, 0, 8, 100)] == [8, 9]


def test_unknown_topic_is_an_error(pair: Pair) -> None:
    waiting, _ = pair
    with pytest.raises(UnknownTopic):
        waiting.wait_for_records({(f"test.missing.{uuid.uuid4().hex[:12]}", 0): 0}, 1.0)


def test_unreachable_broker_is_an_error_within_the_bound(opened_kafka: list[KafkaBus]) -> None:
    bus = KafkaBus("127.0.0.1:1", connect_timeout=2)
    opened_kafka.append(bus)
    t0 = time.monotonic()
    with pytest.raises(BusUnavailable, match=r"127\.0\.0\.1:1"):
        bus.wait_for_records({("watchman.events.packages", 0): 0}, 1.0)
    assert time.monotonic() - t0 < 10


def test_a_topic_deleted_during_the_wait_ends_it(opened_kafka: list[KafkaBus]) -> None:
    """A consumer left assigned to a deleted topic asks for metadata in a tight loop: the wait notices
    the deletion, says so and lets go of the topic; the bus still serves the next wait."""
    bus = KafkaBus(BOOTSTRAP)
    opened_kafka.append(bus)
    gone, kept = _topic(partitions=1), _topic(partitions=1)
    bus.ensure_topics([gone, kept])
    deleted = _later(0.5, lambda: _admin_call(lambda admin: admin.delete_topics([gone.name])))
    t0 = time.monotonic()
    with pytest.raises(UnknownTopic, match=re.escape(gone.name)):
        bus.wait_for_records({(gone.name, 0): 0, (kept.name, 0): 0}, LONG)
    assert time.monotonic() - t0 < LONG / 2
    deleted.join(timeout=30)
    _later(0.3, lambda: bus.append(kept.name, [Record("k", b"x")]))
    ready, took = _timed(lambda: bus.wait_for_records({(kept.name, 0): 0}, LONG))
    assert ready is True and took < LONG / 2


def test_idle_waits_log_nothing(opened_kafka: list[KafkaBus], caplog: pytest.LogCaptureFixture) -> None:
    """Each wait assigns and unassigns the waiter's partitions; aiokafka would log both at INFO, twice
    a second for an idle projector run with -v. The same messages from other consumers still show."""
    bus = KafkaBus(BOOTSTRAP)
    opened_kafka.append(bus)
    t = _topic(partitions=1)
    bus.ensure_topics([t])
    bus.append(t.name, [Record("k", b"x")])
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert bus.wait_for_records({(t.name, 0): 1}, 0.3) is False
        assert bus.wait_for_records({(t.name, 0): 0}, LONG) is True
        assert not [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka.consumer")]
        bus.read(t.name, 0, 0)  # the reads consumer's assignment is still reported
    assert any("subscribed topics" in r.getMessage() for r in caplog.records)


def _removed(n: int) -> Record:
    p = PackageRemoved(
        package=f"wait-probe-{n}",
        arch="amd64",
        old_version="1.0-1",
        epoch="",
        action="remove",
        ecosystem="deb",
        sources=("dpkg",),
    )
    now = datetime.now(UTC)
    env = Envelope(
        id=f"wait-probe-{n}",
        type=p.TYPE,
        schema_version=p.VERSION,
        host="testhost",
        source="processors.packages",
        ts=now,
        observed_at=now,
        subject=p.package,
        payload=p.model_dump(mode="json"),
    )
    return Record(env.key, env.to_json(), {"type": env.type, "schema_version": str(env.schema_version)})


def test_the_projector_wakes_on_a_record_long_before_its_poll_interval(tmp_path: Path) -> None:
    """`watchman project`'s loop with poll_interval 60 s: a domain record appended while it is idle is
    in the graph within seconds, and `stop` ends it within a second or so."""
    from tests.e2e.test_distributed import reset_servers
    from watchman.distributed import Counters, run_projector
    from watchman.settings import Settings

    reset_servers()
    settings = Settings(
        data_dir=tmp_path / "data",
        host="testhost",
        bus=f"kafka://{BOOTSTRAP}",
        graph=f"ladybug://{tmp_path / 'graph'}",
        poll_interval=60.0,
    )
    stop = threading.Event()
    steps: list[tuple[float, int]] = []
    changed = threading.Condition()

    def on_status(c: Counters) -> None:
        with changed:
            steps.append((time.monotonic(), c.projected))
            changed.notify_all()

    def wait_until(check: Callable[[], bool], timeout: float) -> bool:
        with changed:
            return changed.wait_for(check, timeout)

    errors: list[BaseException] = []

    def project() -> None:
        try:
            run_projector(settings, stop, on_status=on_status)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    projector = threading.Thread(target=project, daemon=True)
    projector.start()
    appender = KafkaBus(BOOTSTRAP)
    try:
        # Idle: a first step that found nothing (the topics are fresh), then it waits.
        assert wait_until(lambda: bool(steps), 60), errors
        time.sleep(1.0)
        for n in (1, 2):
            appender.append(EVENTS_PACKAGES.name, [_removed(n)])
            t0 = time.monotonic()
            assert wait_until(lambda n=n: steps[-1][1] >= n, 30), (steps, errors)  # type: ignore[misc]
            assert time.monotonic() - t0 < 10, steps  # poll_interval is 60 s
            time.sleep(1.0)
        t0 = time.monotonic()
        stop.set()
        projector.join(timeout=15)
        assert not projector.is_alive()
        assert time.monotonic() - t0 < 5
        assert not errors
    finally:
        stop.set()
        projector.join(timeout=30)
        appender.close()
