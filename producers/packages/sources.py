"""Package sources (I/O): tail package-manager logs or snapshot brew, yielding raw envelopes and cursors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from producers.packages import brew, make_parser
from producers.packages.base import LogParser, ParseError
from producers.packages.envelopes import raw_envelope
from producers.source import Poll
from producers.tailer import MAX_LINE_BYTES, Cursor, FileTailer
from schemas.dlq import DeadLetter
from schemas.events.packages import RAW_PACKAGES

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# The rich log and the plain log of one package manager tell the same changes.
PACE_GROUP = {"apt": "deb", "dpkg": "deb", "dnf": "rpm", "dnf-rpm": "rpm"}
# A dead letter's reason may quote the offending value; the line itself is in the raw bytes already.
ERROR_CHARS = 500


def _now() -> datetime:
    return datetime.now(UTC)


class LogSource:
    """Tail one log file (with its rotated generations on first start) through one parser.

    poll() also drains the wake descriptor of fileno(), so a runner's select does not spin on it.
    The saved cursor never passes an incomplete multi-line record: after a crash the record is read
    again from its first line, so none of its changes is lost.
    """

    def __init__(
        self,
        kind: str,
        path: str | Path,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        tz: tzinfo | None = None,
        clock: Clock = _now,
        native_arch: str | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.kind = kind
        self._max_line = max_line_bytes
        self.native_arch = native_arch
        # Logs that tell the same changes are read level in time (producers.pacing).
        self.pace_group = PACE_GROUP.get(kind)
        self.topic = RAW_PACKAGES
        self.path = Path(path)
        self.name = f"{kind}:{self.path}"
        self.host = host
        self._clock = clock
        self._parser: LogParser = make_parser(kind, tz=tz)
        self._tailer = FileTailer(
            self.path,
            Cursor.from_dict(cursor) if cursor else None,
            max_line_bytes=max_line_bytes,
            wake=True,
        )
        self._record_start: Cursor | None = None
        # Read to the end (the last poll gave fewer lines than asked for): the package database's
        # inventory waits for this, so a package's history reaches the processor before it.
        self.at_end = False
        # Every (package, arch) this source told of: the first inventory snapshot names those the
        # database no longer lists at all (a removal no log kept).
        self.told: set[tuple[str, str | None]] = set()

    def fileno(self) -> int:
        """An inotify descriptor, readable once the log (or its directory, on rotation) changed since
        the last poll; -1 where inotify is unavailable. The runner selects on it instead of sleeping."""
        return self._tailer.fileno()

    def poll(self, max_lines: int) -> Poll:
        lines = self._tailer.read(max_lines)
        self.at_end = len(lines) < max_lines
        out = Poll(lines=len(lines))
        if not lines:
            return out
        now = self._clock()
        safe: Cursor | None = None
        for line in lines:
            if line.overlong is not None:
                # Never parsed: a line this long is no package change, and parsing it could cost
                # gigabytes (one apt Install: line of 3 M items).
                pending = self._parser.pending_start()
                safe = line.cursor if pending is None else self._record_start
                reason = f"line of {line.overlong:,} bytes is longer than max_line_bytes ({self._max_line:,})"
                out.dead.append(DeadLetter.of(self.host, self.name, str(line.offset), reason, line.raw, now))
                continue
            before = self._parser.pending_start()
            results = self._parser.feed(line.text, line.offset)
            after = self._parser.pending_start()
            if after is not None and after == line.offset and before != after:
                self._record_start = line.cursor_before
            safe = line.cursor if after is None else self._record_start
            for r in results:
                if isinstance(r, ParseError):
                    out.dead.append(
                        DeadLetter.of(
                            self.host,
                            self.name,
                            str(r.offset),
                            r.error if len(r.error) <= ERROR_CHARS else f"{r.error[:ERROR_CHARS]}…",
                            r.line.encode("utf-8", "replace"),
                            now,
                        )
                    )
                else:
                    self.told.add((r.package, r.arch))
                    out.observations.append(raw_envelope(self.host, r, now, native_arch=self.native_arch))
        out.cursor = None if safe is None else safe.to_dict()
        return out

    def close(self) -> None:
        self._tailer.close()


class BrewSource:
    """Homebrew keeps no history log: diff snapshots of its Cellar/Caskroom into changes."""

    def __init__(
        self,
        prefix: str | Path,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        interval: float = 60.0,
        clock: Clock = _now,
    ) -> None:
        self.path = Path(prefix)
        self.topic = RAW_PACKAGES
        self.interval = interval
        self._next_at: datetime | None = None
        self.name = f"brew:{self.path}"
        self.host = host
        self._clock = clock
        self._last = brew.BrewSnapshot.from_dict(cursor) if cursor else None

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        # A snapshot walks the Cellar: cheap, but not something to do on every one-second poll.
        if self._next_at is not None and now < self._next_at:
            return Poll()
        self._next_at = now + timedelta(seconds=self.interval)
        if not self.path.exists():
            return Poll()
        snap = brew.read_snapshot(self.path)
        if self._last is not None and snap.digest() == self._last.digest():
            return Poll()
        changes = brew.diff(self._last, snap, now)
        self._last = snap
        return Poll(
            observations=[raw_envelope(self.host, c, now) for c in changes],
            cursor=snap.to_dict(),
            lines=len(changes),
        )

    def scan_now(self) -> None:
        """Snapshot at the next poll instead of at the next interval (the TriggerScan command)."""
        self._next_at = None

    def close(self) -> None:
        pass
