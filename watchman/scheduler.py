"""The scheduler (DESIGN §9): cron schedules whose state lives in the log. Domain-free: backups use it
for backup runs and recovery tests; retention, vault sync and rescans can do the same.

A domain declares `ScheduledJob`s (a name, a cron expression, the command to issue at each slot) and adds
a `ScheduleSource` over them to the sources its shell module builds (`sources(settings, cursors)`):

    from watchman.scheduler import ScheduledJob, ScheduleSource
    jobs = [ScheduledJob("nightly", "0 2 * * *", TriggerBackup(issued_by="scheduler", job="nightly"))]
    cursor = cursors.get(ScheduleSource.cursor_name("backups"))
    return [ScheduleSource("backups", settings.host, jobs, cursor)]

The source is polled with every other source. When a job's latest slot (<= now) is newer than the last
slot it issued, it yields one ScheduledRunDue observation (watchman.raw.schedule) and its cursor (the last
slot issued per job) -- the runner appends both in ONE transaction (embedded: the SQLite log; distributed:
the producer's spool), so after a crash either the slot was recorded and is never issued again, or it was
not and is issued at the next poll: a job never runs twice for one slot. The scheduler processor
(processors/scheduler.py) turns the observation into the command, whose id is derived from (host, job,
slot), and the executor of that command acts.

Missed runs: a host that was down across several slots issues only the latest of them, once, at start
(`missed` says how many were skipped). A job seen for the first time starts its schedule now (its current
slot counts as done) rather than running at once. Cron expressions are croniter's (five fields, or six
with seconds), evaluated in the job's time zone (default UTC).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.commands import CommandPayload
from schemas.events.scheduler import RAW_SCHEDULE, ScheduledRunDue

log = logging.getLogger(__name__)

MAX_MISSED_COUNT = 100_000  # counting missed slots stops here (a per-second job down for a year)


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used."""


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    cron: str
    command: CommandPayload
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        check_cron(self.cron)
        zone(self.timezone)


def check_cron(expr: str) -> str:
    if not isinstance(expr, str) or not croniter.is_valid(expr):
        raise ScheduleError(f"not a cron expression: {str(expr)[:80]!r} (e.g. '0 2 * * *': 02:00 every day)")
    return expr


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc


def latest_slot(cron: str, now: datetime, tz: str = "UTC") -> datetime:
    """The latest slot of `cron` at or before `now` (UTC)."""
    local = now.astimezone(zone(tz))
    prev: datetime = croniter(cron, local).get_prev(datetime)
    nxt: datetime = croniter(cron, prev).get_next(datetime)
    slot = nxt if nxt <= local else prev
    return slot.astimezone(UTC)


def next_slot(cron: str, now: datetime, tz: str = "UTC") -> datetime:
    """The first slot of `cron` after `now` (UTC)."""
    nxt: datetime = croniter(cron, now.astimezone(zone(tz))).get_next(datetime)
    return nxt.astimezone(UTC)


def missed_between(cron: str, after: datetime, upto: datetime, tz: str = "UTC") -> int:
    """How many slots lie strictly between `after` and `upto`."""
    it = croniter(cron, after.astimezone(zone(tz)))
    n = 0
    while n < MAX_MISSED_COUNT:
        t: datetime = it.get_next(datetime)
        if t.astimezone(UTC) >= upto:
            break
        n += 1
    return n


def due(job: ScheduledJob, last: datetime | None, now: datetime) -> tuple[datetime | None, int, datetime]:
    """Pure: (the slot to issue now or None, slots missed before it, the job's new last slot)."""
    slot = latest_slot(job.cron, now, job.timezone)
    if last is None:
        return None, 0, slot  # first sight: the schedule starts now
    if slot <= last:
        return None, 0, last
    return slot, missed_between(job.cron, last, slot, job.timezone), slot


class ScheduleSource:
    """A producer source over one scheduler's jobs (see the module docstring)."""

    topic = RAW_SCHEDULE

    def __init__(
        self,
        scheduler: str,
        host: str,
        jobs: Sequence[ScheduledJob],
        cursor: dict[str, Any] | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise ScheduleError(f"scheduler {scheduler}: two jobs of one name in {names}")
        self.scheduler = scheduler
        self.name = self.cursor_name(scheduler)
        self.host = host
        self.jobs = list(jobs)
        self.clock = clock
        slots = (cursor or {}).get("slots", {})
        self.last: dict[str, datetime] = {k: datetime.fromisoformat(v) for k, v in slots.items()}

    @staticmethod
    def cursor_name(scheduler: str) -> str:
        return f"schedule:{scheduler}"

    def poll(self, max_lines: int) -> Poll:
        now = self.clock()
        out: list[Envelope] = []
        changed = False
        for job in self.jobs:
            slot, missed, new_last = due(job, self.last.get(job.name), now)
            if new_last != self.last.get(job.name):
                self.last[job.name] = new_last
                changed = True
            if slot is None:
                continue
            if missed:
                log.info("%s/%s: %d slot(s) missed while down; running the latest once", self.scheduler,
                         job.name, missed)  # fmt: skip
            payload = ScheduledRunDue(
                scheduler=self.scheduler,
                job=job.name,
                cron=job.cron,
                slot=slot,
                issued_at=now,
                missed=missed,
                command_type=job.command.TYPE,
                command_version=job.command.VERSION,
                command=job.command.model_dump(mode="json"),
            )
            out.append(
                Envelope(
                    id=event_id("schedule", self.host, self.scheduler, job.name, slot.isoformat()),
                    type=payload.TYPE,
                    schema_version=payload.VERSION,
                    host=self.host,
                    source=self.name,
                    ts=slot,
                    observed_at=now,
                    subject=f"{self.scheduler}/{job.name}",
                    payload=payload.model_dump(mode="json"),
                )
            )
        cursor = {"slots": {k: v.isoformat() for k, v in sorted(self.last.items())}} if changed else None
        return Poll(observations=out, cursor=cursor)

    def next_runs(self) -> dict[str, datetime]:
        now = self.clock()
        return {j.name: next_slot(j.cron, now, j.timezone) for j in self.jobs}

    def close(self) -> None:
        pass
