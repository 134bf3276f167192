"""The embedded pipeline: sources -> raw topics -> processors -> domain topics -> graph, in one process.

Each stage step is one transaction, so a kill at any moment loses nothing and duplicates nothing:
  ingest   poll every source; append observations + dead letters and save the cursors atomically
  process  per raw partition: decide, append domain events, save table state, commit the position
  project  apply graph operations together with the last applied domain-topic offsets
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from processors.registry import ROUTES
from processors.routing import DECODE_ERRORS, Route
from producers.pacing import Pacer
from producers.source import Source
from projections.stores.base import GraphStore
from schemas.core import DLQ
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.events.commands import EVENTS_COMMANDS
from schemas.topics import DOMAIN_TOPICS, TOPICS
from watchman import metrics
from watchman.bus.base import Record
from watchman.bus.sqlite_log import SqliteLog
from watchman.commands import CommandRunner
from watchman.projecting import project_topics
from watchman.state import CursorStore, SqliteTable

log = logging.getLogger(__name__)


def envelope_record(env: Envelope) -> Record:
    return Record(env.key, env.to_json(), {"type": env.type, "schema_version": str(env.schema_version)})


def dead_record(dead: DeadLetter) -> Record:
    return Record(f"{dead.host}/{dead.source}", dead.model_dump_json().encode(), {"type": "DeadLetter"})


@dataclass
class StepCounts:
    ingested: int = 0
    processed: int = 0
    projected: int = 0
    dead: int = 0
    executed: int = 0
    # Lines the sources read, observations or not: a step that read a stretch of log without a change
    # in it (dpkg's status lines, a trigger storm) still made progress, and the next may find one.
    lines: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.ingested or self.processed or self.projected or self.executed or self.lines)


def wait_for_input(sources: Sequence[Source], timeout: float, stop: threading.Event) -> None:
    """Sleep until a source has input ready, `timeout` passes or `stop` is set. Sources with a
    descriptor expose `fileno()` (netlink's socket; the package logs' inotify descriptor, see
    producers.tailer.Wake), so a change wakes the loop at once instead of after a poll interval; the
    others (journald: waking per entry cost more CPU than it saved) are polled when the interval ends."""
    fds = [fd for src in sources if (fn := getattr(src, "fileno", None)) is not None and (fd := fn()) >= 0]
    if not fds or stop.is_set():
        stop.wait(timeout)
        return
    try:
        ready, _, _ = select.select(fds, [], [], timeout)
    except (OSError, ValueError):  # a socket closed under us (a source reconnecting): just sleep
        stop.wait(timeout)
        return
    if ready:
        # Let a burst arrive whole, and never spin if a source leaves input unread.
        stop.wait(0.01)


class Ingestor:
    """Sources -> raw topic of a local SQLite log, each poll cycle one transaction with the cursors.

    In the embedded deployment that log is the bus; in the distributed one it is the producer's
    spool, drained to Kafka by the Forwarder, so a broker outage loses nothing.
    """

    def __init__(self, log_: SqliteLog, sources: Sequence[Source], *, batch_size: int = 2000) -> None:
        self.log = log_
        self.sources = list(sources)
        self.batch_size = batch_size
        self.cursors = CursorStore(log_)
        self.pacer = Pacer(self.sources)
        self.log.ensure_topics(TOPICS.values())
        for src in self.sources:
            metrics.prime_source(src.name, src.topic.name)
        metrics.BATCH_SECONDS.labels("ingest")

    def ingest_once(self) -> StepCounts:
        counts = StepCounts()
        started = time.perf_counter()
        advanced: list[str] = []
        with self.log.transaction():
            for src in self.sources:
                if self.pacer.should_wait(src):
                    continue
                poll = self.pacer.poll(src, self.batch_size)
                if poll.observations:
                    self.log.append(src.topic.name, [envelope_record(e) for e in poll.observations])
                    metrics.EVENTS_IN.labels("ingest", src.topic.name, src.name).inc(len(poll.observations))
                    metrics.EVENTS_OUT.labels("ingest", src.topic.name).inc(len(poll.observations))
                if poll.dead:
                    self.log.append(DLQ.name, [dead_record(d) for d in poll.dead])
                    metrics.DEAD_LETTERS.labels("ingest", src.name).inc(len(poll.dead))
                if poll.cursor is not None:
                    self.cursors.put(src.name, poll.cursor)
                    advanced.append(src.name)
                counts.ingested += len(poll.observations)
                counts.dead += len(poll.dead)
                counts.lines += poll.lines
        for name in advanced:  # counted once the transaction holding the cursor committed
            metrics.cursor_advanced(name)
        if counts.ingested or counts.dead:
            metrics.BATCH_SECONDS.labels("ingest").observe(time.perf_counter() - started)
        return counts

    def close(self) -> None:
        for src in self.sources:
            src.close()


class EmbeddedPipeline:
    def __init__(
        self,
        log_: SqliteLog,
        graph: GraphStore,
        sources: Sequence[Source],
        *,
        host: str,
        batch_size: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.log = log_
        self.graph = graph
        metrics.PROJECTION_APPLY_SECONDS.labels(type(graph).__name__)
        self.ingestor = Ingestor(log_, sources, batch_size=batch_size)
        self.commands = CommandRunner(log_, host, sources, clock=clock)
        for route in ROUTES:
            metrics.prime_stage("process", route.source.name, route.name, tuple(t.name for t in route.sinks))
        for topic in DOMAIN_TOPICS:
            metrics.prime_stage("project", topic.name, "projections", ("graph",))
        self.host = host
        self.batch_size = batch_size
        self.clock = clock
        # Held while the graph is written, so queries from other threads see whole batches.
        self.graph_lock = threading.RLock()
        with self.graph_lock:
            self.graph.ensure_schema()

    # -- stages ---------------------------------------------------------------------------------

    def ingest_once(self) -> StepCounts:
        return self.ingestor.ingest_once()

    def process_once(self) -> StepCounts:
        counts = StepCounts()
        for route in ROUTES:
            counts.processed += self._process_route(route, counts)
        return counts

    def _process_route(self, route: Route, counts: StepCounts) -> int:
        topic = route.source.name
        table = SqliteTable(self.log, route.table)
        committed = self.log.committed(route.name, topic)
        starts = self.log.start_offsets(topic)
        done = 0
        for p in range(self.log.partitions(topic)):
            offset = max(committed.get(p, 0), starts.get(p, 0))
            records = self.log.read(topic, p, offset, self.batch_size)
            if not records:
                continue
            started = time.perf_counter()
            with self.log.transaction(), table.batch():
                out: list[Envelope] = []
                dead: list[DeadLetter] = []
                for r in records:
                    try:
                        out.extend(route.handle(r.value, table))
                    except DECODE_ERRORS as exc:
                        dead.append(self._dead(route.name, f"{topic}/{p}/{r.offset}", exc, r.value))
                for sink in route.sinks:
                    records_out = [envelope_record(e) for e in out if route.sink_for(e) is sink]
                    self.log.append(sink.name, records_out)
                    if records_out:
                        metrics.EVENTS_OUT.labels("process", sink.name).inc(len(records_out))
                self.log.append(DLQ.name, [dead_record(d) for d in dead])
                self.log.commit(route.name, topic, {p: records[-1].offset + 1})
            metrics.EVENTS_IN.labels("process", topic, route.name).inc(len(records))
            if dead:
                metrics.DEAD_LETTERS.labels("process", route.name).inc(len(dead))
            metrics.BATCH_SECONDS.labels("process").observe(time.perf_counter() - started)
            done += len(records)
            counts.dead += len(dead)
        return done

    def project_once(self) -> StepCounts:
        counts = StepCounts()
        with self.graph_lock:
            counts.projected = project_topics(
                self.log, self.graph, DOMAIN_TOPICS, self.batch_size, on_dead=self._append_dead
            )
        return counts

    def execute_once(self) -> StepCounts:
        """Run the commands for this host; each partition's outcomes and position in one transaction
        (a crash before it commits runs the command again: executors are idempotent). The commands act
        outside the transaction: a long one (a backup) must not hold the log, and with it the API's
        publishing of new commands, for as long as it runs."""
        counts = StepCounts()
        for partition, next_offset, outcomes in self.commands.poll():
            with self.log.transaction():
                self.log.append(EVENTS_COMMANDS.name, [envelope_record(e) for e in outcomes])
                for topic, emitted in self.commands.take_emitted().items():
                    self.log.append(topic, [envelope_record(e) for e in emitted])
                self.commands.commit(partition, next_offset)
            counts.executed += len(outcomes)
            for e in outcomes:
                metrics.command_executed(e)
        return counts

    def step(self) -> StepCounts:
        a, b = self.ingest_once(), self.process_once()
        x = self.execute_once()
        c = self.project_once()
        return StepCounts(
            a.ingested, b.processed, c.projected, a.dead + b.dead + c.dead, x.executed, lines=a.lines
        )

    def drain(self, max_steps: int = 1_000_000) -> StepCounts:
        """Step until every source is read and every record projected (tests, one-shot imports)."""
        total = StepCounts()
        for _ in range(max_steps):
            s = self.step()
            total.ingested += s.ingested
            total.processed += s.processed
            total.projected += s.projected
            total.dead += s.dead
            total.executed += s.executed
            total.lines += s.lines
            if not s.busy:
                break
        return total

    # -- helpers --------------------------------------------------------------------------------

    def _dead(self, source: str, position: str, exc: Exception, raw: bytes) -> DeadLetter:
        return DeadLetter.of(self.host, source, position, f"{type(exc).__name__}: {exc}", raw, self.clock())

    def _append_dead(self, source: str, position: str, exc: Exception, raw: bytes) -> None:
        self.log.append(DLQ.name, [dead_record(self._dead(source, position, exc, raw))])

    def close(self) -> None:
        self.ingestor.close()
