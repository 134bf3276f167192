"""Replay: rebuild a fresh LadybugDB from N domain records with watchman.replay.rebuild.

The domain log is made by the real parsers and decide function (in memory, untimed), so it holds what
a live run writes: a change told by apt and dpkg is decided twice under one event id. The baseline
reads and decodes the same records without writing a graph.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import HISTORY_START, HOST, fmt, median_time, say, scratch, sessions_for, timed
from bench.results import Figure, Section, Target
from processors.packages import decide
from processors.tables import MemoryTable
from producers.packages import make_parser
from producers.packages.envelopes import raw_envelope
from schemas.envelope import Envelope
from schemas.events import PackageChangeObserved
from schemas.events.packages import EVENTS_PACKAGES
from schemas.topics import TOPICS
from tests.support.histories import generate
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import envelope_record
from watchman.projecting import decode
from watchman.replay import rebuild
from watchman.wiring import open_graph

MILLION = 1_000_000
TARGET_1M_SECONDS = 30.0
REPLAY_BATCH = 5000
# Domain records per generated change: apt-told changes are decided twice (dpkg first, then merged).
RECORDS_PER_CHANGE = 1.9


def _observations(lines: list[str], kind: str) -> Iterator[PackageChangeObserved]:
    parser = make_parser(kind, tz=ZoneInfo("UTC"))
    offset = 0
    for line in lines:
        for r in parser.feed(line, offset):
            if isinstance(r, PackageChangeObserved):
                yield r
        offset += len(line.encode()) + 1
    for r in parser.flush():
        if isinstance(r, PackageChangeObserved):
            yield r


def domain_events(records: int, *, seed: int = 7) -> Iterator[Envelope]:
    """Domain envelopes as the packages processor decides them, apt and dpkg merged in time order."""
    sessions = sessions_for(int(records / RECORDS_PER_CHANGE * 1.1) + 1)
    done = 0
    while True:
        h = generate(sessions, start=HISTORY_START, seed=seed)
        table = MemoryTable()
        now = datetime.now(UTC)
        merged = heapq.merge(_observations(h.dpkg, "dpkg"), _observations(h.apt, "apt"), key=lambda o: o.ts)
        made = 0
        for obs in merged:
            for env in decide(raw_envelope(HOST, obs, now), obs, table):
                made += 1
                if made > done:  # a longer history with the same seed starts with the same records
                    yield env
                    if made == records:
                        return
        done = made
        sessions = sessions * 3 // 2 + 1


def build_domain_log(log: SqliteLog, records: int, *, seed: int = 7) -> int:
    log.ensure_topics(TOPICS.values())
    batch: list[Envelope] = []
    n = 0
    for env in domain_events(records, seed=seed):
        batch.append(env)
        if len(batch) == REPLAY_BATCH:
            log.append(EVENTS_PACKAGES.name, [envelope_record(e) for e in batch])
            n += len(batch)
            batch = []
    log.append(EVENTS_PACKAGES.name, [envelope_record(e) for e in batch])
    return n + len(batch)


def domain_log(directory: Path, records: int) -> tuple[SqliteLog, int]:
    """A log of `records` domain records in `directory`, built on first use (building 1M takes ~90 s:
    the embedded and the Neo4j replay share it within one run)."""
    path = directory / f"domain-{records}.sqlite"
    if path.exists():
        log = SqliteLog(path)
        return log, log.count(EVENTS_PACKAGES.name)
    directory.mkdir(parents=True, exist_ok=True)
    log = SqliteLog(path)
    say(f"replay: building a log of {records:,} domain records (untimed)")
    return log, build_domain_log(log, records)


def read_and_decode(log: SqliteLog) -> int:
    """The baseline: every domain record read from the log in replay-sized batches and decoded."""
    n = 0
    topic = EVENTS_PACKAGES.name
    for p in range(log.partitions(topic)):
        offset = 0
        while records := log.read(topic, p, offset, REPLAY_BATCH):
            for r in records:
                decode(r.value)
            n += len(records)
            offset = records[-1].offset + 1
    return n


def replay_once(log: SqliteLog, work: Path) -> tuple[float, int, int]:
    """Seconds to rebuild a fresh graph, records replayed, Event nodes in the rebuilt graph."""
    with scratch(work, "graph") as d:
        graph = open_graph(f"ladybug://{d / 'graph'}")
        try:
            seconds, n = timed(lambda: rebuild(log, graph, batch_size=REPLAY_BATCH))
            events = int(graph.query("MATCH (e:Event) RETURN count(e)").rows[0][0])
        finally:
            graph.close()
    return seconds, n, events


def default_sizes(events: int) -> list[int]:
    """`events`; from a million up also 100k, so the 1M figure has its smaller companion."""
    return sorted({events, 100_000} if events >= MILLION else {events})


def run(work: Path, *, sizes: Sequence[int], repeat: int = 3, domain_logs: Path | None = None) -> Section:
    section = Section("replay")
    section.details += [
        "| domain records | Event nodes after replay | replay s | read + decode s | records/s |",
        "|---|---|---|---|---|",
    ]
    rates: list[tuple[int, float]] = []
    for size in sorted(set(sizes)):
        with scratch(work, f"replay-{size}") as d:
            log, n = domain_log(domain_logs or d, size)
            try:
                say(f"replay: rebuilding a fresh graph from {n:,} records")
                seconds, replayed, events = replay_once(log, d)
                base = median_time(partial(read_and_decode, log), repeat)
            finally:
                log.close()
        rates.append((n, replayed / seconds))
        pro_rata = TARGET_1M_SECONDS * n / MILLION
        section.figures.append(
            Figure(
                f"rebuild from {n:,} domain records",
                seconds,
                "s",
                baseline=base,
                baseline_label="read + decode the same records, s",
                target=Target("<=", pro_rata, "s"),
                note=(
                    f"{replayed / seconds:,.0f} records/s"
                    + ("" if n == MILLION else f"; target pro rata of 1M ≤ {TARGET_1M_SECONDS:.0f} s")
                ),
            )
        )
        section.details.append(
            f"| {n:,} | {events:,} | {fmt(seconds)} | {fmt(base)} | {fmt(replayed / seconds)} |"
        )
    if all(n < MILLION for n, _ in rates):
        n, rate = rates[-1]
        section.figures.append(
            Figure(
                "rebuild from 1,000,000 domain records",
                None,
                "s",
                target=Target("<=", TARGET_1M_SECONDS, "s"),
                note=f"opt-in: `python -m bench replay --events 1000000`; "
                f"extrapolated from {n:,} records: {MILLION / rate:.0f} s",
            )
        )
    return section
