"""Keep sources that tell the same changes (apt and dpkg, dnf and dnf.rpm) in step during a backfill.

In each pair the plain log (dpkg.log, dnf.rpm.log: a line per change) leads and the rich log (apt's
history.log, dnf.log: a record per transaction) follows:

- The follower ingests a change only once every leader still reading has read past its time (`until`);
  its later records wait in the follower's own hands, not yet consumed (producers/packages/sources.py),
  and are read again after a crash. So of two changes of one package, action and version, the earlier
  is always told first, by whichever log tells it: the processor's ordinal for each change, and so its
  event id, is a function of the logs' content alone, not of where batches or a restart fell
  (docs/architecture.md, "Event ids").
- A leader waits while it is more than PACE_MARGIN ahead of a follower's frontier (its last change, or
  the first it is holding back), so the processor never has to remember days of unpaired tellings.

Neither can stall the other: a held-back record's time is past the leader's, so the leader never waits
on it; once a leader has read all there is (live following) its followers are not limited.
Sources name their group by a shared `pace_group` attribute and their role by `pace_role`
("leads" or "follows"); sources without a group are never paced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from producers.source import Poll, Source

# How far the plain log may run ahead of the rich log in event time before it waits. Twins of one change
# are minutes apart at most; the margin only needs to keep them within the processor's memory.
PACE_MARGIN = timedelta(minutes=30)
# "Hold everything": a leader that has read lines but no change yet gives no time to read up to.
HOLD_ALL = datetime.min.replace(tzinfo=UTC)


@dataclass
class _Progress:
    group: str
    leads: bool
    last_ts: datetime | None = None
    at_end: bool = False


class Pacer:
    def __init__(self, sources: Iterable[Source], margin: timedelta = PACE_MARGIN) -> None:
        self.margin = margin
        self._progress: dict[str, _Progress] = {}
        self._sources: dict[str, Source] = {}
        for src in sources:
            group = getattr(src, "pace_group", None)
            if isinstance(group, str) and group:
                leads = getattr(src, "pace_role", "leads") == "leads"
                self._progress[src.name] = _Progress(group, leads)
                self._sources[src.name] = src

    def _twins(self, name: str) -> list[tuple[str, _Progress]]:
        mine = self._progress[name]
        return [(n, p) for n, p in self._progress.items() if n != name and p.group == mine.group]

    def _frontier(self, name: str, p: _Progress) -> datetime | None:
        """How far in time a follower is known to have nothing unread: its first held-back change, or
        else its last change."""
        held = getattr(self._sources[name], "held_from", None)
        return held if isinstance(held, datetime) else p.last_ts

    def should_wait(self, src: Source) -> bool:
        """A leader waits while it is more than the margin ahead of a follower that is still reading."""
        mine = self._progress.get(src.name)
        if mine is None or not mine.leads or mine.last_ts is None:
            return False
        for name, other in self._twins(src.name):
            if other.leads or other.at_end:
                continue
            frontier = self._frontier(name, other)
            if frontier is not None and mine.last_ts > frontier + self.margin:
                return True
        return False

    def until(self, src: Source) -> datetime | None:
        """The latest change time a follower may ingest now (None: no limit)."""
        mine = self._progress.get(src.name)
        if mine is None or mine.leads:
            return None
        limits: list[datetime] = []
        for _, other in self._twins(src.name):
            if not other.leads or other.at_end:
                continue
            limits.append(HOLD_ALL if other.last_ts is None else other.last_ts)
        return min(limits) if limits else None

    def poll(self, src: Source, max_lines: int) -> Poll:
        """Poll a source, a follower up to its limit, and note its progress."""
        until = self.until(src)
        if until is None or not hasattr(src, "poll_until"):
            result = src.poll(max_lines)
        else:
            result = src.poll_until(max_lines, until)
        self.polled(src, result, max_lines)
        return result

    def polled(self, src: Source, poll: Poll, max_lines: int) -> None:
        progress = self._progress.get(src.name)
        if progress is None:
            return
        # Fewer lines than asked for, and nothing held back: the source has read all there is (for now).
        at_end = getattr(src, "at_end", None)
        progress.at_end = at_end if isinstance(at_end, bool) else poll.lines < max_lines
        if poll.observations:
            last = max(e.ts for e in poll.observations)
            if progress.last_ts is None or last > progress.last_ts:
                progress.last_ts = last
