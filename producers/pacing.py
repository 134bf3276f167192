"""Keep sources that tell the same changes (apt and dpkg, dnf and dnf.rpm) level in time during a backfill."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from producers.source import Poll, Source

# How far one log may run ahead of its twin in event time before it waits. Twins of one change are
# minutes apart at most; the margin only needs to keep them within the processor's memory.
PACE_MARGIN = timedelta(minutes=30)


@dataclass
class _Progress:
    last_ts: datetime | None = None
    at_end: bool = False


class Pacer:
    """Tells the ingestor which sources to skip this step.

    apt's history.log packs about three times as many changes into a line as dpkg.log, so reading the
    same number of lines from both runs apt ahead by days within a long backfill, and the processor
    (which pairs the two tellings of one change into one event) would have to remember every unpaired
    change in between. Instead, a source whose last observation is more than PACE_MARGIN ahead of a
    twin that still has lines to read waits for it. The source furthest behind is always read, so
    the backfill always progresses; once every twin is at its end (live following) nothing waits.
    Sources name their twins by a shared `pace_group` attribute; those without one are never paced.
    """

    def __init__(self, sources: Iterable[Source], margin: timedelta = PACE_MARGIN) -> None:
        self.margin = margin
        self._group: dict[str, str] = {}
        self._progress: dict[str, _Progress] = {}
        for src in sources:
            group = getattr(src, "pace_group", None)
            if isinstance(group, str) and group:
                self._group[src.name] = group
                self._progress[src.name] = _Progress()

    def should_wait(self, src: Source) -> bool:
        group = self._group.get(src.name)
        if group is None:
            return False
        mine = self._progress[src.name].last_ts
        if mine is None:
            return False
        for name, other in self._progress.items():
            if name == src.name or self._group[name] != group or other.at_end or other.last_ts is None:
                continue
            if other.last_ts < mine - self.margin:
                return True
        return False

    def polled(self, src: Source, poll: Poll, max_lines: int) -> None:
        progress = self._progress.get(src.name)
        if progress is None:
            return
        # Fewer lines than asked for: the source has read all there is (for now).
        progress.at_end = poll.lines < max_lines
        if poll.observations:
            last = max(e.ts for e in poll.observations)
            if progress.last_ts is None or last > progress.last_ts:
                progress.last_ts = last
