"""Replay: rebuild the graph from the domain topics into a fresh store, then swap it in."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable

from projections.stores.base import GraphStore
from schemas.topics import DOMAIN_TOPICS
from watchman.bus.base import Bus
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import project_topics
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


def rebuild(
    log_: Bus, target: GraphStore, *, batch_size: int = 5000, progress: Progress | None = None
) -> int:
    """Project every domain record from offset zero into `target`; returns the number of records."""
    target.ensure_schema()
    total = domain_backlog(log_)
    done = 0
    skipped: list[str] = []

    def on_dead(source: str, position: str, exc: Exception, raw: bytes) -> None:
        # Already dead-lettered when the live projection met it; a replay only reports it.
        skipped.append(f"{position}: {exc}")

    while True:
        n = project_topics(log_, target, DOMAIN_TOPICS, batch_size, on_dead=on_dead)
        if n == 0:
            break
        done += n
        if progress is not None:
            progress(done, total)
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
    finally:
        target.close()
    if current is not None:
        current.close()
    shutil.rmtree(previous, ignore_errors=True)
    if live.exists():
        live.rename(previous)
    fresh.rename(live)
    return open_graph(graph_url), n
