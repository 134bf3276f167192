"""`watchman tail` and webhook subscriptions: follow topics of either bus (the embedded log or Kafka).

Everything here goes through the Bus port, so both deployments behave the same: where to start
(beginning, end, or the first record appended at or after a time, found by a binary search over the
records' log timestamps, as kcat's `-o s@TS`), which records match (event type, host, subject), and
the JSON line each becomes. A subscription is a consumer group on the bus: a batch is POSTed, and only
when the receiver answered 2xx is the group's position committed (at least once); a failure is retried
after a back-off (1 s doubling to `retry_max`) with the same batch.
"""

from __future__ import annotations

import base64
import fnmatch
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.topics import DOMAIN_TOPICS, RAW_TOPICS, TOPICS
from watchman.alerting.targets import DeliveryFailed, post_json
from watchman.bus.base import Bus, StoredRecord, UnknownTopic

log = logging.getLogger(__name__)

BEGINNING = "beginning"
END = "end"


def select_topics(domains: Iterable[str] = (), topics: Iterable[str] = (), *, raw: bool = False) -> list[str]:
    """The topics to follow: named ones, else the domain topics (and with `raw` the raw ones) of the
    given domains (all when none). Unknown names raise KeyError with the known ones."""
    named = list(topics)
    for name in named:
        if name not in TOPICS:
            raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(TOPICS))}")
    if named:
        return named
    pool = [*DOMAIN_TOPICS, *(RAW_TOPICS if raw else ())]
    wanted = list(domains)
    known = sorted({t.name.split(".", 2)[2] for t in pool})
    for d in wanted:
        if d not in known:
            raise KeyError(f"unknown domain {d!r}; known: {', '.join(known)}")
    return [t.name for t in pool if not wanted or t.name.split(".", 2)[2] in wanted]


@dataclass(frozen=True)
class TailFilter:
    """Which records to show: each non-empty criterion must hold. Subjects are shell patterns (fnmatch)."""

    types: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    subjects: tuple[str, ...] = ()

    def matches(self, doc: dict[str, Any], headers: dict[str, str] | Any) -> bool:
        if self.types and (doc.get("type") or headers.get("type")) not in self.types:
            return False
        if self.hosts and doc.get("host") not in self.hosts:
            return False
        if self.subjects:
            subject = str(doc.get("subject", ""))
            return any(fnmatch.fnmatchcase(subject, p) for p in self.subjects)
        return True


def record_line(r: StoredRecord) -> dict[str, Any]:
    """One record as kcat -J shows it: topic, partition, offset, ts (log time), key, headers, value.
    A JSON value is inlined; anything else is kept as base64 (`value_b64`), never lost."""
    out: dict[str, Any] = {
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "ts": datetime.fromtimestamp(r.timestamp_ms / 1000, UTC).isoformat(),
        "key": r.key,
        "headers": dict(r.headers),
    }
    try:
        out["value"] = orjson.loads(r.value)
    except orjson.JSONDecodeError:
        out["value_b64"] = base64.b64encode(r.value).decode()
    return out


def matching(records: Iterable[StoredRecord], flt: TailFilter) -> list[dict[str, Any]]:
    lines = []
    for r in records:
        line = record_line(r)
        value = line.get("value")
        if flt.matches(value if isinstance(value, dict) else {}, r.headers):
            lines.append(line)
    return lines


def offset_at(bus: Bus, topic: str, partition: int, ts_ms: int) -> int:
    """The first offset of a partition whose record was appended at or after `ts_ms` (the end when none).
    A binary search by reading single records: log timestamps grow with the offset on both buses (the
    embedded log stamps at append; the forwarder produces in spool order)."""
    lo = bus.start_offsets(topic).get(partition, 0)
    hi = bus.end_offsets(topic).get(partition, 0)
    while lo < hi:
        mid = (lo + hi) // 2
        got = bus.read(topic, partition, mid, 1)
        if not got:
            return hi
        if got[0].timestamp_ms < ts_ms:
            lo = got[0].offset + 1
        else:
            hi = mid if got[0].offset == mid else min(hi, got[0].offset)
    return lo


def start_positions(bus: Bus, topics: Sequence[str], start: str | datetime) -> dict[tuple[str, int], int]:
    """Where to begin per partition: BEGINNING, END, or a time."""
    out: dict[tuple[str, int], int] = {}
    for t in topics:
        try:
            starts, ends = bus.start_offsets(t), bus.end_offsets(t)
        except UnknownTopic:  # nothing written to it on this bus yet
            continue
        for p in range(bus.partitions(t)):
            if start == BEGINNING:
                out[(t, p)] = starts.get(p, 0)
            elif start == END:
                out[(t, p)] = ends.get(p, 0)
            else:
                assert isinstance(start, datetime)
                out[(t, p)] = offset_at(bus, t, p, int(start.timestamp() * 1000))
    return out


def read_available(
    bus: Bus, positions: dict[tuple[str, int], int], batch_size: int = 1000
) -> Iterator[tuple[tuple[str, int], list[StoredRecord]]]:
    """One batch per partition that has records past its position (the caller moves the positions on)."""
    for (t, p), offset in list(positions.items()):
        records = bus.read(t, p, offset, batch_size)
        if records:
            yield (t, p), records


def follow(
    bus: Bus,
    positions: dict[tuple[str, int], int],
    flt: TailFilter,
    emit: Callable[[dict[str, Any]], None],
    *,
    exit_at_end: bool,
    stop: threading.Event | None = None,
    batch_size: int = 1000,
) -> int:
    """Write every matching record past `positions` to `emit`, partition by partition; at the end either
    return (exit_at_end, kcat's -e) or wait for more until `stop`. Returns the number emitted."""
    stop = stop or threading.Event()
    n = 0
    while not stop.is_set():
        busy = False
        for key, records in read_available(bus, positions, batch_size):
            busy = True
            for line in matching(records, flt):
                emit(line)
                n += 1
            positions[key] = records[-1].offset + 1
        if busy:
            continue
        if exit_at_end:
            break
        bus.wait_for_records(positions, timeout=1.0, stop=stop)
    return n


@dataclass
class Subscription:
    """A webhook subscription: matching records of `topics`, POSTed in batches as {"events": [...]} to
    `url`, at least once: the consumer group `group` moves on only after a 2xx answer."""

    bus: Bus
    url: str
    group: str
    topics: list[str]
    flt: TailFilter = field(default_factory=TailFilter)
    token: str = ""
    timeout: float = 5.0
    retry_initial: float = 1.0
    retry_max: float = 300.0
    batch_size: int = 500
    delay: float = 0.0
    last_error: str = ""

    def positions(self, start: str | datetime) -> dict[tuple[str, int], int]:
        """The group's committed positions; partitions it never committed begin at `start`."""
        out = start_positions(self.bus, self.topics, start)
        for t in {t for t, _ in out}:
            for p, o in self.bus.committed(self.group, t).items():
                out[(t, p)] = max(o, self.bus.start_offsets(t).get(p, 0))
        return out

    def step(self, positions: dict[tuple[str, int], int]) -> int:
        """Deliver one batch per partition that has records; the number of events delivered.
        Raises DeliveryFailed (positions untouched) when the receiver did not acknowledge."""
        sent = 0
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        for (t, p), records in read_available(self.bus, positions, self.batch_size):
            lines = matching(records, self.flt)
            if lines:
                post_json(self.url, {"group": self.group, "events": lines}, headers, self.timeout, "webhook")
            nxt = records[-1].offset + 1
            self.bus.commit(self.group, t, {p: nxt})
            positions[(t, p)] = nxt
            sent += len(lines)
        return sent

    def run(self, start: str | datetime, stop: threading.Event, *, exit_at_end: bool = False) -> int:
        """Deliver until `stop` (or, with exit_at_end, until the topics are delivered to their end)."""
        positions = self.positions(start)
        total = 0
        while not stop.is_set():
            try:
                n = self.step(positions)
            except DeliveryFailed as exc:
                self.delay = min(self.retry_max, max(self.retry_initial, self.delay * 2))
                self.last_error = str(exc)
                log.warning("webhook delivery failed, trying again in %gs: %s", self.delay, exc)
                if stop.wait(self.delay):
                    break
                continue
            self.delay, self.last_error = 0.0, ""
            total += n
            if any(True for _ in read_available(self.bus, positions, 1)):
                continue
            if exit_at_end:
                break
            self.bus.wait_for_records(positions, timeout=1.0, stop=stop)
        return total
