"""Running degraded: when the disk is full the daemon stops ingesting, says so, and retries with backoff.

Every stage step is one transaction (pipeline.py), so a step that fails for lack of space changed
nothing durable: the daemon rewinds its sources to their saved cursors and tries the step again
later. Nothing is lost, and the ids are the same as if the disk had never filled.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter, Gauge

from watchman import metrics

log = logging.getLogger(__name__)

DEGRADED = Gauge(
    "watchman_degraded",
    "1 while the daemon is degraded for the reason given (disk_full: it stops ingesting and retries).",
    ["reason"],
    registry=metrics.REGISTRY,
)
DEGRADED_RETRIES = Counter(
    "watchman_degraded_retries_total",
    "Steps retried while degraded, by reason.",
    ["reason"],
    registry=metrics.REGISTRY,
)
DISK_FULL = "disk_full"
DEGRADED.labels(DISK_FULL).set(0)
DEGRADED_RETRIES.labels(DISK_FULL)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0

_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error from SQLite, LadybugDB or the OS means "no space left" (or over quota)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:  # the cause chain: a wrapped sqlite3 error counts
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(e, sqlite3.Error) and getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(e, sqlite3.Error | RuntimeError | OSError) and any(
            t in str(e).lower() for t in _FULL_TEXTS
        ):
            return True
        e = e.__cause__ or e.__context__
    return False


def require_room(path: Path, need: int) -> None:
    """Raise ENOSPC when the filesystem of `path` has less than `need` bytes free.

    LadybugDB does not report a write that fails for lack of space: it aborts the whole process
    (`terminate called after throwing an instance of 'lbug::common::IOException'`, measured). So the
    daemon checks for room before each step and degrades before the graph store runs out.
    """
    if need <= 0:
        return
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    free = st.f_bavail * st.f_frsize
    if free < need:
        raise OSError(
            errno.ENOSPC,
            f"No space left on device: {free / 2**20:.1f} MiB free for the graph in {path}, below "
            f"graph_min_free_mb ({need / 2**20:.0f} MiB)",
        )


@dataclass
class Degraded:
    """The daemon's degraded state: None of a reason while healthy."""

    reason: str | None = None
    detail: str = ""
    since: float = 0.0
    retries: int = 0
    delay: float = FIRST_DELAY

    def enter(self, reason: str, exc: BaseException) -> float:
        """Record a failed step; returns how long to wait before the next attempt."""
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if self.reason != reason:
            self.reason, self.detail, self.since, self.retries, self.delay = (
                reason,
                detail,
                time.time(),
                0,
                FIRST_DELAY,
            )
            DEGRADED.labels(reason).set(1)
            log.error(
                "degraded (%s): %s; ingest stopped, nothing is lost; retrying with backoff up to every %gs",
                reason,
                detail,
                MAX_DELAY,
            )
        else:
            self.retries += 1
            DEGRADED_RETRIES.labels(reason).inc()
            self.delay = min(self.delay * 2, MAX_DELAY)
        return self.delay

    def leave(self) -> None:
        if self.reason is None:
            return
        log.warning(
            "no longer degraded (%s) after %.0fs and %d retries; resuming",
            self.reason,
            time.time() - self.since,
            self.retries,
        )
        DEGRADED.labels(self.reason).set(0)
        self.reason = None
        self.detail = ""

    def as_dict(self) -> dict[str, object] | None:
        if self.reason is None:
            return None
        return {
            "reason": self.reason,
            "detail": self.detail,
            "since": self.since,
            "retries": self.retries,
            "next_retry_in_seconds": self.delay,
        }
