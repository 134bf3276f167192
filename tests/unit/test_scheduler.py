"""The scheduler's pure parts (cron slots, what is due, catch-up counts) and its source: one observation
per due slot, the cursor only with it, nothing twice after a restart from the saved cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processors.scheduler import decide_due
from processors.tables import MemoryTable
from schemas.events.backups import TriggerBackup
from schemas.events.scheduler import ScheduledRunDue
from watchman.scheduler import ScheduledJob, ScheduleError, ScheduleSource, due, latest_slot, missed_between

T = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
JOB = ScheduledJob("nightly", "0 2 * * *", TriggerBackup(issued_by="scheduler", job="nightly"))


def test_latest_slot_includes_an_exact_match() -> None:
    assert latest_slot("0 2 * * *", T) == T
    assert latest_slot("0 2 * * *", T - timedelta(seconds=1)) == T - timedelta(days=1)
    assert latest_slot("*/15 * * * *", T + timedelta(minutes=20)) == T + timedelta(minutes=15)


def test_time_zones_shift_the_slot() -> None:
    # 02:00 in Berlin (UTC+1 in December) is 01:00 UTC
    assert latest_slot("0 2 * * *", T, "Europe/Berlin") == T - timedelta(hours=1)


def test_first_sight_starts_the_schedule_without_running() -> None:
    assert due(JOB, None, T + timedelta(hours=3)) == (None, 0, T)


def test_a_new_slot_is_due_once() -> None:
    slot, missed, last = due(JOB, T - timedelta(days=1), T + timedelta(minutes=1))
    assert (slot, missed, last) == (T, 0, T)
    assert due(JOB, T, T + timedelta(hours=5)) == (None, 0, T)


def test_downtime_runs_the_latest_slot_once_and_counts_the_rest() -> None:
    slot, missed, _ = due(JOB, T - timedelta(days=5), T + timedelta(hours=1))
    assert slot == T and missed == 4
    assert missed_between("0 2 * * *", T - timedelta(days=5), T) == 4


def test_bad_expressions_and_zones_are_refused() -> None:
    for bad in ("", "61 * * * *", "every day", "* * *"):
        with pytest.raises(ScheduleError):
            ScheduledJob("x", bad, JOB.command)
    with pytest.raises(ScheduleError):
        ScheduledJob("x", "0 2 * * *", JOB.command, timezone="Mars/Olympus")


def test_the_source_yields_a_slot_once_and_its_cursor_with_it() -> None:
    now = [T - timedelta(hours=1)]
    src = ScheduleSource("backups", "h1", [JOB], None, clock=lambda: now[0])
    first = src.poll(100)
    assert first.observations == [] and first.cursor is not None  # baseline saved
    assert src.poll(100).cursor is None  # nothing changed: no cursor to save
    now[0] = T + timedelta(days=2, minutes=5)
    p = src.poll(100)
    (env,) = p.observations
    due_payload = ScheduledRunDue.model_validate(env.payload)
    assert due_payload.slot == T + timedelta(days=2) and due_payload.missed == 2
    assert p.cursor == {"slots": {"nightly": (T + timedelta(days=2)).isoformat()}}
    # a restart from the saved cursor at the same moment: nothing is due
    again = ScheduleSource("backups", "h1", [JOB], p.cursor, clock=lambda: now[0])
    assert again.poll(100).observations == []
    # a crash before the cursor was saved: the same slot again, with the same id (one command)
    crashed = ScheduleSource("backups", "h1", [JOB], first.cursor, clock=lambda: now[0])
    assert [e.id for e in crashed.poll(100).observations] == [env.id]


def test_the_processor_issues_the_command_with_an_id_from_the_slot() -> None:
    now = [T + timedelta(minutes=1)]
    src = ScheduleSource("backups", "h1", [JOB], {"slots": {"nightly": (T - timedelta(days=1)).isoformat()}},
                         clock=lambda: now[0])  # fmt: skip
    (raw,) = src.poll(10).observations
    payload = ScheduledRunDue.model_validate(raw.payload)
    out = decide_due(raw, payload, MemoryTable())
    cmd, issued = out
    assert cmd.type == "TriggerBackup" and cmd.payload["job"] == "nightly"
    assert issued.type == "ScheduledRunIssued" and issued.payload["command_id"] == cmd.id
    assert [e.id for e in decide_due(raw, payload, MemoryTable())] == [cmd.id, issued.id]


def test_two_jobs_of_one_name_are_refused() -> None:
    with pytest.raises(ScheduleError):
        ScheduleSource("backups", "h1", [JOB, JOB], None)
