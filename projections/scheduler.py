"""Project issued scheduled runs: one ScheduledJob node per job with its last slot (pure)."""

from __future__ import annotations

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.scheduler import ScheduledRunIssued


def project(event: Envelope, p: ScheduledRunIssued) -> list[GraphOp]:
    ts, host = event.ts, event.host
    key = f"{host}/{p.scheduler}/{p.job}"
    return [
        UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "ScheduledJob",
            key,
            {
                "host": host,
                "scheduler": p.scheduler,
                "name": p.job,
                "cron": p.cron,
                "command_type": p.command_type,
                "last_slot": p.slot,
                "last_command": p.command_id,
                "missed": p.missed,
                "updated_at": ts,
            },
            ts=ts,
        ),
        UpsertRel("RUNS_ON", "ScheduledJob", key, "Host", host),
    ]


PROJECTORS: dict[str, Project] = {ScheduledRunIssued.TYPE: typed(ScheduledRunIssued, project)}
