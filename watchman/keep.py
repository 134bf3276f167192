"""Which snapshots to keep: restic's `forget` policy as a pure function, with the reason for each.

Domain-free (backups prune with it; the retention engine will reuse it): give it snapshots (an id, a time,
tags) and a policy, get a decision per snapshot, newest first. Semantics are restic's (doc/060_forget.rst,
internal/data/snapshot_policy.go):

- keep_last n: the n newest snapshots.
- keep_hourly/daily/weekly/monthly/yearly n: for the last n hours/days/ISO weeks (Monday-Sunday)/months/
  years *that have snapshots*, the newest snapshot of each. -1 means unlimited. Periods are calendar
  periods of each timestamp as given (pass local-time datetimes for a local calendar).
- If a bucket still has count left after the newest-first walk, the oldest snapshot is kept too
  ("oldest daily snapshot"): the history kept is as long as it can be.
- keep_within D: every snapshot newer than (newest snapshot - D), D in years, months, days, hours
  ("1y2m3d4h"; calendar arithmetic as Go's AddDate). keep_within_hourly/daily/...: the newest per
  period, for periods within D of the newest. "The newest" ignores snapshots in the future of `now`.
- keep_tags: every snapshot carrying all tags of one of the given tag sets.
- All rules are ORed; a snapshot's reasons list every rule that kept it. An empty policy is refused
  (restic refuses to forget everything by policy).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$")


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        m = _DURATION.match(text.strip())
        if not m or not text.strip():
            raise ValueError(f"not a duration: {text[:40]!r} (e.g. 1y2m3d4h: years, months, days, hours)")
        return cls(*(int(g or 0) for g in m.groups()))

    def __str__(self) -> str:
        return "".join(f"{v}{u}" for v, u in zip(self.astuple(), "ymdh", strict=True) if v)

    def astuple(self) -> tuple[int, int, int, int]:
        return (self.years, self.months, self.days, self.hours)

    def __bool__(self) -> bool:
        return any(self.astuple())

    def before(self, t: datetime) -> datetime:
        """t minus this duration, the calendar part normalised as Go's time.AddDate does."""
        months = t.year * 12 + (t.month - 1) - self.years * 12 - self.months
        year, month = divmod(months, 12)
        base = t.replace(year=year, month=month + 1, day=1)
        return base + timedelta(days=t.day - 1 - self.days) - timedelta(hours=self.hours)


@dataclass(frozen=True)
class KeepPolicy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration = Duration()
    within_hourly: Duration = Duration()
    within_daily: Duration = Duration()
    within_weekly: Duration = Duration()
    within_monthly: Duration = Duration()
    within_yearly: Duration = Duration()
    tags: tuple[frozenset[str], ...] = ()

    def empty(self) -> bool:
        counts = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        durations = (self.within, self.within_hourly, self.within_daily, self.within_weekly,
                     self.within_monthly, self.within_yearly)  # fmt: skip
        return not any(counts) and not any(durations) and not self.tags

    def __str__(self) -> str:
        parts = [f"{n} {label}" if n > 0 else f"all {label}" for n, label in (
            (self.last, "latest"), (self.hourly, "hourly"), (self.daily, "daily"), (self.weekly, "weekly"),
            (self.monthly, "monthly"), (self.yearly, "yearly")) if n]  # fmt: skip
        text = f"keep {', '.join(parts)} snapshots" if parts else "keep"
        for d, label in ((self.within_hourly, "hourly"), (self.within_daily, "daily"),
                         (self.within_weekly, "weekly"), (self.within_monthly, "monthly"),
                         (self.within_yearly, "yearly")):  # fmt: skip
            if d:
                text += f", {label} snapshots within {d}"
        if self.tags:
            text += f", all snapshots with tags {_tags(self.tags)}"
        if self.within:
            text += f", all snapshots within {self.within} of the newest"
        return text


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: datetime
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    snapshot: Snapshot
    keep: bool
    reasons: tuple[str, ...] = field(default=())


def _tags(sets: Iterable[frozenset[str]]) -> str:
    return "[" + " ".join("[" + " ".join(sorted(s)) + "]" for s in sets) + "]"


def _hour(t: datetime, _: int) -> int:
    return t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour


def _day(t: datetime, _: int) -> int:
    return t.year * 10_000 + t.month * 100 + t.day


def _week(t: datetime, _: int) -> int:
    year, week, _wd = t.isocalendar()
    return year * 100 + week


def _month(t: datetime, _: int) -> int:
    return t.year * 100 + t.month


def _year(t: datetime, _: int) -> int:
    return t.year


def _always(_: datetime, nr: int) -> int:
    return nr


Bucket = Callable[[datetime, int], int]


def apply(snapshots: Sequence[Snapshot], policy: KeepPolicy, now: datetime) -> list[Decision]:
    """A decision for every snapshot, newest first (equal times keep their given order)."""
    if policy.empty():
        raise ValueError("an empty policy would remove every snapshot: give at least one keep rule")
    ordered = sorted(snapshots, key=lambda s: s.time, reverse=True)
    if not ordered:
        return []
    counted: list[list[object]] = [  # [count left, bucket fn, last value, reason]
        [policy.last, _always, None, "last snapshot"],
        [policy.hourly, _hour, None, "hourly snapshot"],
        [policy.daily, _day, None, "daily snapshot"],
        [policy.weekly, _week, None, "weekly snapshot"],
        [policy.monthly, _month, None, "monthly snapshot"],
        [policy.yearly, _year, None, "yearly snapshot"],
    ]
    within: list[list[object]] = [  # [duration, bucket fn, last value, reason]
        [policy.within_hourly, _hour, None, "hourly within"],
        [policy.within_daily, _day, None, "daily within"],
        [policy.within_weekly, _week, None, "weekly within"],
        [policy.within_monthly, _month, None, "monthly within"],
        [policy.within_yearly, _year, None, "yearly within"],
    ]
    past = [s.time for s in ordered if s.time < now]
    newest = max(past) if past else None
    last_nr = len(ordered) - 1
    out: list[Decision] = []
    for nr, snap in enumerate(ordered):
        reasons: list[str] = []
        for tagset in policy.tags:
            if tagset <= snap.tags:
                reasons.append(f"has tags [{' '.join(sorted(tagset))}]")
        if policy.within and newest is not None and snap.time > policy.within.before(newest):
            reasons.append(f"within {policy.within}")
        for b in counted:
            count = int(b[0])  # type: ignore[call-overload]
            if count > 0 or count == -1:
                fn: Bucket = b[1]  # type: ignore[assignment]
                val = fn(snap.time, nr)
                if val != b[2] or nr == last_nr:
                    reason = str(b[3])
                    if val == b[2] and nr == last_nr:
                        reason = f"oldest {reason}"
                    b[2] = val
                    if count > 0:
                        b[0] = count - 1
                    reasons.append(reason)
        for b in within:
            d: Duration = b[0]  # type: ignore[assignment]
            if d and newest is not None and snap.time > d.before(newest):
                fn = b[1]  # type: ignore[assignment]
                val = fn(snap.time, nr)
                if val != b[2] or nr == last_nr:
                    reason = str(b[3])
                    if val == b[2] and nr == last_nr:
                        reason = f"oldest {reason}"
                    b[2] = val
                    reasons.append(f"{reason} {d}")
        out.append(Decision(snap, bool(reasons), tuple(reasons)))
    return out
