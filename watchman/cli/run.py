"""The embedded daemon: `watchman run`, with its status line."""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING, Annotated

import typer

from watchman.wiring import (
    ConfigError,
)

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    from watchman.daemon import Totals
from watchman.cli.common import EXIT_BUSY, err, fail, get_settings


def run(
    once: Annotated[bool, typer.Option(help="import what the sources hold now, then exit")] = False,
) -> None:
    """Run the embedded daemon: follow the logs, decide events, keep the graph current.

    Watches the package logs in the settings (apt, dpkg, dnf, dnf5, brew; missing ones are picked up
    when they appear). The first start backfills the whole history, rotated files included.
    Other commands (query, status, replay) talk to this process while it runs.
    """
    from projections.stores.ladybug import GraphLocked
    from watchman.check import LogDamaged
    from watchman.daemon import AlreadyRunning, open_daemon, store_locks

    s = get_settings()
    if s.deployment == "distributed":
        raise fail(
            "the bus is Kafka (distributed deployment): run `watchman produce`, `watchman worker` "
            "and `watchman project` instead of `watchman run`"
        )
    try:
        with store_locks(s):
            daemon = open_daemon(s)
            signal.signal(signal.SIGTERM, lambda *_: daemon.stop.set())
            from producers.source import present

            found = [src.name for src in daemon.sources if present(src)]
            missing = len(daemon.sources) - len(found)
            err.print(f"watchman: data in {s.data_dir}; watching {len(found)} sources (host {s.host})")
            for name in found:
                err.print(f"  {name}")
            if missing:
                # Followed once they appear; `watchman config check` names them.
                err.print(f"  watching {missing} more paths that do not exist yet (watchman config check)")
            try:
                url = daemon.start_api()
            except OSError as exc:
                daemon.close()
                hint = "set api_listen, or WATCHMAN_API_LISTEN=127.0.0.1:0 for any free port"
                raise fail(f"{exc} ({hint})") from None
            if url:
                err.print(f"watchman: admin API on {url} (docs at {url}/docs; token in {s.api_token_path})")
            line = StatusLine(enabled=err.is_terminal)
            try:
                totals = daemon.run(once=once, on_status=line.update)
            except KeyboardInterrupt:
                daemon.stop.set()
                totals = daemon.totals
            line.done(totals)
    except AlreadyRunning as exc:
        raise fail(str(exc), EXIT_BUSY) from None
    except GraphLocked as exc:  # a daemon of another data directory that shares this graph
        raise fail(str(exc), EXIT_BUSY) from None
    except LogDamaged as exc:
        raise fail(str(exc)) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None


class StatusLine:
    """One line that says how far the pipeline got; on a terminal it rewrites itself, else it logs
    at most once a minute."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def text(self, t: Totals) -> str:
        rate = t.projected / max(time.monotonic() - t.started, 1e-6)
        return (
            f"ingested {t.ingested:,} · decided {t.processed:,} · in graph {t.projected:,} "
            f"· dead letters {t.dead:,} · {rate:,.0f} events/s"
        )

    def update(self, t: Totals) -> None:
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.2:
            err.file.write("\r\x1b[2K" + self.text(t))
            err.file.flush()
            self._last = now
        elif not self.enabled and now - self._last >= 60:
            logging.getLogger("watchman").info(self.text(t))
            self._last = now

    def done(self, t: Totals) -> None:
        if self.enabled:
            err.file.write("\r\x1b[2K")
        err.print(f"watchman: stopped; {self.text(t)}")
