"""Service and security projections: every event type gives schema-valid operations with the right keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from projections.graph_ops import UpsertNode, UpsertRel, fold
from projections.registry import PROJECTORS
from schemas.envelope import Envelope
from schemas.events import EventPayload
from schemas.events.security import LoginFailed, LoginSucceeded, SudoCommandRun, SuUsed
from schemas.events.services import (
    AutoRestartIssued,
    ServiceFailed,
    ServiceLogged,
    ServiceMetricsSampled,
    ServiceRestartScheduled,
    ServiceStarted,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def env(payload: EventPayload, eid: str = "e1") -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=1,
        host="h",
        source="t",
        ts=T0,
        observed_at=T0,
        subject="s",
        payload=payload.model_dump(mode="json"),
    )


def ops_of(payload: EventPayload) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str, str, str, str]]]:
    e = env(payload)
    ops = PROJECTORS[e.type](e, payload)
    batch = fold(ops)  # validates against the graph schema
    nodes = {f"{label}:{key}": n.props for label, by in batch.nodes.items() for key, n in by.items()}
    rels = {
        (r.type, r.from_label, r.from_key, r.to_label, r.to_key)
        for op in ops
        if isinstance(op, UpsertRel)
        for r in [op]
    }
    assert all(isinstance(o, UpsertNode | UpsertRel) for o in ops)
    return nodes, rels


def test_started_sets_service_state_and_records_an_event() -> None:
    nodes, rels = ops_of(ServiceStarted(unit="nginx.service", message="Started", job_type="restart"))
    svc = nodes["Service:h/nginx.service"]
    assert (svc["name"], svc["type"], svc["state"], svc["started_at"]) == (
        "nginx.service",
        "service",
        "active",
        T0,
    )
    assert nodes["Event:e1"]["action"] == "restart"  # a restart job counts as a restart
    assert ("ACTED_ON", "Event", "e1", "Service", "h/nginx.service") in rels
    assert ("RUNS_ON", "Service", "h/nginx.service", "Host", "h") in rels


@pytest.mark.parametrize(
    ("payload", "props"),
    [
        (ServiceFailed(unit="a.service", result="exit-code", exit_status="1"), {"state": "failed"}),
        (ServiceRestartScheduled(unit="a.service", counter=3), {"restarts": 3}),
    ],
)
def test_state_changes(payload: EventPayload, props: dict[str, Any]) -> None:
    nodes, _ = ops_of(payload)
    assert props.items() <= nodes["Service:h/a.service"].items()


def test_logged_is_a_log_event_not_an_event() -> None:
    nodes, rels = ops_of(ServiceLogged(unit="nginx.service", level="error", message="boom", priority=3))
    assert nodes["LogEvent:e1"]["message"] == "boom" and "Event:e1" not in nodes
    assert ("LOGGED_BY", "LogEvent", "e1", "Service", "h/nginx.service") in rels


def test_metrics_minute_node_and_service_latest_values() -> None:
    p = ServiceMetricsSampled(
        unit="pg.service", minute=T0, cpu_percent=95.5, rss_bytes=10, processes=2, samples=4
    )
    nodes, rels = ops_of(p)
    assert nodes["ServiceMetrics:e1"]["rss_bytes"] == 10
    assert nodes["Service:h/pg.service"]["cpu_percent"] == 95.5
    assert ("METRICS_FOR", "ServiceMetrics", "e1", "Service", "h/pg.service") in rels


def test_audit_event() -> None:
    nodes, _ = ops_of(AutoRestartIssued(unit="a.service", check="web", command_id="c1", restarts_in_window=1))
    assert nodes["Event:e1"]["action"] == "auto-restart"


def test_logins_and_sudo_link_user_and_host() -> None:
    nodes, rels = ops_of(LoginFailed(service="sshd", user="root", source_ip="203.0.113.9", port=22))
    assert nodes["Login:e1"]["success"] is False and nodes["User:h/root"]["name"] == "root"
    assert {
        ("BY_USER", "Login", "e1", "User", "h/root"),
        ("HAPPENED_ON", "Login", "e1", "Host", "h"),
        ("ACCOUNT_ON", "User", "h/root", "Host", "h"),
    } <= rels
    nodes, _ = ops_of(LoginSucceeded(service="sshd", user="alice", source_ip="192.0.2.1"))
    assert nodes["Login:e1"]["success"] is True
    nodes, rels = ops_of(SudoCommandRun(service="sudo", user="alice", target_user="root", command="/bin/id"))
    assert nodes["SudoCommand:e1"]["command"] == "/bin/id"
    assert ("BY_USER", "SudoCommand", "e1", "User", "h/alice") in rels
    nodes, rels = ops_of(SuUsed(service="su", user="alice", target_user="root", tty="pts/0"))
    assert ("ACTED_ON", "Event", "e1", "User", "h/root") in rels


def test_a_login_without_user_has_no_user_node() -> None:
    nodes, rels = ops_of(LoginFailed(service="sshd", source_ip="203.0.113.9"))
    assert not [k for k in nodes if k.startswith("User:")]
    assert not [r for r in rels if r[0] == "BY_USER"]
