"""GitLab Runner's journal (I/O): the lines `gitlab-runner run` writes under systemd, read from journald.

The `gitlab-runner` package's unit logs to the journal; its lines (the runner format, colours and all) are
the MESSAGE of entries whose `_SYSTEMD_UNIT` is the service. This reader is the runners domain's own (the
services domain's journal source filters info-level lines out, and domains share no code): it follows
only that unit, from a saved journal cursor, and hands back (cursor, time, message) for each new entry.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# On first start, read this far back (the runner's recent jobs), never the whole journal.
BACKFILL = timedelta(days=1)


class GitLabJournal:
    def __init__(self, unit: str, files: tuple[Path, ...] = (), cursor: str | None = None) -> None:
        self.unit = unit
        self.files = files
        self.cursor = cursor
        self._reader: Any = None

    def _open(self) -> Any:
        from systemd import journal

        try:
            if self.files:
                present = [str(f) for f in self.files if f.exists()]
                if not present:
                    return None
                reader = journal.Reader(files=present)
            else:
                reader = journal.Reader(flags=journal.LOCAL_ONLY)
        except OSError as exc:
            log.info("cannot open the journal for %s (%s); will try again", self.unit, exc)
            return None
        with contextlib.suppress(OSError):
            reader.fileno()
        reader.add_match(_SYSTEMD_UNIT=self.unit)
        if self.cursor:
            try:
                reader.seek_cursor(self.cursor)
                entry = reader.get_next()  # seek_cursor lands on the saved entry: step over it
                if entry and entry.get("__CURSOR") != self.cursor:
                    reader.get_previous()
                return reader
            except OSError:
                log.warning("saved journal cursor of %s no longer valid; reading the last day", self.unit)
        reader.seek_realtime(datetime.now(UTC) - BACKFILL)
        return reader

    def entries(self, limit: int) -> Iterator[tuple[str, datetime, str]]:
        if self._reader is None:
            self._reader = self._open()
            if self._reader is None:
                return
        self._reader.process()
        for _ in range(limit):
            entry = self._reader.get_next()
            if not entry:
                return
            cursor = str(entry.get("__CURSOR"))
            self.cursor = cursor
            message = entry.get("MESSAGE")
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            ts = entry.get("__REALTIME_TIMESTAMP")
            when = ts.astimezone(UTC) if isinstance(ts, datetime) else datetime.now(UTC)
            if isinstance(message, str):
                yield cursor, when, message

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
