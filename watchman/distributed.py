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
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from processors.registry import ROUTES
from projections.stores.base import GraphStore, QueryResult
from schemas.core import DLQ
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.events.commands import COMMANDS, EVENTS_COMMANDS
from schemas.topics import DOMAIN_TOPICS, RAW_TOPICS, TOPICS
from watchman import metrics
from watchman.alerting.stage import AlertDelivery
from watchman.api import VERSION, ApiServer, TokenFile, Unsupported, create_app
from watchman.bus.base import Bus
from watchman.bus.sqlite_log import SqliteLog
from watchman.commands import CommandRunner
from watchman.domains.alerts import delivery as alert_delivery
from watchman.executors.backups import restore_metrics as restore_backup_metrics
from watchman.forwarder import GROUP as FORWARDER_GROUP
from watchman.forwarder import Forwarder
from watchman.pipeline import Ingestor, dead_record, envelope_record, wait_for_input
from watchman.private_files import check_token_file
from watchman.projecting import graph_position_name, project_topics, report_projection_lag
from watchman.settings import Settings
from watchman.state import CursorStore
from watchman.wiring import build_sources, executor_options, open_bus, open_settings_graph

log = logging.getLogger(__name__)
SPOOL_RETENTION_EVERY = 3600.0


@dataclass
class Counters:
    started: float = field(default_factory=time.monotonic)
    ingested: int = 0
    forwarded: int = 0
    projected: int = 0
    spooled: int = 0


class ProcessBackend:
    """What a distributed process offers its admin API: health and metrics always; queries only
    where a graph is open (the projector); commands go onto the Kafka command topic."""

    deployment = "distributed"

    def __init__(
        self,
        role: str,
        settings: Settings,
        bus: Bus,
        *,
        graph: GraphStore | None = None,
        spool: SqliteLog | None = None,
        groups: Mapping[str, tuple[str, ...]] = {},
    ) -> None:
        self.role = role
        self.host = settings.host
        self.bus = bus
        self.graph = graph
        self.spool = spool
        self.groups = groups  # consumer group -> topics whose lag to report
        self.started = time.monotonic()
        self.graph_lock = threading.Lock()
        self.state: dict[str, Any] = {}
        metrics.BUILD.info({"version": VERSION, "deployment": "distributed", "role": role})

    def health(self) -> dict[str, Any]:
        return {"uptime_seconds": round(time.monotonic() - self.started, 1), **self.state}

    def metrics(self) -> bytes:
        try:
            for group, names in self.groups.items():
                for name in names:
                    metrics.set_lag(group, name, self.bus.lag(group, name))
            if self.spool is not None:
                for t in (*RAW_TOPICS, EVENTS_COMMANDS, DLQ):
                    metrics.set_lag(FORWARDER_GROUP, t.name, self.spool.lag(FORWARDER_GROUP, t.name))
            if self.graph is not None:
                with self.graph_lock:
                    applied = self.graph.positions()
                report_projection_lag(self.bus, applied)
        except Exception as exc:  # the broker or the graph away: serve what we have, say so in the log
            log.info("lag not refreshed: %s", exc)
        return metrics.exposition()

    def query(self, cypher: str, params: Mapping[str, Any], *, read_only: bool) -> QueryResult:
        if self.graph is None:
            raise Unsupported(f"the {self.role} has no graph: ask the projector's API (watchman project)")
        with self.graph_lock:
            return self.graph.query(cypher, params, read_only=read_only)

    def publish(self, command: Envelope) -> None:
        self.bus.append(COMMANDS.name, [envelope_record(command)])

    def issued(self, command_id: str) -> bool:
        for p in range(self.bus.partitions(COMMANDS.name)):
            offset = self.bus.start_offsets(COMMANDS.name).get(p, 0)
            while records := self.bus.read(COMMANDS.name, p, offset, 1000):
                if any(orjson.loads(r.value).get("id") == command_id for r in records):
                    return True
                offset = records[-1].offset + 1
        return False


def serve_api(settings: Settings, backend: ProcessBackend, listen: str) -> ApiServer | None:
    """The admin API of a distributed process (health, metrics; queries on the projector)."""
    if not listen:
        return None
    token, metrics_token = TokenFile(settings.api_token_path), TokenFile(settings.api_metrics_token_path)
    token.ensure()
    metrics_token.ensure()
    for path in (token.path, metrics_token.path):
        check_token_file(path)
    url_file = settings.data_dir / f"api-{backend.role}.url"
    app = create_app(backend, token, metrics_token, max_body=settings.api_max_body_bytes)
    server = ApiServer(app, listen, url_file=url_file, allow_remote=settings.api_allow_remote)
    server.start()
    return server


def _ensure_topics(bus: Bus, stop: threading.Event, settings: Settings) -> bool:
    """Create the registry's topics (the partition counts Faust expects), waiting for the broker, and
    give every topic its retention: the code's, or `[retention.topics]`'s (existing topics too)."""
    from watchman.bus.kafka import KafkaBus
    from watchman.retention.log import effective_topics

    topics = effective_topics(settings.retention, TOPICS.values())
    delay = 0.5
    while not stop.is_set():
        try:
            bus.ensure_topics(topics)
            if isinstance(bus, KafkaBus):
                bus.set_topic_configs(topics)
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
    api_listen: str = "",
) -> Counters:
    """Follow the sources into the spool, and forward the spool to the bus whenever it is reachable.
    Also run this host's commands from the command topic (outcomes go through the spool)."""
    spool = SqliteLog(settings.data_dir / "spool.sqlite")
    sources = build_sources(settings, CursorStore(spool))
    ingestor = Ingestor(spool, sources, batch_size=settings.batch_size)
    bus = open_bus(settings.bus_url)
    forwarder = Forwarder(
        spool,
        bus,
        [*RAW_TOPICS, EVENTS_COMMANDS, DLQ],
        batch_size=settings.batch_size,
        ensure=list(TOPICS.values()),
    )
    commands = CommandRunner(bus, settings.host, sources, options=executor_options(settings))
    backend = ProcessBackend(
        "producer", settings, bus, spool=spool, groups={commands.group: (COMMANDS.name,)}
    )
    api = serve_api(settings, backend, api_listen)
    counters = Counters()
    next_retention = 0.0
    try:  # the backup gauges from the domain topic (the executors run here), not empty until a run
        restore_backup_metrics(bus, settings.host)
    except Exception as exc:  # the broker away: they fill at the next backup
        log.info("backup gauges not restored: %s", exc)
    try:
        while not stop.is_set():
            if time.monotonic() >= next_retention:
                # The spool keeps the raw topics' retention too (else it grows for ever on disk).
                spool.enforce_retention()
                next_retention = time.monotonic() + SPOOL_RETENTION_EVERY
            step = ingestor.ingest_once()
            got = step.ingested
            sent = forwarder.forward_once()
            executed = 0 if forwarder.failing else _execute(commands, spool)
            counters.ingested += got
            counters.forwarded += sent
            counters.spooled = forwarder.backlog()
            backend.state.update(
                ingested=counters.ingested, forwarded=counters.forwarded, spooled=counters.spooled
            )
            if on_status:
                on_status(counters)
            if got or step.lines or sent or executed:
                continue
            if once and counters.spooled == 0:
                break
            wait_for_input(sources, settings.poll_interval, stop)
    finally:
        if api is not None:
            api.stop()
        ingestor.close()
        bus.close()
        spool.close()
    return counters


def _execute(commands: CommandRunner, spool: SqliteLog) -> int:
    """Run this host's pending commands; outcomes into the spool, then the position on Kafka (a crash
    between the two runs a command again, and its outcome keeps its id)."""
    n = 0
    try:
        for partition, next_offset, outcomes in commands.poll():
            spool.append(EVENTS_COMMANDS.name, [envelope_record(e) for e in outcomes])
            for topic, emitted in commands.take_emitted().items():
                spool.append(topic, [envelope_record(e) for e in emitted])
            commands.commit(partition, next_offset)
            for e in outcomes:
                metrics.command_executed(e)
            n += len(outcomes)
    except Exception as exc:  # the broker away: the forwarder reports it; try again next round
        log.info("commands not read: %s", exc)
    return n


def run_projector(
    settings: Settings,
    stop: threading.Event,
    *,
    once: bool = False,
    on_status: Callable[[Counters], None] | None = None,
    api_listen: str = "",
) -> Counters:
    """Apply the domain topics to the graph store, batch by batch, positions inside the graph; serve
    the queries of the admin API; deliver every domain's alerts (the one projector owns delivery, as the
    embedded daemon does: watchman/alerting/stage.py, its position in the Kafka group `alerts`)."""
    bus = open_bus(settings.bus_url)
    alerting = alert_delivery(settings, bus)
    graph = open_settings_graph(settings)
    counters = Counters()
    backend = ProcessBackend("projector", settings, bus, graph=graph)
    api: ApiServer | None = None

    def on_dead(source: str, position: str, exc: Exception, raw: bytes) -> None:
        dead = DeadLetter.of(
            settings.host, source, position, f"{type(exc).__name__}: {exc}", raw, datetime.now(UTC)
        )
        bus.append(DLQ.name, [dead_record(dead)])

    try:
        _ensure_topics(bus, stop, settings)
        graph.ensure_schema()
        api = serve_api(settings, backend, api_listen)
        delay = 0.5
        # Where the graph stands, kept while steps find nothing: only this loop moves it.
        positions: dict[tuple[str, int], int] | None = None
        while not stop.is_set():
            try:
                with backend.graph_lock:
                    n = project_topics(bus, graph, DOMAIN_TOPICS, settings.batch_size, on_dead=on_dead)
            except Exception as exc:  # broker or graph away: the positions in the graph say where to resume
                log.warning("projection paused (%s); retrying in %.1fs", exc, delay)
                positions = None
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            if alerting is not None:
                _deliver_alerts(alerting)
            counters.projected += n
            backend.state["projected"] = counters.projected
            if on_status:
                on_status(counters)
            if n:
                positions = None
                continue
            if once:
                break
            try:
                # Positions from the graph, not the log's ends: a record appended since the step above
                # is past them, so the wait returns at once instead of missing it. Should the graph
                # have moved under us (wiped, replayed), the next step after poll_interval finds it.
                if positions is None:
                    with backend.graph_lock:
                        applied = graph.positions()
                    positions = {
                        (t.name, p): applied.get(graph_position_name(t.name, p), -1) + 1
                        for t in DOMAIN_TOPICS
                        for p in range(bus.partitions(t.name))
                    }
                if bus.wait_for_records(positions, settings.poll_interval, stop):
                    positions = None
            except Exception as exc:  # broker or graph away: the next step finds out and backs off
                log.info("cannot wait for domain records (%s); polling", exc)
                positions = None
                stop.wait(settings.poll_interval)
    finally:
        if api is not None:
            api.stop()
        graph.close()
        bus.close()
    return counters


def _deliver_alerts(alerting: AlertDelivery) -> None:
    """One delivery step; the broker away is logged and the next round tries again (a receiver's own
    failure is the stage's to retry with its back-off)."""
    try:
        alerting.step()
    except Exception as exc:
        log.warning("alert delivery paused: %s", exc)


def run_worker(
    settings: Settings, *, loglevel: str = "WARNING", stall_after: float = 90.0, api_listen: str = ""
) -> None:
    """Start the Faust worker (blocks; Ctrl-C or SIGTERM stops it).

    Crash-only under a supervisor: if records wait on the raw topics but the agents handle none for
    `stall_after` seconds (seen after a broker restart: Faust keeps a dead coordinator and never
    rejoins), the worker exits with status 3 so systemd or compose restarts it fresh.
    """
    import faust

    from processors.faust_app import APP_ID, Progress, create_app

    bus = open_bus(settings.bus_url)
    _ensure_topics(bus, threading.Event(), settings)
    progress = Progress()
    app = create_app(
        settings.bus_url, host=settings.host, datadir=settings.data_dir / "faust", progress=progress
    )

    def backlog() -> int:
        return sum(sum(bus.lag(APP_ID, route.source.name).values()) for route in ROUTES)

    backend = ProcessBackend(
        "worker", settings, bus, groups={APP_ID: tuple(dict.fromkeys(r.source.name for r in ROUTES))}
    )
    serve_api(settings, backend, api_listen)
    # The agents count what they do; the API reports it as the process stage's records in and out,
    # labelled like the embedded pipeline's (topic read, route; topic written).
    for route in ROUTES:
        metrics.prime_stage("process", route.source.name, route.name, tuple(t.name for t in route.sinks))
    reported_read: Counter[tuple[str, str]] = Counter()
    reported_written: Counter[str] = Counter()
    reported_dead: Counter[str] = Counter()

    def mirror() -> None:
        while True:
            time.sleep(2.0)
            for (topic, route_name), n in list(progress.read.items()):
                metrics.EVENTS_IN.labels("process", topic, route_name).inc(
                    n - reported_read[(topic, route_name)]
                )
                reported_read[(topic, route_name)] = n
            for topic, n in list(progress.written.items()):
                metrics.EVENTS_OUT.labels("process", topic).inc(n - reported_written[topic])
                reported_written[topic] = n
            for route_name, n in list(progress.dead.items()):
                metrics.DEAD_LETTERS.labels("process", route_name).inc(n - reported_dead[route_name])
                reported_dead[route_name] = n
            backend.state["handled"] = progress.handled

    threading.Thread(target=mirror, name="watchman-metrics", daemon=True).start()

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
    # Faust's terminal spinner sets the root logger to DEBUG, so every debug message of Faust and
    # aiokafka was formatted (the profile's top entry); the status line is ours anyway.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    finally:
        bus.close()
