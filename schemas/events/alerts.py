"""Alert delivery: the record of each alert the one delivery stage (watchman/alerting/) handed on.

Which events are alerts is declared by each domain (its `ALERTS`, collected in schemas/alerts.py); this
module declares only what delivery itself adds to the log and the graph: an `AlertDelivered` event per
firing or resolving alert that every configured receiver acknowledged, and the `Alert` node it projects
to (one per alert identity: name, host, subject), so "what was sent, when, is it still firing" is a MATCH
and a replay rebuilds it from the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, NodeLabel, Prop, RelType, Topic

AlertState = Literal["firing", "resolved"]


@register
class AlertDelivered(EventPayload):
    """Every receiver acknowledged this alert (Alertmanager answered 200, the webhook 2xx)."""

    TYPE: ClassVar[str] = "AlertDelivered"
    VERSION: ClassVar[int] = 1

    alert: str  # the AlertKind's name (Alertmanager's `alertname`)
    subject: str
    severity: str
    state: AlertState
    summary: str
    starts_at: datetime
    # When Alertmanager considers the alert over: the resolving time, or starts_at + ends_after_minutes;
    # None while it fires until a resolving event (re-sent meanwhile, see watchman/alerting/stage.py).
    ends_at: datetime | None = None
    cause_id: str  # the domain event that fired or resolved it
    cause_type: str
    delivered_at: datetime
    receivers: tuple[str, ...] = ()

    @field_validator("starts_at", "ends_at", "delivered_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


def alert_key(host: str, alert: str, subject: str) -> str:
    """The alert's identity: the same labels Alertmanager de-duplicates on."""
    return f"{host}/{alert}/{subject}"


EVENTS_ALERTS = Topic(
    "watchman.events.alerts",
    partitions=1,
    retention_days=None,
    description="AlertDelivered: each alert (firing or resolved) every receiver acknowledged; "
    "key host/alert/subject. Kept forever.",
)
ALERT = NodeLabel(
    "Alert",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("subject", "STRING"),
        Prop("severity", "STRING", "latest"),
        Prop("state", "STRING", "latest"),  # firing | resolved
        Prop("summary", "STRING", "latest"),
        Prop("starts_at", "TIMESTAMP", "latest"),
        Prop("ends_at", "TIMESTAMP", "latest"),
        Prop("delivered_at", "TIMESTAMP", "latest"),
        Prop("receivers", "STRING", "latest"),  # comma-separated: alertmanager,webhook
        Prop("cause_id", "STRING", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One alert identity (name, host, subject) and its last delivered state; "
    "key host/name/subject.",
)
RAISED_ON = RelType("RAISED_ON", (("Alert", "Host"),), description="The host the alert is about.")

TOPICS: tuple[Topic, ...] = (EVENTS_ALERTS,)
NODES: tuple[NodeLabel, ...] = (ALERT,)
RELS: tuple[RelType, ...] = (RAISED_ON,)
