"""The scheduler's records (DESIGN §9), domain-free: any domain's periodic work (backups, recovery tests,
retention, vault sync, rescans) is a scheduled job that issues one of that domain's commands.

The scheduler source (watchman/scheduler.py) records ScheduledRunDue on `watchman.raw.schedule` when a
job's cron slot comes due, in the same transaction as its cursor (the last slot issued per job): the log
alone says which slots have run, so a crash never issues a slot twice, and a host that was down issues
only the latest missed slot when it starts. The scheduler processor turns each ScheduledRunDue into the
command (its id derived from job and slot) and a ScheduledRunIssued for the graph.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, MiB, NodeLabel, Prop, RelType, Topic


@register
class ScheduledRunDue(EventPayload):
    """Job `job`'s cron slot `slot` came due (seen at `issued_at`); `missed` counts the earlier slots that
    passed while the host was down, which are not run on their own."""

    TYPE: ClassVar[str] = "ScheduledRunDue"
    VERSION: ClassVar[int] = 1

    scheduler: str  # the scheduler (a domain's) that owns the job
    job: str
    cron: str
    slot: datetime
    issued_at: datetime
    missed: int = 0
    command_type: str
    command_version: int = 1
    command: dict[str, Any] = Field(default_factory=dict)

    @field_validator("slot", "issued_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class ScheduledRunIssued(EventPayload):
    """The command for a due slot was issued."""

    TYPE: ClassVar[str] = "ScheduledRunIssued"
    VERSION: ClassVar[int] = 1

    scheduler: str
    job: str
    cron: str
    slot: datetime
    missed: int = 0
    command_id: str
    command_type: str

    @field_validator("slot")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


RAW_SCHEDULE = Topic(
    "watchman.raw.schedule",
    partitions=1,
    retention_days=30,
    retention_bytes=16 * MiB,
    description="ScheduledRunDue: a scheduled job's cron slot came due; key host/job.",
)
EVENTS_SCHEDULE = Topic(
    "watchman.events.schedule",
    partitions=1,
    retention_days=None,
    description="ScheduledRunIssued: the command issued for a due slot. Kept forever.",
)
SCHEDULED_JOB = NodeLabel(
    "ScheduledJob",
    key="key",
    props=(
        Prop("key", "STRING"),  # host/scheduler/job
        Prop("host", "STRING"),
        Prop("scheduler", "STRING"),
        Prop("name", "STRING"),
        Prop("cron", "STRING", "latest"),
        Prop("command_type", "STRING", "latest"),
        Prop("last_slot", "TIMESTAMP", "max"),
        Prop("last_command", "STRING", "latest"),
        Prop("missed", "INT64", "latest"),  # slots missed before the last run (host down)
        UPDATED_AT,
    ),
    description="A job of a scheduler (cron), with the last slot it was issued for.",
)
RUNS_ON = RelType("RUNS_ON", (("ScheduledJob", "Host"),), description="The scheduled job runs on this host.")
TOPICS: tuple[Topic, ...] = (RAW_SCHEDULE, EVENTS_SCHEDULE)
NODES: tuple[NodeLabel, ...] = (SCHEDULED_JOB,)
RELS: tuple[RelType, ...] = (RUNS_ON,)
