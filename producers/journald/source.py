"""JournaldSource (I/O): follow the system journal, or journal files/directories, through systemd.journal."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from systemd import journal

from producers.journald.entries import EntryError, observe, raw_envelope
from producers.source import Poll
from schemas.dlq import DeadLetter
from schemas.events.services import RAW_JOURNAL
from schemas.journal import MAX_PRIORITY, PROGRAMS, PROGRAMS_MAX_PRIORITY, JournalFilter

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# How often to look again for configured journal files or directories that do not exist yet.
REOPEN_EVERY = timedelta(seconds=30)


def _now() -> datetime:
    return datetime.now(UTC)


class JournaldSource:
    """Read journal entries after the saved cursor; on first start, from `backfill` ago.

    `files`/`directories` empty means the local system journal. `units` keeps only entries written by
    or about those units (journal matches on _SYSTEMD_UNIT and UNIT). Of the rest, only what a processor
    may decide from is kept (schemas.journal.JournalFilter): ordinary lines up to `max_priority`, the
    `programs`' lines up to `programs_max_priority`, the service manager's messages about units, OOM
    kills, PAM failures and lines with an error/warning word. The cursor is the journal cursor of the
    last entry read (kept or not); the runner saves it with the observations, after the bus has them.
    """

    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        files: Sequence[Path] = (),
        directories: Sequence[Path] = (),
        units: Sequence[str] = (),
        max_priority: int = MAX_PRIORITY,
        programs: Sequence[str] = PROGRAMS,
        programs_max_priority: int = PROGRAMS_MAX_PRIORITY,
        backfill: timedelta = timedelta(hours=24),
        skip_facilities: Sequence[int] = (),
        clock: Clock = _now,
    ) -> None:
        self.host = host
        # Syslog facilities whose ordinary lines another source tells (auth/authpriv when the auth log
        # files are followed too: watchman.settings.AuthLogSettings), so each line is one event.
        self.skip_facilities = frozenset(skip_facilities)
        self.topic = RAW_JOURNAL
        self.files = [Path(f) for f in files]
        self.directories = [Path(d) for d in directories]
        where = ",".join(str(p) for p in (*self.files, *self.directories)) or "system"
        self.name = f"journald:{where}"
        self.units = tuple(units)
        self.filter = JournalFilter(max_priority, frozenset(programs), programs_max_priority)
        self.backfill = backfill
        self._clock = clock
        self._cursor: str | None = (cursor or {}).get("cursor")
        # First start: entries older than this are skipped even if they come later in a file (a journal
        # file is in write order, which a clock step or an imported file can make differ from time order).
        self._horizon: datetime | None = None if self._cursor else clock() - backfill
        self._reader: journal.Reader | None = None
        self._retry_at: datetime | None = None
        self._reported_missing = False

    # -- opening ------------------------------------------------------------------------------------

    def _open(self) -> journal.Reader | None:
        now = self._clock()
        if self._retry_at is not None and now < self._retry_at:
            return None
        self._retry_at = now + REOPEN_EVERY
        missing = [p for p in (*self.files, *self.directories) if not p.exists()]
        present_files = [str(f) for f in self.files if f.exists()]
        present_dirs = [d for d in self.directories if d.exists()]
        if missing and not present_files and not present_dirs:
            if not self._reported_missing:
                log.info("journal %s not found; will read it once it appears", ", ".join(map(str, missing)))
                self._reported_missing = True
            return None
        try:
            if present_files:
                reader = journal.Reader(files=present_files)
            elif present_dirs:
                # The python binding opens one directory; several need sd_journal_open_files of their files.
                if len(present_dirs) == 1:
                    reader = journal.Reader(path=str(present_dirs[0]))
                else:
                    paths = [str(f) for d in present_dirs for f in sorted(d.rglob("*.journal"))]
                    reader = journal.Reader(files=paths)
            else:
                reader = journal.Reader(flags=journal.LOCAL_ONLY)
        except OSError as exc:
            if not self._reported_missing:
                log.info("cannot open the journal (%s); will try again", exc)
                self._reported_missing = True
            return None
        # Sets up inotify, so process() learns of new and rotated files in the directory.
        with contextlib.suppress(OSError):
            reader.fileno()
        self._add_matches(reader)
        self._position(reader)
        self._reported_missing = False
        return reader

    def _add_matches(self, reader: journal.Reader) -> None:
        if not self.units:
            return
        # Same field: OR; a disjunction between the groups: written by OR about one of the units (a user's
        # units write as _SYSTEMD_USER_UNIT, and their manager's messages name them as USER_UNIT).
        fields = ("_SYSTEMD_UNIT", "UNIT", "_SYSTEMD_USER_UNIT", "USER_UNIT")
        for i, name in enumerate(fields):
            if i:
                reader.add_disjunction()
            for u in self.units:
                reader.add_match(**{name: u})

    def _position(self, reader: journal.Reader) -> None:
        if self._cursor:
            try:
                reader.seek_cursor(self._cursor)
                # seek_cursor lands ON the saved entry: step over it (if it still exists).
                entry = reader.get_next()
                if entry and entry.get("__CURSOR") != self._cursor:
                    reader.get_previous()
                return
            except OSError:
                log.warning("saved journal cursor no longer valid; reading from the backfill window")
        reader.seek_realtime(self._clock() - self.backfill)

    # -- the Source contract ------------------------------------------------------------------------

    def poll(self, max_lines: int) -> Poll:
        if self._reader is None:
            self._reader = self._open()
            if self._reader is None:
                return Poll()
        reader = self._reader
        # Non-blocking: take in what inotify reported (new entries, new or rotated files).
        reader.process()
        out = Poll()
        now = self._clock()
        last: str | None = None
        for _ in range(max_lines):
            entry = reader.get_next()
            if not entry:
                break
            out.lines += 1
            cursor = entry.get("__CURSOR")
            if isinstance(cursor, str):
                last = cursor
            try:
                obs = observe(entry)
            except (EntryError, ValueError) as exc:
                out.dead.append(
                    DeadLetter.of(self.host, self.name, str(cursor), str(exc), repr(entry).encode(), now)
                )
                continue
            if not self.filter.wanted(obs):
                continue
            if obs.facility in self.skip_facilities and obs.object_unit is None:
                continue
            written = entry.get("__REALTIME_TIMESTAMP")
            if self._horizon is not None and isinstance(written, datetime) and written < self._horizon:
                continue
            out.observations.append(raw_envelope(self.host, obs, now))
        if last is not None:
            self._cursor = last
            out.cursor = {"cursor": last}
        return out

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
