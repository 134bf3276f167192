"""Turn a due scheduled slot into its command (pure): the command's id is derived from the host, the job
and the slot, so the same slot always names the same command."""

from __future__ import annotations

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import decode_payload
from schemas.events.commands import CommandPayload, command_envelope
from schemas.events.scheduler import EVENTS_SCHEDULE, RAW_SCHEDULE, ScheduledRunDue, ScheduledRunIssued

SOURCE = "processors.scheduler"


def decide_due(raw: Envelope, due: ScheduledRunDue, table: Table) -> list[Envelope]:
    command = decode_payload(due.command_type, due.command_version, due.command)
    if not isinstance(command, CommandPayload):
        raise TypeError(f"{due.command_type} is not a command")
    cmd = command_envelope(
        command,
        host=raw.host,
        source=SOURCE,
        issued_at=due.issued_at,
        dedup_key=f"schedule/{due.scheduler}/{due.job}/{due.slot.isoformat()}",
        causation_id=raw.id,
    )
    issued = ScheduledRunIssued(
        scheduler=due.scheduler, job=due.job, cron=due.cron, slot=due.slot, missed=due.missed,
        command_id=cmd.id, command_type=cmd.type,
    )  # fmt: skip
    event = Envelope(
        id=event_id("scheduler", raw.id, issued.TYPE),
        type=issued.TYPE,
        schema_version=issued.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=due.slot,
        observed_at=raw.observed_at,
        subject=f"{due.scheduler}/{due.job}",
        causation_id=raw.id,
        payload=issued.model_dump(mode="json"),
    )
    return [cmd, event]


ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_SCHEDULE,
        sink=EVENTS_SCHEDULE,
        table="scheduler",
        decide={ScheduledRunDue.TYPE: typed(ScheduledRunDue, decide_due)},
    ),
)
