"""Package sources (I/O): tail package-manager logs or snapshot brew, yielding raw envelopes and cursors."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from producers.packages import brew, make_parser
from producers.packages.base import LogParser, ParseError
from producers.packages.envelopes import raw_envelope
from producers.source import Poll
from producers.tailer import MAX_LINE_BYTES, Cursor, FileTailer
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.events.packages import RAW_PACKAGES

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# The rich log and the plain log of one package manager tell the same changes.
PACE_GROUP = {"apt": "deb", "dpkg": "deb", "dnf": "rpm", "dnf-rpm": "rpm"}
PACE_ROLE = {"apt": "follows", "dpkg": "leads", "dnf": "follows", "dnf-rpm": "leads"}
# A dead letter's reason may quote the offending value; the line itself is in the raw bytes already.
ERROR_CHARS = 500


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Chunk:
    """What one line gave: its changes and dead letters, and the cursor that consumes it."""

    observations: list[Envelope] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    cursor: Cursor | None = None


def _after(chunk: _Chunk, until: datetime) -> bool:
    return any(e.ts > until for e in chunk.observations)


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
        # Lines read but held back by the pacer (a follower's changes past its leader's time).
        self._held: deque[_Chunk] = deque()
        # The plain log of a pair leads, the rich one follows (producers.pacing).
        self.pace_role = PACE_ROLE.get(kind, "leads")
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

    @property
    def held_from(self) -> datetime | None:
        """The time of the first change this follower holds back (producers.pacing), if any."""
        for chunk in self._held:
            if chunk.observations:
                return min(e.ts for e in chunk.observations)
        return None

    def poll(self, max_lines: int) -> Poll:
        return self.poll_until(max_lines, None)

    def poll_until(self, max_lines: int, until: datetime | None) -> Poll:
        """Read up to max_lines lines; with `until`, ingest only changes up to that time and hold the
        rest (and every line after the first held one) unconsumed: the cursor stays before them, so a
        crash reads them again. Held lines go out first at a later poll, once the limit allows; no new
        line is read while any is held, so at most one batch is held."""
        out = Poll()
        while self._held and (until is None or not _after(self._held[0], until)):
            self._emit(out, self._held.popleft())
        if self._held:
            self.at_end = False
            return out
        lines = self._tailer.read(max_lines)
        self.at_end = len(lines) < max_lines
        out.lines = len(lines)
        if not lines:
            return out
        now = self._clock()
        safe: Cursor | None = None
        for line in lines:
            chunk = _Chunk()
            if line.overlong is not None:
                # Never parsed: a line this long is no package change, and parsing it could cost
                # gigabytes (one apt Install: line of 3 M items).
                pending = self._parser.pending_start()
                safe = line.cursor if pending is None else self._record_start
                reason = f"line of {line.overlong:,} bytes is longer than max_line_bytes ({self._max_line:,})"
                dead = DeadLetter.of(self.host, self.name, str(line.offset), reason, line.raw, now)
                chunk.dead.append(dead)
            else:
                before = self._parser.pending_start()
                results = self._parser.feed(line.text, line.offset)
                after = self._parser.pending_start()
                if after is not None and after == line.offset and before != after:
                    self._record_start = line.cursor_before
                safe = line.cursor if after is None else self._record_start
                for r in results:
                    if isinstance(r, ParseError):
                        chunk.dead.append(
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
                        chunk.observations.append(
                            raw_envelope(self.host, r, now, native_arch=self.native_arch)
                        )
            chunk.cursor = safe
            if self._held or (until is not None and _after(chunk, until)):
                self._held.append(chunk)
            else:
                self._emit(out, chunk)
        if self._held:
            self.at_end = False
        return out

    @staticmethod
    def _emit(out: Poll, chunk: _Chunk) -> None:
        out.observations.extend(chunk.observations)
        out.dead.extend(chunk.dead)
        if chunk.cursor is not None:
            out.cursor = chunk.cursor.to_dict()

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
