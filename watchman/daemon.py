"""The embedded daemon (`watchman run`): the pipeline loop plus a local query socket for other commands.

LadybugDB may be opened by one process only, so `watchman query`, `status` and `replay` talk to the
running daemon through a Unix socket in the data directory (mode 0600: only its owner may connect).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socketserver
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from processors.registry import ROUTES
from producers.source import Source
from projections.stores.base import GraphStore, QueryRefused, QueryResult, ReadOnlyViolation
from schemas.envelope import Envelope
from schemas.events.commands import COMMANDS
from watchman import metrics
from watchman.api import VERSION, ApiServer, TokenFile, create_app
from watchman.bus.sqlite_log import SqliteLog
from watchman.check import (
    LogDamaged,
    damaged_log_advice,
    is_corruption,
    open_checked_graph,
    require_sound_log,
)
from watchman.degraded import DISK_FULL, FIRST_DELAY, MAX_DELAY, Degraded, is_disk_full, require_room
from watchman.domains.alerts import delivery as alert_delivery
from watchman.executors.backups import restore_metrics as restore_backup_metrics
from watchman.pipeline import EmbeddedPipeline, envelope_record, wait_for_input
from watchman.private_files import check_token_file, secure_data_dir
from watchman.projecting import report_projection_lag
from watchman.replay import replay_into_place
from watchman.retention.log import enforce_log
from watchman.settings import Settings
from watchman.state import CursorStore
from watchman.values import decode_params, jsonable
from watchman.wiring import build_sources, executor_options, graph_path, open_log

log = logging.getLogger(__name__)

RETENTION_EVERY = 3600.0


class Sink(Protocol):
    """Where answers are written: a socket's buffered writer."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class AlreadyRunning(RuntimeError):
    """Another daemon holds this data directory."""


@contextmanager
def daemon_lock(data_dir: Path, role: str = "daemon") -> Iterator[None]:
    """One process per role and data directory (the embedded daemon; a distributed producer)."""
    secure_data_dir(data_dir)
    path = data_dir / f"{role}.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            command = "run" if role == "daemon" else role
            raise AlreadyRunning(f"another `watchman {command}` (pid {pid}) is using {data_dir}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield


@contextmanager
def store_locks(settings: Settings) -> Iterator[None]:
    """The data directory's lock, and that of the event log's directory when the log lives elsewhere:
    two daemons that share only the log (or the graph) must not both run on it."""
    with daemon_lock(settings.data_dir):
        log_dir = Path(settings.bus_url[len("sqlite://") :]).parent
        if settings.bus_url.startswith("sqlite://") and log_dir.resolve() != settings.data_dir.resolve():
            with daemon_lock(log_dir):
                yield
        else:
            yield


def open_daemon(settings: Settings) -> Daemon:
    """A Daemon; on a disk too full to even start one (opening the stores writes), wait for space
    with backoff instead of dying: a supervisor restarting us in a loop would not free any."""
    delay = FIRST_DELAY
    while True:
        try:
            return Daemon(settings)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            log.error("cannot start, the disk is full (%s); trying again in %gs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)


@dataclass
class Totals:
    started: float = field(default_factory=time.monotonic)
    ingested: int = 0
    processed: int = 0
    projected: int = 0
    dead: int = 0


class Daemon:
    """The embedded deployment's one process; also the admin API's backend (role "daemon")."""

    role = "daemon"
    deployment = "embedded"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The log is the truth: a damaged one stops the daemon with the way back (watchman.check).
        log_path = Path(settings.bus_url[len("sqlite://") :])
        require_sound_log(log_path)
        self.log: SqliteLog = open_log(settings.bus_url)
        try:
            # The graph is a projection: one that does not open, or runs past the log, is rebuilt.
            graph = open_checked_graph(settings.graph_url, self.log)
        except BaseException:
            self.log.close()
            raise
        self.degraded = Degraded()
        self._graph_dir = (
            graph_path(settings.graph_url) if settings.graph_url.startswith("ladybug://") else None
        )
        self.totals = Totals()
        self.stop = threading.Event()
        self.host = settings.host
        self._server: socketserver.UnixStreamServer | None = None
        self._api: ApiServer | None = None
        self.sources: list[Source] = []
        try:
            self.pipeline = self._new_pipeline(graph, threading.RLock())
            # Every domain's alerts to Alertmanager/webhooks (watchman/alerting/), with its own position.
            self.alerting = alert_delivery(settings, self.log)
            # The backup gauges (last success, bytes, duration per job) from the log, not empty until a run.
            restore_backup_metrics(self.log, settings.host)
        except BaseException:
            graph.close()
            self.log.close()
            raise
        metrics.BUILD.info({"version": VERSION, "deployment": "embedded", "role": "daemon"})

    def _new_pipeline(self, graph: GraphStore, graph_lock: threading.RLock) -> EmbeddedPipeline:
        """Sources from their saved cursors, and the pipeline over them."""
        sources = build_sources(self.settings, CursorStore(self.log))
        try:
            pipeline = EmbeddedPipeline(
                self.log, graph, sources, host=self.settings.host, batch_size=self.settings.batch_size
            )
        except BaseException:
            for src in sources:
                src.close()
            raise
        pipeline.graph_lock = graph_lock  # queries in flight hold this one
        pipeline.commands.ctx.services["rebuild_graph"] = self._rebuild_for_command
        pipeline.commands.ctx.services["graph_copy"] = self._graph_copy  # a backup of kind ladybug
        pipeline.commands.ctx.options = executor_options(self.settings)
        pipeline.commands.ctx.graph = lambda c, p: self.query(c, p, read_only=True).dicts()
        self.sources = sources
        return pipeline

    def _graph_copy(self) -> str:
        """A consistent copy of the graph for a backup, taken while no batch is applied (the executor
        runs inside the pipeline's step) and no query runs (watchman/backups/graph.py)."""
        from projections.stores.ladybug import LadybugStore
        from watchman.backups.graph import copy_store

        graph = self.pipeline.graph
        if not isinstance(graph, LadybugStore):
            raise RuntimeError(f"the graph {self.settings.graph_url} is not a LadybugDB store")
        with self.pipeline.graph_lock:
            return str(copy_store(graph, self.settings.backups.scratch_dir or self.settings.data_dir / "tmp"))

    def _rewind(self) -> None:
        """After a failed step: sources back at their saved cursors (their readers had moved on past
        records whose transaction rolled back), processors and projection from the log's positions."""
        old = self.pipeline
        self.pipeline = self._new_pipeline(old.graph, old.graph_lock)
        old.close()

    # -- the admin API's backend ----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        t = self.totals
        return {
            "degraded": self.degraded.as_dict(),
            "uptime_seconds": round(time.monotonic() - t.started, 1),
            "ingested": t.ingested,
            "processed": t.processed,
            "projected": t.projected,
            "dead_letters": t.dead,
            "sources": len(self.sources),
        }

    def metrics(self) -> bytes:
        for route in ROUTES:
            metrics.set_lag(route.name, route.source.name, self.log.lag(route.name, route.source.name))
        metrics.set_lag(
            self.pipeline.commands.group,
            COMMANDS.name,
            self.log.lag(self.pipeline.commands.group, COMMANDS.name),
        )
        with self.pipeline.graph_lock:
            applied = self.pipeline.graph.positions()
        report_projection_lag(self.log, applied)
        return metrics.exposition()

    def query(self, cypher: str, params: Mapping[str, Any], *, read_only: bool) -> QueryResult:
        with self.pipeline.graph_lock:
            return self.pipeline.graph.query(cypher, params, read_only=read_only)

    def publish(self, command: Envelope) -> None:
        self.log.append(COMMANDS.name, [envelope_record(command)])  # durable before the API answers

    def issued(self, command_id: str) -> bool:
        for p in range(self.log.partitions(COMMANDS.name)):
            offset = self.log.start_offsets(COMMANDS.name).get(p, 0)
            while records := self.log.read(COMMANDS.name, p, offset, 1000):
                if any(orjson.loads(r.value).get("id") == command_id for r in records):
                    return True
                offset = records[-1].offset + 1
        return False

    # -- requests from other processes ----------------------------------------------------------

    def handle(self, request: dict[str, Any], out: Sink) -> None:
        op = request.get("op")
        if op == "query":
            with self.pipeline.graph_lock:
                result: QueryResult = self.pipeline.graph.query(
                    str(request["cypher"]),
                    decode_params(request.get("params") or {}),
                    read_only=bool(request.get("read_only", True)),
                )
            _send(out, {"columns": result.columns, "rows": jsonable(result.rows)})
        elif op == "positions":
            with self.pipeline.graph_lock:
                _send(out, {"positions": self.pipeline.graph.positions()})
        elif op == "replay":
            self._replay(out)
        elif op == "ping":
            _send(
                out,
                {
                    "pid": os.getpid(),
                    "uptime": time.monotonic() - self.totals.started,
                    "degraded": self.degraded.as_dict(),
                },
            )
        else:
            _send(out, {"error": f"unknown op {op!r}"})

    def _replay(self, out: Sink) -> None:
        def progress(done: int, total: int) -> None:
            _send(out, {"progress": done, "total": total})

        # Holding the graph lock pauses the live projection; ingest and processing go on meanwhile.
        with self.pipeline.graph_lock:
            self.pipeline.graph, n = replay_into_place(
                self.log, self.settings.graph_url, self.pipeline.graph, progress=progress
            )
        _send(out, {"done": n})

    def _rebuild_for_command(self) -> str:
        with self.pipeline.graph_lock:
            self.pipeline.graph, n = replay_into_place(self.log, self.settings.graph_url, self.pipeline.graph)
        return f"rebuilt the graph from {n:,} domain records"

    def _serve(self) -> None:
        path = self.settings.socket_path
        with suppress(FileNotFoundError):
            path.unlink()
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline()
                try:
                    daemon.handle(orjson.loads(line), self.wfile)
                except ReadOnlyViolation as exc:
                    _send(self.wfile, {"error": str(exc), "kind": "read_only"})
                except QueryRefused as exc:
                    _send(self.wfile, {"error": str(exc), "kind": "refused"})
                except Exception as exc:  # one bad request must not take the daemon down
                    log.info("request failed: %s", exc)
                    if is_corruption(exc):  # e.g. a replay that met a damaged page: the way back
                        _send(self.wfile, {"error": damaged_log_advice(daemon.log.path, str(exc))})
                    else:
                        _send(self.wfile, {"error": f"{type(exc).__name__}: {exc}"})

        old_umask = os.umask(0o177)
        try:
            server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        finally:
            os.umask(old_umask)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="watchman-socket", daemon=True).start()

    # -- main loop ------------------------------------------------------------------------------

    def start_api(self) -> str:
        """Serve the admin API (if api_listen is set); its URL, also written to <data_dir>/api.url."""
        listen = self.settings.api_listen
        if not listen or self._api is not None:
            return self._api.url if self._api is not None else ""
        token, metrics_token = (
            TokenFile(self.settings.api_token_path),
            TokenFile(self.settings.api_metrics_token_path),
        )
        token.ensure()
        metrics_token.ensure()
        for path in (token.path, metrics_token.path):
            check_token_file(path)
        app = create_app(self, token, metrics_token, max_body=self.settings.api_max_body_bytes)
        api = ApiServer(
            app, listen, url_file=self.settings.api_url_path, allow_remote=self.settings.api_allow_remote
        )
        api.start()
        self._api = api
        return api.url

    def run(self, *, once: bool = False, on_status: Callable[[Totals], None] | None = None) -> Totals:
        self._serve()
        self.start_api()
        next_retention = 0.0
        rewind = False
        try:
            while not self.stop.is_set():
                try:
                    if self._graph_dir is not None:
                        require_room(self._graph_dir, self.settings.graph_min_free_mb * 2**20)
                    if rewind:
                        # After a full disk: give back the WAL's room first (fails again while full).
                        self.log.checkpoint()
                        self._rewind()
                        rewind = False
                    step = self.pipeline.step()
                    if self.alerting is not None:
                        self.alerting.step()
                    if time.monotonic() >= next_retention:
                        enforce_log(self.log, self.settings.retention)  # [retention.topics], resources
                        self.log.enforce_retention()
                        next_retention = time.monotonic() + RETENTION_EVERY
                except Exception as exc:
                    if is_corruption(exc):
                        raise LogDamaged(self.log.path, str(exc)) from None
                    if not is_disk_full(exc):
                        raise
                    # Stay up (queries, status, /health answer), ingest nothing, try again later.
                    rewind = True
                    self.stop.wait(self.degraded.enter(DISK_FULL, exc))
                    continue
                self.degraded.leave()
                self.totals.ingested += step.ingested
                self.totals.processed += step.processed
                self.totals.projected += step.projected
                self.totals.dead += step.dead
                if on_status is not None:
                    on_status(self.totals)
                if step.busy:
                    continue
                if once:
                    break
                wait_for_input(self.sources, self.settings.poll_interval, self.stop)
        finally:
            self.close()
        return self.totals

    def close(self) -> None:
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with suppress(FileNotFoundError):
                self.settings.socket_path.unlink()
            self._server = None
        self.pipeline.close()
        with self.pipeline.graph_lock:
            self.pipeline.graph.close()
        self.log.close()


def _send(out: Sink, obj: dict[str, Any]) -> None:
    out.write(orjson.dumps(obj) + b"\n")
    out.flush()
