"""Project AlertDelivered into the Alert node of its identity (pure)."""

from __future__ import annotations

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.alerts import AlertDelivered, alert_key


def project_delivered(event: Envelope, p: AlertDelivered) -> list[GraphOp]:
    ts = event.ts
    key = alert_key(event.host, p.alert, p.subject)
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "Alert",
            key,
            {
                "host": event.host,
                "name": p.alert,
                "subject": p.subject,
                "severity": p.severity,
                "state": p.state,
                "summary": p.summary,
                "starts_at": p.starts_at,
                "ends_at": p.ends_at,
                "delivered_at": p.delivered_at,
                "receivers": ",".join(p.receivers),
                "cause_id": p.cause_id,
                "first_seen": ts,
                "last_seen": ts,
                "updated_at": ts,
            },
            ts=ts,
        ),
        UpsertRel("RAISED_ON", "Alert", key, "Host", event.host),
    ]


PROJECTORS: dict[str, Project] = {AlertDelivered.TYPE: typed(AlertDelivered, project_delivered)}
