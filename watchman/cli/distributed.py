"""The distributed deployment's long-running commands: produce, worker, project."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from watchman.settings import Settings

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    pass
from watchman.cli.common import EXIT_BUSY, EXIT_USAGE, err, fail, get_settings

# Where each distributed process serves its admin API unless --api-listen says otherwise.
DEFAULT_API = {"produce": "127.0.0.1:9651", "worker": "127.0.0.1:9652", "project": "127.0.0.1:9653"}


def distributed_settings() -> Settings:
    s = get_settings()
    if s.deployment != "distributed":
        raise fail(
            'this command is for the distributed deployment: set bus = "kafka://HOST:PORT" '
            '(and graph = "neo4j://HOST:PORT"); the embedded default runs with `watchman run`',
            EXIT_USAGE,
        )
    return s


class _Ticker:
    """Prints a status line at most every few seconds (or on a terminal, in place)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every if not err.is_terminal else 0.2
        self._last = 0.0

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        if err.is_terminal:
            err.file.write("\r\x1b[2K" + text)
            err.file.flush()
        else:
            logging.getLogger("watchman").info(text)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def listen_option() -> Any:
    return typer.Option(
        "--api-listen",
        help="HOST:PORT of this process's admin API (health, metrics); '' turns it off; port 0 = any free; "
        "an address beyond loopback needs api_allow_remote = true",
        show_default=True,
        callback=_remote_listen_check,
    )


def _remote_listen_check(value: str) -> str:
    from watchman.private_files import RemoteListenRefused, check_listen

    if value:
        try:
            check_listen(value, allow_remote=get_settings().api_allow_remote)
        except RemoteListenRefused as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def produce(
    once: Annotated[bool, typer.Option(help="forward what the sources hold now, then exit")] = False,
    api_listen: Annotated[str, listen_option()] = DEFAULT_API["produce"],
) -> None:
    """Distributed producer: follow the logs into a local spool and forward it to Kafka.

    The spool (spool.sqlite in the data directory) is written with the file cursors in one
    transaction, then forwarded after Kafka acknowledges: when Kafka is down the spool grows on disk
    and catches up when it returns.
    """
    from watchman.daemon import AlreadyRunning, daemon_lock
    from watchman.distributed import run_producer

    s = distributed_settings()
    tick = _Ticker()
    try:
        with daemon_lock(s.data_dir, role="produce"):
            c = run_producer(
                s,
                stop_on_signals(),
                once=once,
                api_listen=api_listen,
                on_status=lambda c: tick(
                    f"ingested {c.ingested:,} · forwarded {c.forwarded:,} · spooled {c.spooled:,}"
                ),
            )
    except AlreadyRunning as exc:
        raise fail(str(exc), EXIT_BUSY) from None
    err.print(
        f"\nproducer stopped: ingested {c.ingested:,}, forwarded {c.forwarded:,}, spooled {c.spooled:,}"
    )


def worker(
    loglevel: Annotated[str, typer.Option(help="Faust's log level")] = "WARNING",
    stall_after: Annotated[
        float, typer.Option(min=5, help="exit (status 3) when records wait but none is handled this long")
    ] = 90.0,
    api_listen: Annotated[str, listen_option()] = DEFAULT_API["worker"],
) -> None:
    """Distributed processors: a Faust worker running the decide functions as agents.

    Reads watchman.raw.* and writes watchman.events.*; its state lives in Faust tables changelogged
    to Kafka. Start more workers to share the partitions. Run it under a supervisor that restarts it
    (systemd Restart=always, compose restart: unless-stopped): it exits rather than hang when stalled.
    """
    from watchman.distributed import run_worker

    s = distributed_settings()
    api = f"; admin API on http://{api_listen}" if api_listen else ""
    err.print(f"worker: started for host {s.host} on {s.bus_url}{api}; Ctrl-C or SIGTERM stops it")
    err.print("worker: caught up when `watchman status` shows lag 0 for every consumer")
    try:
        run_worker(s, loglevel=loglevel, stall_after=stall_after, api_listen=api_listen)
    finally:
        err.print("worker: stopped")


def project(
    once: Annotated[bool, typer.Option(help="apply what the domain topics hold now, then exit")] = False,
    api_listen: Annotated[str, listen_option()] = DEFAULT_API["project"],
) -> None:
    """Distributed projector: apply the Kafka domain topics to the graph store (Neo4j) in batches.

    The last applied offset per partition is stored in the graph in the same transaction as the
    writes, so a killed projector resumes exactly where the graph is.
    """
    from watchman.distributed import run_projector

    s = distributed_settings()
    tick = _Ticker()
    c = run_projector(
        s,
        stop_on_signals(),
        once=once,
        on_status=lambda c: tick(f"projected {c.projected:,}"),
        api_listen=api_listen,
    )
    err.print(f"\nprojector stopped: projected {c.projected:,}")
