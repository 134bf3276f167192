"""AuthLogSource (I/O): follow /var/log/auth.log or /var/log/secure with the rotation-aware tailer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from producers.authlog.syslog import (
    SOURCE,
    Numbering,
    SyslogLineError,
    expand,
    observation,
    parse_line,
    raw_envelope,
)
from producers.source import Poll
from producers.tailer import Cursor, FileTailer
from schemas.dlq import DeadLetter
from schemas.events.services import RAW_JOURNAL

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def __local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC


def _local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC


class AuthLogSource:
    """One syslog file of authentication lines (its rotated generations first, on first start), whose
    lines go to the journal's raw topic as JournalEntryObserved, for the same security decisions."""

    def __init__(
        self,
        path: str | Path,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        tz: tzinfo | None = None,
        clock: Clock = _now,
    ) -> None:
        self.path = Path(path)
        self.name = f"{SOURCE}:{self.path}"
        self.topic = RAW_JOURNAL
        self.host = host
        self._tz = tz if tz is not None else _local_zone()
        self._clock = clock
        saved = cursor or {}
        file_cursor = saved.get("file")
        self._tailer = FileTailer(
            self.path, Cursor.from_dict(file_cursor) if file_cursor else None, wake=True
        )
        self._numbering = Numbering(saved.get("numbering"))

    def fileno(self) -> int:
        return self._tailer.fileno()

    def poll(self, max_lines: int) -> Poll:
        lines = self._tailer.read(max_lines)
        out = Poll(lines=len(lines))
        if not lines:
            return out
        now = self._clock()
        for line in lines:
            try:
                record = parse_line(line.text, tz=self._tz, now=now)
            except SyslogLineError as exc:
                out.dead.append(
                    DeadLetter.of(self.host, self.name, str(line.offset), str(exc), line.raw, now)
                )
                continue
            for k, one in enumerate(expand(record)):
                nth = self._numbering.next(one)
                obs = observation(one, f"{self.path}:{line.offset}:{k}")
                out.observations.append(raw_envelope(self.host, obs, nth, now))
        out.cursor = {"file": lines[-1].cursor.to_dict(), "numbering": self._numbering.to_dict()}
        return out

    def close(self) -> None:
        self._tailer.close()
