"""`watchman replay`: rebuild the graph from the event log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from watchman.settings import Settings
from watchman.wiring import (
    graph_path,
    open_bus,
    open_log,
    open_settings_graph,
)

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    pass
from watchman.cli.common import EXIT_BUSY, EXIT_USAGE, err, fail, get_settings, progress


def replay(
    batch_size: Annotated[int, typer.Option(min=1, help="domain records per graph transaction")] = 5000,
    yes: Annotated[bool, typer.Option("--yes", help="confirm wiping Neo4j (distributed deployment)")] = False,
) -> None:
    """Rebuild the graph from the event log (offset zero) into a fresh store, then swap it in.

    Embedded: the old graph is kept beside the new one as `<graph>.previous`. With a daemon running,
    the daemon does the rebuild (its live projection pauses meanwhile; ingest goes on) and queries keep
    working on the old graph until the swap.

    Distributed: Neo4j Community has one database, so the graph is wiped and rebuilt in place from the
    Kafka domain topics (queries see a partial graph meanwhile); this needs --yes. A running
    `watchman project` may keep going: the wipe removes its positions too, so it also starts over
    from offset zero, and the upserts make that harmless.
    """
    from watchman.check import LogDamaged, require_sound_log
    from watchman.daemon import AlreadyRunning, daemon_lock
    from watchman.daemon_client import DaemonClient
    from watchman.replay import domain_backlog, replay_into_place

    s = get_settings()
    if s.deployment == "distributed" or not s.graph_url.startswith("ladybug://"):
        _replay_distributed(s, batch_size, yes)
        return
    try:
        require_sound_log(Path(s.bus_url[len("sqlite://") :]))
    except LogDamaged as exc:
        raise fail(str(exc)) from None
    with progress() as bar:
        task = bar.add_task("replaying", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        client = DaemonClient.connect(s)
        if client is not None:
            n = 0
            for msg in client.request({"op": "replay"}):
                if "error" in msg:
                    raise fail(msg["error"])
                if "progress" in msg:
                    advance(msg["progress"], msg["total"])
                n = msg.get("done", n)
        else:
            try:
                with daemon_lock(s.data_dir):
                    log_ = open_log(s.bus_url)
                    try:
                        bar.update(task, total=domain_backlog(log_))
                        store, n = replay_into_place(
                            log_, s.graph_url, None, batch_size=batch_size, progress=advance
                        )
                        store.close()
                    finally:
                        log_.close()
            except AlreadyRunning as exc:
                raise fail(str(exc), EXIT_BUSY) from None
    err.print(f"replayed {n:,} events into {graph_path(s.graph_url)}")


def _replay_distributed(s: Settings, batch_size: int, yes: bool) -> None:
    from watchman.replay import domain_backlog, rebuild

    if not yes:
        raise fail(
            f"replay wipes the graph at {s.graph_url} and rebuilds it: pass --yes to confirm", EXIT_USAGE
        )
    bus = open_bus(s.bus_url)
    try:
        with open_settings_graph(s) as store, progress() as bar:
            task = bar.add_task("replaying", total=domain_backlog(bus))
            wipe = getattr(store, "wipe", None)
            if wipe is None:
                raise fail(f"{s.graph_url}: this store cannot be wiped in place")
            wipe(confirm=True)
            n = rebuild(
                bus, store, batch_size=batch_size, progress=lambda d, t: bar.update(task, completed=d)
            )
    finally:
        bus.close()
    err.print(f"replayed {n:,} events into {s.graph_url}")
