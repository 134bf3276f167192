"""Replay: rebuild the graph from the domain topics into a fresh store, then swap it in."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from projections.graph_ops import GraphOp
from projections.stores.base import GraphStore
from schemas.topics import DOMAIN_TOPICS
from watchman.bus.base import Bus
from watchman.bus.sqlite_log import SqliteLog
from watchman.projecting import OnDead, graph_position_name, project_records
from watchman.wiring import graph_path, open_graph

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def domain_backlog(log_: Bus) -> int:
    """How many domain records a rebuild will read."""
    total = 0
    for t in DOMAIN_TOPICS:
        starts = log_.start_offsets(t.name)
        total += sum(end - starts.get(p, end) for p, end in log_.end_offsets(t.name).items())
    return total


def _next_batch(
    bus: Bus,
    offsets: dict[tuple[str, int], int],
    applied: dict[str, int],
    batch_size: int,
    on_dead: OnDead,
) -> tuple[list[GraphOp], dict[str, int], int]:
    """The next batch of every domain partition, decoded and projected: the reading half of
    pipeline.project_topics, with the positions kept here instead of asked of the store each time
    (`applied`: what the store held when the replay began; `offsets`: where each partition goes on)."""
    ops: list[GraphOp] = []
    positions: dict[str, int] = {}
    n = 0
    for topic in DOMAIN_TOPICS:
        starts: dict[int, int] | None = None
        for p in range(bus.partitions(topic.name)):
            key = (topic.name, p)
            if key not in offsets:
                if starts is None:
                    starts = bus.start_offsets(topic.name)
                name = graph_position_name(topic.name, p)
                offsets[key] = max(applied.get(name, -1) + 1, starts.get(p, 0))
            records = bus.read(topic.name, p, offsets[key], batch_size)
            ops.extend(project_records(topic.name, p, records, on_dead))
            if records:
                positions[graph_position_name(topic.name, p)] = records[-1].offset
                offsets[key] = records[-1].offset + 1
                n += len(records)
    return ops, positions, n


def rebuild(
    log_: Bus, target: GraphStore, *, batch_size: int = 5000, progress: Progress | None = None
) -> int:
    """Project every domain record from offset zero (or from the positions `target` already holds)
    into `target`; returns the number of records.

    The same batches, in the same order, with the same positions as the live projector's steps; but
    while one batch is written, the next one is read, decoded and projected: the store's engine (LadybugDB
    releases the GIL) or server (Neo4j) works while Python prepares, instead of each waiting for the other.
    """
    target.ensure_schema()
    total = domain_backlog(log_)
    done = 0
    skipped: list[str] = []

    def on_dead(source: str, position: str, exc: Exception, raw: bytes) -> None:
        # Already dead-lettered when the live projection met it; a replay only reports it.
        skipped.append(f"{position}: {exc}")

    offsets: dict[tuple[str, int], int] = {}
    applied = target.positions()  # none in a fresh store; a store that has some resumes from them
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="watchman-replay") as writer:
        writing: Future[None] | None = None
        written = 0
        while True:
            ops, positions, n = _next_batch(log_, offsets, applied, batch_size, on_dead)
            if writing is not None:
                writing.result()  # a failed write stops the replay here, with its own exception
                done += written
                if progress is not None:
                    progress(done, total)
            if n == 0:
                break
            writing, written = writer.submit(target.apply, ops, positions), n
    if skipped:
        log.warning("replay skipped %d undecodable domain records, e.g. %s", len(skipped), skipped[0])
    return done


def replay_into_place(
    log_: SqliteLog,
    graph_url: str,
    current: GraphStore | None,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> tuple[GraphStore, int]:
    """Build the new graph in a directory beside the live one, then swap the directories: the live
    graph stays queryable until the swap and is kept as `<dir>.previous`. Returns the newly opened
    store and the number of records replayed."""
    live = graph_path(graph_url)
    fresh = live.with_name(live.name + ".replay")
    previous = live.with_name(live.name + ".previous")
    shutil.rmtree(fresh, ignore_errors=True)  # a replay that died half-way
    target = open_graph(f"ladybug://{fresh}")
    try:
        n = rebuild(log_, target, batch_size=batch_size, progress=progress)
    except BaseException:
        target.close()
        shutil.rmtree(fresh, ignore_errors=True)  # a half-built graph is of no use to anyone
        raise
    target.close()
    if current is not None:
        current.close()
    shutil.rmtree(previous, ignore_errors=True)
    if live.exists():
        live.rename(previous)
    fresh.rename(live)
    return open_graph(graph_url), n
