"""Every declared alert names real event types and fields, so a typo cannot silence an alert."""

from __future__ import annotations

import pytest

import schemas.events  # noqa: F401  (registers every event type)
from schemas import alerts
from schemas.events.base import event_types
from schemas.model import AlertKind


@pytest.mark.parametrize("alert", alerts.ALERT_KINDS, ids=lambda a: a.name)
def test_alert_kind_names_registered_types_and_fields(alert: AlertKind) -> None:
    types = event_types()
    assert alert.fires_on in types, f"{alert.name} fires on unknown type {alert.fires_on}"
    fields = types[alert.fires_on].model_fields
    assert alert.subject in fields, f"{alert.name}: {alert.fires_on} has no field {alert.subject}"
    for field, _ in alert.when:
        assert field in fields
    for name in alert.resolves_on:
        assert name in types, f"{alert.name} resolves on unknown type {name}"
        for field, _ in alert.resolves_when:
            assert field in types[name].model_fields
    # The template names only fields of the firing event.
    sample = {name: f"<{name}>" for name in fields}
    assert "{" not in alerts.summary(alert, sample)
    assert alert.ends_after_minutes is not None or alert.resolves_on, f"{alert.name} would never end"


def test_firing_and_resolving_follow_the_payload() -> None:
    unhealthy = {"unit": "nginx.service", "check": "http", "status": "unhealthy"}
    healthy = {**unhealthy, "status": "healthy"}
    assert [a.name for a in alerts.firing("ServiceHealthChanged", unhealthy)] == ["ServiceUnhealthy"]
    assert alerts.firing("ServiceHealthChanged", healthy) == []
    assert [a.name for a in alerts.resolving("ServiceHealthChanged", healthy)] == ["ServiceUnhealthy"]
    assert alerts.resolving("ServiceHealthChanged", unhealthy) == []
    assert alerts.firing("ServiceStarted", {"unit": "x"}) == []


def test_summary_with_a_missing_field_falls_back_to_the_name() -> None:
    alert = next(a for a in alerts.ALERT_KINDS if a.name == "BruteForceDetected")
    assert alerts.summary(alert, {"source_ip": "203.0.113.9"}) == "BruteForceDetected: 203.0.113.9"


def test_an_event_that_fires_an_alert_does_not_resolve_it() -> None:
    failed = {"unit": "db.service", "state": "failed", "sub_state": "failed"}
    active = {**failed, "state": "active", "sub_state": "running"}
    assert [a.name for a in alerts.firing("ServiceStateObserved", failed)] == ["ServiceFoundFailed"]
    assert alerts.resolving("ServiceStateObserved", failed) == []
    assert [a.name for a in alerts.resolving("ServiceStateObserved", active)] == ["ServiceFoundFailed"]
