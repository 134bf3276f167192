"""Which alerts a domain event fires or resolves, and how each receiver wants them written (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from schemas.alerts import ALERT_KINDS, firing, resolving, summary
from schemas.envelope import Envelope, event_id
from schemas.events.alerts import EVENTS_ALERTS, AlertDelivered, alert_key
from schemas.model import AlertKind

State = Literal["firing", "resolved"]

# The event types any domain's ALERTS name: records of other types are skipped unread.
ALERT_EVENT_TYPES: frozenset[str] = frozenset(t for a in ALERT_KINDS for t in (a.fires_on, *a.resolves_on))


@dataclass(frozen=True)
class Outgoing:
    """One alert to hand on: firing (with its end if it has one) or resolved (ends now)."""

    name: str
    severity: str
    host: str
    subject: str
    state: State
    summary: str
    starts_at: datetime
    ends_at: datetime | None
    cause_id: str
    cause_type: str

    @property
    def key(self) -> str:
        return alert_key(self.host, self.name, self.subject)

    def labels(self) -> dict[str, str]:
        """What Alertmanager de-duplicates on: a repeat of the same alert is the same alert."""
        return {"alertname": self.name, "host": self.host, "subject": self.subject, "severity": self.severity}

    def to_open(self) -> dict[str, Any]:
        """The firing alert as the stage remembers it until it resolves or ends (JSON)."""
        return {
            "name": self.name,
            "severity": self.severity,
            "host": self.host,
            "subject": self.subject,
            "summary": self.summary,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": None if self.ends_at is None else self.ends_at.isoformat(),
            "cause_id": self.cause_id,
            "cause_type": self.cause_type,
        }

    @classmethod
    def from_open(cls, d: Mapping[str, Any]) -> Outgoing:
        ends = d.get("ends_at")
        return cls(
            name=str(d["name"]),
            severity=str(d["severity"]),
            host=str(d["host"]),
            subject=str(d["subject"]),
            state="firing",
            summary=str(d["summary"]),
            starts_at=datetime.fromisoformat(str(d["starts_at"])),
            ends_at=None if ends is None else datetime.fromisoformat(str(ends)),
            cause_id=str(d["cause_id"]),
            cause_type=str(d["cause_type"]),
        )


def _fire(kind: AlertKind, env: Envelope, payload: Mapping[str, Any]) -> Outgoing:
    ends = None if kind.ends_after_minutes is None else env.ts + timedelta(minutes=kind.ends_after_minutes)
    return Outgoing(
        name=kind.name,
        severity=kind.severity,
        host=env.host,
        subject=str(payload.get(kind.subject, "")),
        state="firing",
        summary=summary(kind, payload),
        starts_at=env.ts,
        ends_at=ends,
        cause_id=env.id,
        cause_type=env.type,
    )


def decide(
    env: Envelope,
    payload: Mapping[str, Any],
    open_alerts: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime,
    max_age: timedelta,
) -> list[Outgoing]:
    """The alerts to send for one domain event.

    Firing: unless the event is older than `max_age` (a backfill of last year's journal is history,
    not news) or its alert already ended. Resolving: only an alert this stage sent firing and has not
    seen end, so a health check that is healthy from the start sends nothing. `open_alerts` is the
    stage's memory of what fires now (alert key -> Outgoing.to_open()).
    """
    out: list[Outgoing] = []
    for kind in resolving(env.type, payload):
        key = alert_key(env.host, kind.name, str(payload.get(kind.subject, "")))
        opened = open_alerts.get(key)
        if opened is None:
            continue
        was = Outgoing.from_open(opened)
        # Alertmanager refuses an end before the start; an event told late cannot end it earlier.
        ends = max(env.ts, was.starts_at)
        out.append(
            Outgoing(
                name=kind.name,
                severity=kind.severity,
                host=env.host,
                subject=was.subject,
                state="resolved",
                summary=was.summary,
                starts_at=was.starts_at,
                ends_at=ends,
                cause_id=env.id,
                cause_type=env.type,
            )
        )
    for kind in firing(env.type, payload):
        alert = _fire(kind, env, payload)
        if env.ts < now - max_age or (alert.ends_at is not None and alert.ends_at <= now):
            continue
        out.append(alert)
    return out


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def alertmanager_alert(a: Outgoing, *, now: datetime) -> dict[str, Any]:
    """One element of Alertmanager's POST /api/v2/alerts body (postableAlert).

    Resolved: endsAt is the resolving time, or now when that lies in the future. Firing without an end:
    no endsAt, so Alertmanager keeps it for its resolve_timeout, and the stage re-sends it until then.
    """
    body: dict[str, Any] = {
        "labels": a.labels(),
        "annotations": {"summary": a.summary, "event_type": a.cause_type, "event_id": a.cause_id},
        "startsAt": _iso(a.starts_at),
    }
    if a.state == "resolved":
        body["endsAt"] = _iso(max(min(a.ends_at or now, now), a.starts_at))
    elif a.ends_at is not None:
        body["endsAt"] = _iso(a.ends_at)
    return body


def webhook_body(alerts: list[Outgoing], *, now: datetime) -> dict[str, Any]:
    """A plain webhook's JSON: Alertmanager's own webhook shape (version 4), so one receiver reads both."""
    items = [{"status": a.state, **alertmanager_alert(a, now=now)} for a in alerts]
    status = "firing" if any(a.state == "firing" for a in alerts) else "resolved"
    return {"version": "4", "status": status, "receiver": "watchman", "alerts": items}


def delivered_envelope(a: Outgoing, *, delivered_at: datetime, receivers: tuple[str, ...]) -> Envelope:
    """The record of a delivery; its id is the cause and the state, so a re-delivery is the same event."""
    payload = AlertDelivered(
        alert=a.name,
        subject=a.subject,
        severity=a.severity,
        state=a.state,
        summary=a.summary,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        cause_id=a.cause_id,
        cause_type=a.cause_type,
        delivered_at=delivered_at,
        receivers=receivers,
    )
    ts = a.starts_at if a.state == "firing" else (a.ends_at or delivered_at)
    return Envelope(
        id=event_id("alert", a.cause_id, a.name, a.subject, a.state),
        type=AlertDelivered.TYPE,
        schema_version=AlertDelivered.VERSION,
        host=a.host,
        source="alerts",
        ts=ts,
        observed_at=delivered_at,
        subject=f"{a.name}/{a.subject}",
        causation_id=a.cause_id,
        payload=payload.model_dump(mode="json"),
    )


OWN_TOPIC = EVENTS_ALERTS.name
