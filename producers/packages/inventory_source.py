"""The package-database source (I/O): read dpkg's status file or ask rpm, diff against the last inventory.

The first snapshot waits until the logs of the same package manager have been read to their end, so
in every partition of the raw topic a package's log history comes before its inventory entry: the
processor then knows the history when it meets the database's word, and reports only what the
history does not explain (processors/packages.py: decide_inventory).
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from producers import snapshot
from producers.packages import inventory
from producers.packages.envelopes import inventory_envelope
from producers.source import Poll
from schemas.dlq import DeadLetter
from schemas.events.packages import RAW_PACKAGES, InventorySource

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _always() -> bool:
    return True


class DatabaseSource:
    """Snapshot one package database every `interval` seconds (and on TriggerScan).

    `kind` is `dpkg-status` (path: the status file) or `rpmdb` (path: the RPM database directory,
    read with `rpm --dbpath PATH -qa`). `ready` says whether the logs of the same package manager
    have been read to their end; no snapshot is taken before. `told` gives the (package, arch) pairs
    those logs told of, for the first snapshot to name what the database no longer lists at all.
    """

    def __init__(
        self,
        kind: InventorySource,
        path: str | Path,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        interval: float = 3600.0,
        clock: Clock = _now,
        native_arch: str | None = None,
        ready: Callable[[], bool] = _always,
        told: Callable[[], set[tuple[str, str | None]]] = set,
        rpm: str = "rpm",
    ) -> None:
        self.kind: InventorySource = kind
        self.path = Path(path)
        self.topic = RAW_PACKAGES
        self.name = f"{kind}:{self.path}"
        self.host = host
        self.interval = interval
        self.native_arch = native_arch
        self._clock = clock
        self._ready = ready
        self._told = told
        self._rpm = rpm
        self._last = snapshot.from_cursor(cursor)
        self._next_at: datetime | None = None
        self._read_digest: str | None = None
        self._failed = False

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return Poll()
        if not self._ready():
            return Poll()  # history first: the logs are still being read
        self._next_at = now + timedelta(seconds=self.interval)
        try:
            text = self._read()
        except (OSError, subprocess.SubprocessError) as exc:
            if not self._failed:
                log.warning("cannot read the package database %s: %s", self.name, exc)
            self._failed = True
            return Poll()
        self._failed = False
        digest = hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
        if digest == self._read_digest:
            return Poll()  # the database has not changed since the last read
        self._read_digest = digest
        parse = inventory.parse_dpkg_status if self.kind == "dpkg-status" else inventory.parse_rpm_query
        read = parse(text)
        items = read.settle(self._last)
        dead = [
            DeadLetter.of(self.host, self.name, e.position, e.error, e.text.encode("utf-8", "replace"), now)
            for e in read.errors
        ]
        if self._last is not None and snapshot.digest(items) == snapshot.digest(self._last):
            return Poll(dead=dead)
        changes = snapshot.diff(self._last, items)
        found = inventory.observations(self.kind, changes, now, self.native_arch)
        if self._last is None:  # first snapshot: what the logs told of that is not there at all
            found += inventory.untold_absences(self.kind, items, self._told(), now, self.native_arch)
        self._last = items
        return Poll(
            observations=[inventory_envelope(self.host, obs, now) for obs in found],
            dead=dead,
            cursor=snapshot.to_cursor(items),
            lines=len(found),
        )

    def _read(self) -> str:
        if self.kind == "dpkg-status":
            return self.path.read_text(encoding="utf-8", errors="surrogateescape")
        if not self.path.is_dir():
            raise FileNotFoundError(f"no RPM database at {self.path}")
        proc = subprocess.run(
            [self._rpm, "--dbpath", str(self.path), "-qa", "--queryformat", inventory.RPM_QUERYFORMAT],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            errors="surrogateescape",
        )
        if proc.returncode != 0:
            raise subprocess.SubprocessError(f"rpm exited {proc.returncode}: {proc.stderr.strip()[:500]}")
        return proc.stdout

    def scan_now(self) -> None:
        """Snapshot at the next poll instead of at the next interval (the TriggerScan command)."""
        self._next_at = None

    def close(self) -> None:
        pass
