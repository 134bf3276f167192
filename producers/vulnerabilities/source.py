"""The vulnerabilities domain's sources (I/O): the advisory inbox and the installed-sources scanner.

AdvisoryInbox reads the files `watchman cve import` copies into `<data_dir>/cve/inbox/`, one record per
observation, resuming after a restart at the record its cursor names; a finished file is deleted
once the cursor past it is saved. InstalledSourcesScanner reads the package database (dpkg's status
file; `rpm -qa` where rpm has a database) with the source package of every binary, every `interval`
seconds, and sends a snapshot when it changed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producers.source import Poll
from producers.vulnerabilities import installed
from producers.vulnerabilities.feed import Bad, FeedError, Item, read_feed
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope, event_id
from schemas.events.vulnerabilities import (
    RAW_VULNERABILITIES,
    AdvisoryObserved,
    InstalledPackage,
    InstalledSourcesObserved,
)

log = logging.getLogger(__name__)
SOURCE = "vulnerabilities"
Clock = Callable[[], datetime]
# Packages per InstalledSourcesObserved record: ~160 bytes each, so a part stays near 200 KB, well under
# Kafka's 1 MiB record limit (one record for the whole database failed above ~6,400 packages).
PART_PACKAGES = 1200


def _now() -> datetime:
    return datetime.now(UTC)


def advisory_envelope(host: str, adv: AdvisoryObserved, observed_at: datetime) -> Envelope:
    """Id by content: the same record imported twice (or from two files) is one raw record."""
    return Envelope(
        id=event_id("raw", "advisory", adv.id, adv.digest),
        type=adv.TYPE,
        schema_version=adv.VERSION,
        host=host,
        source=SOURCE,
        ts=observed_at,
        observed_at=observed_at,
        subject=adv.id,
        payload=adv.model_dump(mode="json"),
    )


class AdvisoryInbox:
    """Files in `inbox`, oldest name first (the CLI names them by import time)."""

    def __init__(
        self, inbox: Path, host: str, cursor: dict[str, Any] | None = None, *, clock: Clock = _now
    ) -> None:
        self.inbox = inbox
        self.host = host
        self.topic = RAW_VULNERABILITIES
        self.name = f"cve-inbox:{inbox}"
        self._clock = clock
        cur = cursor or {}
        self._file: str | None = cur.get("file")
        self._index: int = int(cur.get("index", 0))
        self._done: str | None = cur.get("done")
        self._iter: Iterator[Item] | None = None

    def _next_file(self) -> str | None:
        if not self.inbox.is_dir():
            return None
        names = sorted(p.name for p in self.inbox.iterdir() if p.is_file() and not p.name.startswith("."))
        later = [n for n in names if self._done is None or n > self._done]
        return later[0] if later else None

    def poll(self, max_lines: int) -> Poll:
        # The cursor saved last time says `done` is read to its end: its copy can go.
        if self._done is not None and (self.inbox / self._done).exists():
            (self.inbox / self._done).unlink(missing_ok=True)
        if self._file is None:
            self._file = self._next_file()
            self._index, self._iter = 0, None
            if self._file is None:
                return Poll()
        now = self._clock()
        path = self.inbox / self._file
        if self._iter is None:
            try:
                self._iter = read_feed(path)
                for _ in range(self._index):
                    next(self._iter, None)
            except FeedError as exc:
                dead = [DeadLetter.of(self.host, self.name, self._file, str(exc), b"", now)]
                return self._finish(Poll(dead=dead))
        poll = Poll()
        try:
            for _ in range(max(1, max_lines)):
                item = next(self._iter, None)
                if item is None:
                    return self._finish(poll)
                position, rec = item
                self._index += 1
                if isinstance(rec, Bad):
                    poll.dead.append(
                        DeadLetter.of(self.host, self.name, f"{self._file}:{position}", rec.error, b"", now)
                    )
                else:
                    poll.observations.append(advisory_envelope(self.host, rec, now))
                poll.lines += 1
        except FeedError as exc:
            poll.dead.append(DeadLetter.of(self.host, self.name, self._file, str(exc), b"", now))
            return self._finish(poll)
        poll.cursor = {"file": self._file, "index": self._index, "done": self._done}
        return poll

    def _finish(self, poll: Poll) -> Poll:
        self._done, self._file, self._iter, self._index = self._file, None, None, 0
        poll.cursor = {"file": None, "index": 0, "done": self._done}
        return poll

    def close(self) -> None:
        self._iter = None


def _native_arch(tool: str, args: tuple[str, ...]) -> str | None:
    if not shutil.which(tool):
        return None
    try:
        out = subprocess.run([tool, *args], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip() or None


class InstalledSourcesScanner:
    """Every `interval` seconds (the first poll at once): the installed packages with their sources."""

    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        dpkg_status: Path = Path("/var/lib/dpkg/status"),
        rpm_dbpath: Path = Path("/var/lib/rpm"),
        os_release: Path = Path("/etc/os-release"),
        interval: float = 3600.0,
        clock: Clock = _now,
        native_arch: dict[str, str | None] | None = None,
    ) -> None:
        self.host = host
        self.topic = RAW_VULNERABILITIES
        self.name = "vulnerabilities:installed"
        self.dpkg_status, self.rpm_dbpath, self.os_release = dpkg_status, rpm_dbpath, os_release
        self.interval = interval
        self._clock = clock
        self._arch = native_arch
        self._digest: str | None = (cursor or {}).get("digest")
        self._due = 0.0

    def _arches(self) -> dict[str, str | None]:
        if self._arch is None:
            self._arch = {
                "deb": _native_arch("dpkg", ("--print-architecture",)),
                "rpm": _native_arch("rpm", ("--eval", "%{_arch}")),
            }
        return self._arch

    def read(self) -> tuple[str | None, list[InstalledPackage]]:
        arch = self._arches()
        packages: list[InstalledPackage] = []
        if self.dpkg_status.is_file():
            text = self.dpkg_status.read_text(encoding="utf-8", errors="replace")
            packages += installed.dpkg_status(text, self.host, arch["deb"])
        if (self.rpm_dbpath / "rpmdb.sqlite").exists() or (self.rpm_dbpath / "Packages").exists():
            proc = subprocess.run(
                ["rpm", "--dbpath", str(self.rpm_dbpath), "-qa", "--queryformat", installed.RPM_QUERYFORMAT],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if proc.returncode == 0:
                packages += installed.rpm_query(proc.stdout, self.host, arch["rpm"])
            else:
                log.warning("rpm -qa exited %s: %s", proc.returncode, proc.stderr.strip()[:300])
        release = None
        if self.os_release.is_file():
            release = installed.os_release(self.os_release.read_text(encoding="utf-8", errors="replace"))
        return release, sorted(packages, key=lambda p: p.key)

    def poll(self, max_lines: int) -> Poll:
        if time.monotonic() < self._due:
            return Poll()
        self._due = time.monotonic() + self.interval
        try:
            release, packages = self.read()
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("cannot read the installed packages: %s", exc)
            return Poll()
        digest = installed.digest(release, packages)
        if digest == self._digest:
            return Poll()
        self._digest = digest
        now = self._clock()
        chunks = [packages[i : i + PART_PACKAGES] for i in range(0, len(packages), PART_PACKAGES)] or [[]]
        out: list[Envelope] = []
        for part, chunk in enumerate(chunks):
            obs = InstalledSourcesObserved(
                ts=now, release=release, packages=tuple(chunk), digest=digest, part=part, parts=len(chunks)
            )
            extra = (str(part),) if len(chunks) > 1 else ()
            out.append(
                Envelope(
                    id=event_id("raw", self.host, "installed-sources", digest, now.isoformat(), *extra),
                    type=obs.TYPE,
                    schema_version=obs.VERSION,
                    host=self.host,
                    source=SOURCE,
                    ts=now,
                    observed_at=now,
                    subject="installed",
                    payload=obs.model_dump(mode="json"),
                )
            )
        return Poll(observations=out, cursor={"digest": digest}, lines=1)

    def scan_now(self) -> None:
        self._due = 0.0

    def close(self) -> None:
        pass
