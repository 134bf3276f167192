"""Time travel: the graph as it was at a time, as a replay of the log cut at that time.

The cut at T is every domain event whose own time (the envelope's `ts`: when it happened on the host)
is at or before T. The graph is a fold of those events that does not depend on their order (upserts
merged by min / max / latest-by-ts rules, relationships created once, nothing deleted: see
projections/graph_ops.py), so the cut is a set, and "the store of cut T1 plus the events with
T1 < ts <= T2" IS the store of cut T2. Three things follow:

* an index: a small SQLite table, beside the snapshots, of (topic, partition, offset, ts) for every
  domain record, kept up to date incrementally (each record is decoded once, ever);
* snapshots: copies of scratch LadybugDB stores at cut points, each with the log ends it had seen;
* a query at T copies the nearest snapshot at or before T and applies only the records the index
  names: ts in (snapshot, T], plus those appended after the snapshot with ts <= its time (late ones).

The same code serves both deployments: it reads the bus (the embedded log or Kafka) through the Bus
port and always answers from a scratch LadybugDB (the distributed deployment's Neo4j is not touched).
docs/domains/timetravel.md has the measurements behind this choice.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from projections.graph_ops import GraphOp
from projections.registry import PROJECTORS
from projections.stores.base import GraphStore, QueryResult
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.topics import DOMAIN_TOPICS
from watchman.bus.base import Bus, StoredRecord, UnknownTopic

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS cut_index (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cut_index_ts ON cut_index (ts_ms);
CREATE TABLE IF NOT EXISTS cut_indexed (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    name TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, ends BLOB NOT NULL, records INTEGER NOT NULL
);
"""

Ends = dict[str, int]  # "topic/partition" -> next offset the snapshot had indexed


def event_ts_ms(value: bytes) -> int | None:
    """The envelope's `ts` in epoch milliseconds; None for a record that is no envelope (the
    projection dead-letters those; a cut skips them too)."""
    try:
        ts = orjson.loads(value)["ts"]
        dt = datetime.fromisoformat(ts)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


OnDead = Callable[[str, str, Exception, bytes], None]


def project_records(
    topic: str, partition: int, records: Iterable[StoredRecord], on_dead: OnDead
) -> list[GraphOp]:
    """Domain records to graph operations, as the live projection makes them (watchman.pipeline's
    project_records, which the API may not import); undecodable ones to `on_dead` (already
    dead-lettered by the live projection: a cut only skips them)."""
    ops: list[GraphOp] = []
    for r in records:
        try:
            env = Envelope.from_json(r.value)
            fn = PROJECTORS.get(env.type)
            if fn is None:
                raise KeyError(f"no projection for {env.type}")
            ops.extend(fn(env, decode_payload(env.type, env.schema_version, env.payload)))
        except (
            ValueError,
            TypeError,
            LookupError,
        ) as exc:  # ValidationError: ValueError; unknown type: LookupError
            on_dead("timetravel", f"{topic}/{partition}/{r.offset}", exc, r.value)
    return ops


def _runs(offsets: list[int]) -> Iterator[tuple[int, int]]:
    """Sorted offsets as (first, count) runs of consecutive offsets."""
    start = prev = None
    for o in offsets:
        if start is None:
            start = prev = o
        elif o == prev + 1:  # type: ignore[operator]
            prev = o
        else:
            yield start, prev - start + 1  # type: ignore[operator]
            start = prev = o
    if start is not None:
        yield start, prev - start + 1  # type: ignore[operator]


@dataclass(frozen=True)
class Cut:
    """What one answer was built from: the time, the snapshot it started from and the records applied."""

    at: datetime
    snapshot_at: datetime | None
    applied: int
    total: int  # records with ts <= at (what a replay from nothing would apply)


class TimeMachine:
    """The index, the snapshots and the scratch stores of one bus, under `cache_dir`."""

    def __init__(
        self,
        bus: Bus,
        cache_dir: Path,
        *,
        snapshot_every: int = 10_000,
        keep_snapshots: int = 40,
        batch_size: int = 5000,
    ) -> None:
        self.bus = bus
        self.dir = cache_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.snapshot_every = snapshot_every
        self.keep_snapshots = keep_snapshots
        self.batch_size = batch_size
        self.db = sqlite3.connect(self.dir / "index.sqlite", check_same_thread=False)
        self.db.executescript(_DDL)
        self.db.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        self.db.close()

    # -- the index ---------------------------------------------------------------------------------

    def update_index(self) -> int:
        """Index the domain records appended since the last call; the number indexed."""
        n = 0
        indexed = {(t, p): o for t, p, o in self.db.execute("SELECT * FROM cut_indexed")}
        for topic in DOMAIN_TOPICS:
            try:
                starts = self.bus.start_offsets(topic.name)
            except UnknownTopic:  # no domain wrote it yet on this bus
                continue
            for p, end in self.bus.end_offsets(topic.name).items():
                offset = max(indexed.get((topic.name, p), 0), starts.get(p, 0))
                while offset < end:
                    records = self.bus.read(topic.name, p, offset, self.batch_size)
                    if not records:
                        break
                    rows = [
                        (topic.name, p, r.offset, ts)
                        for r in records
                        if (ts := event_ts_ms(r.value)) is not None
                    ]
                    offset = records[-1].offset + 1
                    with self.db:
                        self.db.executemany("INSERT OR REPLACE INTO cut_index VALUES (?,?,?,?)", rows)
                        self.db.execute(
                            "INSERT OR REPLACE INTO cut_indexed VALUES (?,?,?)", (topic.name, p, offset)
                        )
                    n += len(records)
        return n

    def _indexed_ends(self) -> Ends:
        return {f"{t}/{p}": o for t, p, o in self.db.execute("SELECT * FROM cut_indexed")}

    # -- snapshots ---------------------------------------------------------------------------------

    def snapshots(self) -> list[tuple[str, int, Ends, int]]:
        rows = self.db.execute("SELECT name, at_ms, ends, records FROM snapshots ORDER BY at_ms")
        return [(n, at, orjson.loads(e), r) for n, at, e, r in rows]

    def _nearest(self, at_ms: int) -> tuple[str, int, Ends, int] | None:
        best = None
        for snap in self.snapshots():
            if snap[1] <= at_ms and (self.dir / snap[0]).exists():
                best = snap
        return best

    def _plan(self, at_ms: int, base: tuple[str, int, Ends, int] | None) -> dict[tuple[str, int], list[int]]:
        """Per partition, the offsets to apply on top of `base` (or from nothing) for the cut at `at_ms`."""
        plan: dict[tuple[str, int], list[int]] = {}
        rows: list[tuple[str, int, int]]
        if base is None:
            rows = self.db.execute(
                "SELECT topic, partition, offset FROM cut_index WHERE ts_ms <= ? "
                "ORDER BY topic, partition, offset",
                (at_ms,),
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT topic, partition, offset FROM cut_index WHERE ts_ms > ? AND ts_ms <= ?",
                (base[1], at_ms),
            ).fetchall()
            for key, end in base[2].items():
                t, _, p = key.rpartition("/")
                rows += self.db.execute(  # appended after the snapshot, yet at or before its time
                    "SELECT topic, partition, offset FROM cut_index "
                    "WHERE topic=? AND partition=? AND offset>=? AND ts_ms <= ?",
                    (t, int(p), end, base[1]),
                ).fetchall()
            indexed = {f"{t}/{p}" for t, p, _ in self.db.execute("SELECT * FROM cut_indexed")}
            for key in indexed - set(base[2]):  # partitions the snapshot never saw
                t, _, p = key.rpartition("/")
                rows += self.db.execute(
                    "SELECT topic, partition, offset FROM cut_index "
                    "WHERE topic=? AND partition=? AND ts_ms <= ?",
                    (t, int(p), base[1]),
                ).fetchall()
        for topic, part, o in rows:
            plan.setdefault((topic, int(part)), []).append(int(o))
        return plan

    def _apply(self, store: GraphStore, plan: Mapping[tuple[str, int], list[int]]) -> int:
        # One writer thread: the next batch is read and projected while this one is written (replay.rebuild).

        skipped: list[str] = []

        def on_dead(source: str, position: str, exc: Exception, raw: bytes) -> None:
            skipped.append(f"{position}: {exc}")

        def batches() -> Iterator[list[StoredRecord]]:
            pending: list[StoredRecord] = []
            for (t, p), offsets in plan.items():
                for first, count in _runs(sorted(offsets)):
                    o, last = first, first + count
                    while o < last:
                        got = self.bus.read(t, p, o, min(self.batch_size, last - o))
                        if not got:
                            break
                        pending.extend(r for r in got if r.offset < last)
                        o = got[-1].offset + 1
                        if len(pending) >= self.batch_size:
                            yield pending
                            pending = []
            if pending:
                yield pending

        n = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="watchman-cut") as writer:
            writing: Future[None] | None = None
            for records in batches():
                ops = []
                for r in records:
                    ops.extend(project_records(r.topic, r.partition, [r], on_dead))
                if writing is not None:
                    writing.result()
                writing = writer.submit(store.apply, ops, {})
                n += len(records)
            if writing is not None:
                writing.result()
        if skipped:
            log.info("time travel skipped %d undecodable records, e.g. %s", len(skipped), skipped[0])
        return n

    @contextmanager
    def at(self, when: datetime) -> Iterator[tuple[GraphStore, Cut]]:
        """A store holding the graph as it was at `when` (opened and closed by the context): a snapshot
        itself when nothing lies between it and `when`, else a scratch copy of the nearest snapshot with
        the difference applied (removed afterwards, or kept as a snapshot when it applied at least
        `snapshot_every` records)."""
        from projections.stores.ladybug import GraphLocked, LadybugStore

        self.update_index()
        ends = self._indexed_ends()  # before the plan: a snapshot never claims records it lacks
        at_ms = int(when.timestamp() * 1000)
        base = self._nearest(at_ms)
        plan = self._plan(at_ms, base)
        (total,) = self.db.execute("SELECT COUNT(*) FROM cut_index WHERE ts_ms <= ?", (at_ms,)).fetchone()
        snapshot_at = None if base is None else datetime.fromtimestamp(base[1] / 1000, UTC)
        if base is not None and not plan:
            # The snapshot is the answer: queried in place (read-only), no copy. A snapshot another
            # query holds open is copied instead (LadybugDB lets one opener in).
            try:
                store = LadybugStore(self.dir / base[0])
            except GraphLocked:
                pass
            else:
                try:
                    yield store, Cut(when, snapshot_at, 0, int(total))
                finally:
                    store.close()
                return
        scratch = self.dir / f"scratch-{uuid.uuid4().hex}"
        if base is not None:
            shutil.copytree(self.dir / base[0], scratch)
        store = LadybugStore(scratch)
        keep = False
        try:
            store.ensure_schema()
            applied = self._apply(store, plan)
            yield store, Cut(when, snapshot_at, applied, int(total))
            keep = applied >= self.snapshot_every
        finally:
            store.close()
            if keep:
                self._keep(scratch, at_ms, ends, int(total))
            else:
                shutil.rmtree(scratch, ignore_errors=True)

    def _keep(self, scratch: Path, at_ms: int, ends: Ends, records: int) -> None:
        name = f"snapshot-{at_ms}-{uuid.uuid4().hex[:8]}"
        scratch.rename(self.dir / name)
        with self.db:
            self.db.execute(
                "INSERT INTO snapshots VALUES (?,?,?,?)", (name, at_ms, orjson.dumps(ends), records)
            )
        snaps = self.snapshots()
        for old in snaps[: max(0, len(snaps) - self.keep_snapshots)]:
            shutil.rmtree(self.dir / old[0], ignore_errors=True)
            with self.db:
                self.db.execute("DELETE FROM snapshots WHERE name=?", (old[0],))

    def build_snapshots(self, every: int | None = None) -> int:
        """Snapshots every `every` records of event time, over the whole history (each from the one
        before it); the number made."""
        every = every or self.snapshot_every
        self.update_index()
        times = [t for (t,) in self.db.execute("SELECT ts_ms FROM cut_index ORDER BY ts_ms")]
        made = 0
        for i in range(every - 1, len(times), every):
            at_ms = times[i]
            if any(s[1] == at_ms for s in self.snapshots()):
                continue
            saved, self.snapshot_every = self.snapshot_every, 1
            try:
                with self.at(datetime.fromtimestamp(at_ms / 1000, UTC)):
                    pass
            finally:
                self.snapshot_every = saved
            made += 1
        return made

    def query(self, cypher: str, params: Mapping[str, Any] | None, when: datetime) -> tuple[QueryResult, Cut]:
        with self.at(when) as (store, cut):
            return store.query(cypher, params or {}, read_only=True), cut


def replay_cut(bus: Bus, store: GraphStore, when: datetime, batch_size: int = 5000) -> int:
    """The reference: every domain record with ts <= `when`, read straight from the log in log order and
    applied to `store` (no index, no snapshot). What TimeMachine must equal."""
    at_ms = int(when.timestamp() * 1000)
    store.ensure_schema()

    def on_dead(source: str, position: str, exc: Exception, raw: bytes) -> None:
        pass

    n = 0
    for topic in DOMAIN_TOPICS:
        try:
            starts = bus.start_offsets(topic.name)
        except UnknownTopic:
            continue
        for p, end in bus.end_offsets(topic.name).items():
            offset = starts.get(p, 0)
            while offset < end:
                records = bus.read(topic.name, p, offset, batch_size)
                if not records:
                    break
                keep = [r for r in records if (ts := event_ts_ms(r.value)) is not None and ts <= at_ms]
                store.apply(project_records(topic.name, p, keep, on_dead), {})
                n += len(keep)
                offset = records[-1].offset + 1
    return n
