"""A real embedded Daemon in a child process that also answers, over a pipe, what only its own process
can see: the settings of the connection the projector writes through.

The child runs the same Daemon as `watchman run` (pipeline, socket, admin API over real HTTP); a test
throws requests at its API and asks the pipe for `CALL current_setting(...)` read directly on the
writer's connection. A crash of the daemon is a dead child, not a dead test run.
"""

from __future__ import annotations

import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# LadybugDB's settings (CALL current_setting(name)): per connection (timeout, threads, ...) and per
# database (checkpoint_threshold, auto_checkpoint, ...).
SETTINGS = (
    "timeout",
    "threads",
    "var_length_extend_max_depth",
    "enable_semi_mask",
    "home_directory",
    "file_search_path",
    "progress_bar",
    "warning_limit",
    "recursive_pattern_semantic",
    "enable_zone_map",
    "disable_map_key_check",
    "enable_plan_optimizer",
    "checkpoint_threshold",
    "auto_checkpoint",
    "spill_to_disk",
)


def writer_settings(store: Any) -> dict[str, str]:
    """The settings of the LadybugStore's own connection (the one apply() writes through)."""
    out: dict[str, str] = {}
    with store._mutex:
        for name in SETTINGS:
            result = store._conn.execute(f"CALL current_setting('{name}') RETURN *")
            try:
                out[name] = str(result.get_next()[0])
            finally:
                result.close()
    return out


def serve(config: str, pipe: Connection) -> None:
    """Child process: run the daemon, send its API URL, then answer "settings" and "stop"."""
    from watchman import settings as settings_mod
    from watchman.daemon import Daemon

    s = settings_mod.load(
        Path(config),
        network={"enabled": False},
        journald={"enabled": False},
        docker={"enabled": False},
        services={"metrics_enabled": False, "units_enabled": False},
        resources={"enabled": False},
        configfiles={"enabled": False},
        exposure={"enabled": False},
        permissions={"enabled": False},
        vulnerabilities={"enabled": False},
    )
    daemon = Daemon(s)
    pipe.send(daemon.start_api())
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    while True:
        message = pipe.recv()
        if message == "settings":
            with daemon.pipeline.graph_lock:
                pipe.send(writer_settings(daemon.pipeline.graph))
        elif message == "stop":
            daemon.stop.set()
            runner.join(60)
            pipe.send("stopped")
            return
