"""The alert delivery stage's pure part: which alerts an event sends, and how they are written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.envelope import Envelope
from watchman.alerting.decide import (
    ALERT_EVENT_TYPES,
    alertmanager_alert,
    decide,
    delivered_envelope,
    webhook_body,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def env(type_: str, payload: dict[str, object], ts: datetime = NOW, id_: str = "e1") -> Envelope:
    return Envelope(
        id=id_,
        type=type_,
        schema_version=1,
        host="h",
        source="t",
        ts=ts,
        observed_at=ts,
        subject="s",
        payload=payload,
    )


UNHEALTHY = {"unit": "web.service", "check": "http", "status": "unhealthy", "message": ""}
HEALTHY = {**UNHEALTHY, "status": "healthy"}


def test_every_declared_alert_type_is_read() -> None:
    assert {"ServiceFailureAlert", "ServiceHealthChanged", "ServiceFlapping"} <= ALERT_EVENT_TYPES


def test_firing_then_resolving_meet_on_one_key() -> None:
    [fire] = decide(env("ServiceHealthChanged", UNHEALTHY), UNHEALTHY, {}, now=NOW, max_age=DAY)
    assert (fire.state, fire.name, fire.subject, fire.ends_at) == (
        "firing",
        "ServiceUnhealthy",
        "web.service",
        None,
    )
    later = NOW + timedelta(minutes=3)
    [res] = decide(
        env("ServiceHealthChanged", HEALTHY, later, "e2"),
        HEALTHY,
        {fire.key: fire.to_open()},
        now=later,
        max_age=DAY,
    )
    assert (res.state, res.key, res.starts_at, res.ends_at) == ("resolved", fire.key, NOW, later)
    body = alertmanager_alert(res, now=later)
    assert body["startsAt"] == "2026-12-04T12:00:00Z" and body["endsAt"] == "2026-12-04T12:03:00Z"
    assert "endsAt" not in alertmanager_alert(fire, now=NOW)


def test_a_resolve_of_an_alert_never_sent_sends_nothing() -> None:
    assert decide(env("ServiceHealthChanged", HEALTHY), HEALTHY, {}, now=NOW, max_age=DAY) == []


def test_a_resolve_told_before_the_start_ends_at_the_start() -> None:
    [fire] = decide(env("ServiceHealthChanged", UNHEALTHY), UNHEALTHY, {}, now=NOW, max_age=DAY)
    early = NOW - timedelta(minutes=1)
    [res] = decide(
        env("ServiceHealthChanged", HEALTHY, early), HEALTHY, {fire.key: fire.to_open()}, now=NOW, max_age=DAY
    )
    assert res.ends_at == NOW


def test_backfilled_history_and_ended_alerts_fire_nothing() -> None:
    old = NOW - timedelta(days=3)
    assert decide(env("ServiceHealthChanged", UNHEALTHY, old), UNHEALTHY, {}, now=NOW, max_age=DAY) == []
    p = {"unit": "db.service", "failures": 5, "window_minutes": 10, "message": ""}
    two_hours = NOW - timedelta(hours=2)  # ServiceFailing ends by itself after 60 minutes
    assert decide(env("ServiceFailureAlert", p, two_hours), p, {}, now=NOW, max_age=DAY) == []
    [a] = decide(env("ServiceFailureAlert", p), p, {}, now=NOW, max_age=DAY)
    assert a.ends_at == NOW + timedelta(minutes=60)
    assert alertmanager_alert(a, now=NOW)["endsAt"] == "2026-12-04T13:00:00Z"


def test_delivery_records_have_ids_from_cause_and_state() -> None:
    [fire] = decide(env("ServiceHealthChanged", UNHEALTHY), UNHEALTHY, {}, now=NOW, max_age=DAY)
    one = delivered_envelope(fire, delivered_at=NOW, receivers=("alertmanager",))
    two = delivered_envelope(fire, delivered_at=NOW + timedelta(seconds=5), receivers=("alertmanager",))
    assert one.id == two.id and one.type == "AlertDelivered" and one.causation_id == "e1"
    body = webhook_body([fire], now=NOW)
    assert body["status"] == "firing" and body["alerts"][0]["labels"]["alertname"] == "ServiceUnhealthy"
