"""The bus port's test suite, written once: every Bus adapter subclasses BusSuite and provides `bus`."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from schemas.model import Topic
from watchman.bus.base import Bus, Record, UnknownTopic


class BusSuite:
    """Subclasses provide the fixtures `bus` (a fresh bus) and `reopen` (close and open the same bus).

    Every test gets topics with fresh names, so the suite also runs against a shared, long-lived
    broker where topics from earlier tests still exist.
    """

    @pytest.fixture
    def T1(self) -> Topic:
        return Topic(f"test.one.{uuid.uuid4().hex[:12]}", partitions=1, retention_days=None)

    @pytest.fixture
    def T3(self) -> Topic:
        return Topic(f"test.three.{uuid.uuid4().hex[:12]}", partitions=3, retention_days=None)

    @pytest.fixture
    def bus(self) -> Bus:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def reopen(self) -> Callable[[Bus], Bus]:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_append_then_read_from_zero(self, bus: Bus, T1: Topic) -> None:
        bus.ensure_topics([T1])
        positions = bus.append(T1.name, [Record("k", b"a"), Record("k", b"b"), Record("k", b"c")])
        assert positions == [(0, 0), (0, 1), (0, 2)]
        got = bus.read(T1.name, 0, 0)
        assert [r.value for r in got] == [b"a", b"b", b"c"]
        assert [r.offset for r in got] == [0, 1, 2]
        assert all(r.key == "k" for r in got)

    def test_read_from_any_offset_and_bounded(self, bus: Bus, T1: Topic) -> None:
        bus.ensure_topics([T1])
        bus.append(T1.name, [Record("k", str(i).encode()) for i in range(10)])
        assert [r.value for r in bus.read(T1.name, 0, 7)] == [b"7", b"8", b"9"]
        assert [r.offset for r in bus.read(T1.name, 0, 2, max_records=3)] == [2, 3, 4]
        assert bus.read(T1.name, 0, 10) == []

    def test_same_key_same_partition_in_order(self, bus: Bus, T3: Topic) -> None:
        bus.ensure_topics([T3])
        keys = [f"host/pkg{i % 7}" for i in range(70)]
        pos = bus.append(T3.name, [Record(k, f"{k}#{i}".encode()) for i, k in enumerate(keys)])
        by_key: dict[str, set[int]] = {}
        for k, (p, _) in zip(keys, pos, strict=True):
            by_key.setdefault(k, set()).add(p)
        assert all(len(ps) == 1 for ps in by_key.values())
        assert len({p for ps in by_key.values() for p in ps}) > 1, "keys should spread over partitions"
        for p in range(3):
            values = [r.value.decode() for r in bus.read(T3.name, p, 0)]
            for k in {v.split("#")[0] for v in values}:
                seq = [int(v.split("#")[1]) for v in values if v.startswith(k + "#")]
                assert seq == sorted(seq)

    def test_headers_round_trip(self, bus: Bus, T1: Topic) -> None:
        bus.ensure_topics([T1])
        bus.append(T1.name, [Record("k", b"{}", {"type": "PackageInstalled", "schema_version": "2"})])
        (r,) = bus.read(T1.name, 0, 0)
        assert dict(r.headers) == {"type": "PackageInstalled", "schema_version": "2"}

    def test_end_offsets_and_lag(self, bus: Bus, T3: Topic) -> None:
        bus.ensure_topics([T3])
        pos = bus.append(T3.name, [Record(f"k{i}", b"x") for i in range(30)])
        ends = bus.end_offsets(T3.name)
        assert sum(ends.values()) == 30
        assert set(ends) == {0, 1, 2}
        assert bus.lag("g", T3.name) == ends
        p0 = pos[0][0]
        bus.commit("g", T3.name, {p0: ends[p0]})
        lag = bus.lag("g", T3.name)
        assert lag[p0] == 0
        assert sum(lag.values()) == 30 - ends[p0]

    def test_commit_positions_per_group(self, bus: Bus, T3: Topic) -> None:
        bus.ensure_topics([T3])
        bus.append(T3.name, [Record(f"k{i}", b"x") for i in range(9)])
        assert bus.committed("a", T3.name) == {}
        bus.commit("a", T3.name, {0: 2, 1: 1})
        bus.commit("a", T3.name, {0: 3})
        bus.commit("b", T3.name, {2: 1})
        assert bus.committed("a", T3.name) == {0: 3, 1: 1}
        assert bus.committed("b", T3.name) == {2: 1}

    def test_durable_across_reopen(self, bus: Bus, reopen: Callable[[Bus], Bus], T1: Topic) -> None:
        bus.ensure_topics([T1])
        bus.append(T1.name, [Record("k", b"kept")])
        bus.commit("g", T1.name, {0: 1})
        again = reopen(bus)
        assert [r.value for r in again.read(T1.name, 0, 0)] == [b"kept"]
        assert again.committed("g", T1.name) == {0: 1}
        assert again.append(T1.name, [Record("k", b"next")]) == [(0, 1)]

    def test_unknown_topic_is_a_clear_error(self, bus: Bus) -> None:
        with pytest.raises(UnknownTopic):
            bus.append("no.such.topic", [Record("k", b"x")])

    def test_ensure_topics_is_idempotent(self, bus: Bus, T3: Topic) -> None:
        bus.ensure_topics([T3])
        bus.append(T3.name, [Record("k", b"x")])
        bus.ensure_topics([T3])
        assert bus.partitions(T3.name) == 3
        assert sum(bus.end_offsets(T3.name).values()) == 1

    def test_binary_and_unicode_values(self, bus: Bus, T1: Topic) -> None:
        bus.ensure_topics([T1])
        raw = bytes(range(256))
        bus.append(T1.name, [Record("clé/ü", raw)])
        (r,) = bus.read(T1.name, 0, 0)
        assert r.value == raw
        assert r.key == "clé/ü"
