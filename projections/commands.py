"""Project command outcomes into the audit trail: one Command node per command, latest status (pure)."""

from __future__ import annotations

import orjson

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events import OUTCOME_TYPES, CommandOutcome


def project(event: Envelope, payload: CommandOutcome) -> list[GraphOp]:
    ts = event.ts
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "Command",
            payload.command_id,
            {
                "type": payload.command_type,
                "host": event.host,
                "issued_by": payload.issued_by,
                "params": orjson.dumps(payload.params, option=orjson.OPT_SORT_KEYS).decode(),
                "status": payload.STATUS,
                "detail": payload.detail,
                "finished_at": ts,
                "updated_at": ts,
            },
            ts=ts,
        ),
        UpsertRel("HAPPENED_ON", "Command", payload.command_id, "Host", event.host),
    ]


# Which domain event types this projection handles (projections/registry.py collects it).
_project = typed(CommandOutcome, project)
PROJECTORS: dict[str, Project] = {cls.TYPE: _project for cls in OUTCOME_TYPES}
