"""RestartService: `systemctl restart UNIT`, only where systemd runs, with its own rate limit per unit.

Options (ExecContext.options["RestartService"], from settings.services.auto_restart):
  allowed          false refuses every restart (CommandRejected)
  max_restarts     restarts per unit within window_minutes, counted here too (belt and braces: the
  window_minutes   policy in processors.services limits what it issues; this limits what is done,
                   whoever issued it)
  systemd_dir      the directory whose existence means systemd is PID 1 (/run/systemd/system, as
                   sd_booted() checks); tests point it elsewhere, because systemd cannot run on the
                   machines the tests run on, and they put a stand-in `systemctl` first on PATH.
  systemctl        the program to run (found on PATH)
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta
from pathlib import Path

from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded, RestartService
from watchman.executors import ExecContext, Outcome, executor

SYSTEMD_DIR = "/run/systemd/system"
TIMEOUT = 120.0
# A unit name as systemd accepts it; anything else (options, paths, spaces) is refused before exec.
_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")

_lock = threading.Lock()
# unit -> times of restarts done by this process (executors are per host: one process acts for it)
_done: dict[str, deque[datetime]] = defaultdict(deque)


def _opt(ctx: ExecContext, name: str, default: object) -> object:
    return ctx.options.get(RestartService.TYPE, {}).get(name, default)


@executor(RestartService.TYPE)
def restart_service(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, RestartService)
    unit = payload.unit
    if not _UNIT.match(unit) or unit.startswith("-"):
        return CommandRejected, f"not a unit name: {unit!r}"
    if not _opt(ctx, "allowed", True):
        return CommandRejected, "restarts are disabled here (services.auto_restart.allowed = false)"
    systemd_dir = Path(str(_opt(ctx, "systemd_dir", SYSTEMD_DIR)))
    if not systemd_dir.is_dir():
        return (
            CommandRejected,
            f"systemd is not running on {ctx.host} ({systemd_dir} missing): cannot restart {unit}",
        )
    limit = int(str(_opt(ctx, "max_restarts", 3)))
    window = timedelta(minutes=int(str(_opt(ctx, "window_minutes", 30))))
    now = ctx.now()
    with _lock:
        done = _done[unit]
        while done and now - done[0] >= window:
            done.popleft()
        if len(done) >= limit:
            return (
                CommandRejected,
                f"rate limit: {len(done)} restart(s) of {unit} in the last {window} (max {limit})",
            )
        done.append(now)
    systemctl = str(_opt(ctx, "systemctl", "systemctl"))
    try:
        proc = subprocess.run(
            [systemctl, "restart", "--", unit], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CommandFailed, f"systemctl restart {unit}: {type(exc).__name__}: {exc}"
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()[-500:]
        return CommandFailed, f"systemctl restart {unit} exited {proc.returncode}: {err}"
    return CommandSucceeded, f"restarted {unit}"


def reset_rate_limit() -> None:
    """Forget the restarts done (tests)."""
    with _lock:
        _done.clear()
