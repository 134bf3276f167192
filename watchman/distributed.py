"""The three processes of the distributed deployment: producer, Faust worker, projector.

watchman produce   sources -> local spool (embedded log on disk) -> Kafka raw topics
watchman worker    Faust agents: Kafka raw topics -> decide -> Kafka domain topics
watchman project   Kafka domain topics -> graph store (Neo4j), positions kept in the graph
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from processors.registry import ROUTES
from schemas.dlq import DeadLetter
from schemas.topics import DLQ, DOMAIN_TOPICS, RAW_TOPICS, TOPICS
from watchman.bus.base import Bus
from watchman.bus.sqlite_log import SqliteLog
from watchman.forwarder import Forwarder
from watchman.pipeline import Ingestor, dead_record, project_topics
from watchman.settings import Settings
from watchman.state import CursorStore
from watchman.wiring import build_sources, open_bus, open_settings_graph

log = logging.getLogger(__name__)


@dataclass
class Counters:
    started: float = field(default_factory=time.monotonic)
    ingested: int = 0
    forwarded: int = 0
    projected: int = 0
    spooled: int = 0


def _ensure_topics(bus: Bus, stop: threading.Event) -> bool:
    """Create the registry's topics (the partition counts Faust expects), waiting for the broker."""
    delay = 0.5
    while not stop.is_set():
        try:
            bus.ensure_topics(TOPICS.values())
            return True
        except Exception as exc:
            log.warning("cannot create topics yet (%s); retrying in %.1fs", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, 10.0)
    return False


def run_producer(
    settings: Settings,
    stop: threading.Event,
    *,
    once: bool = False,
    on_status: Callable[[Counters], None] | None = None,
) -> Counters:
    """Follow the sources into the spool, and forward the spool to the bus whenever it is reachable."""
    spool = SqliteLog(settings.data_dir / "spool.sqlite")
    ingestor = Ingestor(spool, build_sources(settings, CursorStore(spool)), batch_size=settings.batch_size)
    bus = open_bus(settings.bus_url)
    forwarder = Forwarder(
        spool, bus, [*RAW_TOPICS, DLQ], batch_size=settings.batch_size, ensure=list(TOPICS.values())
    )
    counters = Counters()
    try:
        while not stop.is_set():
            got = ingestor.ingest_once().ingested
            sent = forwarder.forward_once()
            counters.ingested += got
            counters.forwarded += sent
            counters.spooled = forwarder.backlog()
            if on_status:
                on_status(counters)
            if got or sent:
                continue
            if once and counters.spooled == 0:
                break
            stop.wait(settings.poll_interval)
    finally:
        ingestor.close()
        bus.close()
        spool.close()
    return counters


def run_projector(
    settings: Settings,
    stop: threading.Event,
    *,
    once: bool = False,
    on_status: Callable[[Counters], None] | None = None,
) -> Counters:
    """Apply the domain topics to the graph store, batch by batch, positions inside the graph."""
    bus = open_bus(settings.bus_url)
    graph = open_settings_graph(settings)
    counters = Counters()

    def on_dead(source: str, position: str, exc: Exception, raw: bytes) -> None:
        dead = DeadLetter.of(
            settings.host, source, position, f"{type(exc).__name__}: {exc}", raw, datetime.now(UTC)
        )
        bus.append(DLQ.name, [dead_record(dead)])

    try:
        _ensure_topics(bus, stop)
        graph.ensure_schema()
        delay = 0.5
        while not stop.is_set():
            try:
                n = project_topics(bus, graph, DOMAIN_TOPICS, settings.batch_size, on_dead=on_dead)
            except Exception as exc:  # broker or graph away: the positions in the graph say where to resume
                log.warning("projection paused (%s); retrying in %.1fs", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            counters.projected += n
            if on_status:
                on_status(counters)
            if n:
                continue
            if once:
                break
            stop.wait(settings.poll_interval)
    finally:
        graph.close()
        bus.close()
    return counters


def run_worker(settings: Settings, *, loglevel: str = "WARNING", stall_after: float = 90.0) -> None:
    """Start the Faust worker (blocks; Ctrl-C or SIGTERM stops it).

    Crash-only under a supervisor: if records wait on the raw topics but the agents handle none for
    `stall_after` seconds (seen after a broker restart: Faust keeps a dead coordinator and never
    rejoins), the worker exits with status 3 so systemd or compose restarts it fresh.
    """
    import faust

    from processors.faust_app import APP_ID, Progress, create_app

    bus = open_bus(settings.bus_url)
    _ensure_topics(bus, threading.Event())
    progress = Progress()
    app = create_app(
        settings.bus_url, host=settings.host, datadir=settings.data_dir / "faust", progress=progress
    )

    def backlog() -> int:
        return sum(sum(bus.lag(APP_ID, route.source.name).values()) for route in ROUTES)

    def watchdog() -> None:
        # A thread, not a Faust timer: a worker stuck in start-up or rebalancing never runs its timers.
        handled, stalled_since = -1, None
        while True:
            time.sleep(max(stall_after / 6, 1.0))
            try:
                waiting = backlog()
            except Exception as exc:  # broker away: nothing a restart would fix yet
                log.info("watchdog cannot read the lag: %s", exc)
                continue
            moved, handled = progress.handled != handled, progress.handled
            now = time.monotonic()
            if waiting == 0 or moved:
                stalled_since = None
                continue
            stalled_since = stalled_since or now
            if now - stalled_since >= stall_after:
                log.error(
                    "worker stalled: %d raw records waiting, none handled for %.0fs; exiting",
                    waiting,
                    now - stalled_since,
                )
                os._exit(3)

    threading.Thread(target=watchdog, name="watchman-watchdog", daemon=True).start()
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    finally:
        bus.close()
