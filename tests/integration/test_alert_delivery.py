"""The one alert delivery stage against a real Alertmanager (Debian's prometheus-alertmanager) that routes
to a webhook receiver on loopback: firing and resolved arrive, a failing receiver is retried without
losing or doubling a record, the delivery is in the graph, and the daemon runs the stage (with its
webhook token, a secret, never written anywhere)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from projections.catalog import resolve
from schemas.envelope import Envelope, event_id
from schemas.events.alerts import EVENTS_ALERTS
from schemas.events.services import EVENTS_SERVICES, ServiceFailureAlert, ServiceHealthChanged
from schemas.topics import TOPICS
from tests.support.alertmanager import Alertmanager, Receiver, running_alertmanager, webhook_receiver
from watchman.alerting.stage import GROUP, AlertDelivery
from watchman.alerting.targets import AlertmanagerTarget, WebhookTarget
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import envelope_record
from watchman.projecting import project_topics
from watchman.wiring import open_graph

HOST = "testhost"


@pytest.fixture(scope="module")
def am_receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def alertmanager(am_receiver: Receiver) -> Iterator[Alertmanager]:
    with running_alertmanager(am_receiver.url) as am:
        yield am


def health(unit: str, status: str, ts: datetime, n: int) -> Envelope:
    p = ServiceHealthChanged(unit=unit, check="http", status=status)  # type: ignore[arg-type]
    return Envelope(
        id=event_id("test", unit, n),
        type=p.TYPE,
        schema_version=p.VERSION,
        host=HOST,
        source="test",
        ts=ts,
        observed_at=ts,
        subject=unit,
        payload=p.model_dump(mode="json"),
    )


def new_log(path: Path) -> SqliteLog:
    log = SqliteLog(path / "log.sqlite")
    log.ensure_topics(TOPICS.values())
    return log


def delivered(log: SqliteLog) -> list[dict[str, object]]:
    out = []
    for p in range(log.partitions(EVENTS_ALERTS.name)):
        out += [orjson.loads(r.value) for r in log.read(EVENTS_ALERTS.name, p, 0, 1000)]
    return out


def test_alertmanager_gets_firing_then_resolved_and_the_graph_records_it(
    tmp_path: Path, alertmanager: Alertmanager, am_receiver: Receiver
) -> None:
    log = new_log(tmp_path)
    now = datetime.now(UTC)
    stage = AlertDelivery(log, [AlertmanagerTarget(alertmanager.url)])
    log.append(EVENTS_SERVICES.name, [envelope_record(health("web-am.service", "unhealthy", now, 1))])
    assert stage.step() == 1

    def is_(status: str) -> object:
        return lambda alerts: any(
            a["status"] == status and a["labels"].get("subject") == "web-am.service" for a in alerts
        )

    got = am_receiver.wait_for(is_("firing"))
    firing = next(a for a in got if a["labels"].get("subject") == "web-am.service")
    assert firing["labels"] == {
        "alertname": "ServiceUnhealthy",
        "host": HOST,
        "subject": "web-am.service",
        "severity": "critical",
    }
    assert firing["annotations"]["summary"] == "web-am.service: health check http failed"

    # A repeat of the same alert (the stage re-sends firing ones) is one alert in Alertmanager.
    stage.resend_at = None
    stage.step()
    held = [a for a in alertmanager.alerts() if a["labels"].get("subject") == "web-am.service"]
    assert len(held) == 1 and held[0]["status"]["state"] == "active"

    later = now + timedelta(seconds=1)
    log.append(EVENTS_SERVICES.name, [envelope_record(health("web-am.service", "healthy", later, 2))])
    assert stage.step() == 1
    am_receiver.wait_for(is_("resolved"))

    records = delivered(log)
    assert [(r["payload"]["alert"], r["payload"]["state"]) for r in records] == [
        ("ServiceUnhealthy", "firing"),
        ("ServiceUnhealthy", "resolved"),
    ]
    assert stage.open_alerts() == {}

    graph = open_graph(f"ladybug://{tmp_path / 'graph'}")
    try:
        graph.ensure_schema()
        project_topics(log, graph, [EVENTS_ALERTS], 1000, on_dead=lambda *a: None)
        rows = graph.query(
            "MATCH (a:Alert)-[:RAISED_ON]->(h:Host) RETURN a.name, a.subject, a.state, a.delivered_at, "
            "a.receivers, h.name",
            {},
            read_only=True,
        ).rows
    finally:
        graph.close()
    assert len(rows) == 1
    name, subject, state, delivered_at, receivers, host = rows[0]
    assert (name, subject, state, receivers, host) == (
        "ServiceUnhealthy",
        "web-am.service",
        "resolved",
        "alertmanager",
        HOST,
    )
    assert delivered_at is not None
    log.close()


def test_a_failing_receiver_is_retried_and_nothing_is_doubled(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    clock = [datetime.now(UTC)]
    with webhook_receiver() as hook:
        stage = AlertDelivery(log, [WebhookTarget(hook.url)], clock=lambda: clock[0])
        p = ServiceFailureAlert(unit="db.service", failures=5, window_minutes=10)
        env = Envelope(
            id=event_id("test", "failure"),
            type=p.TYPE,
            schema_version=p.VERSION,
            host=HOST,
            source="test",
            ts=clock[0],
            observed_at=clock[0],
            subject="db.service",
            payload=p.model_dump(mode="json"),
        )
        log.append(EVENTS_SERVICES.name, [envelope_record(env)])
        hook.fail_next = 2
        assert stage.step() == 0  # 503
        assert stage.step() == 0  # backing off: not even tried
        assert log.committed(GROUP, EVENTS_SERVICES.name) == {}
        assert delivered(log) == []
        clock[0] += timedelta(seconds=1.5)
        assert stage.step() == 0  # the second 503; back-off doubles to 2 s
        assert "503" in stage.last_error
        clock[0] += timedelta(seconds=2.5)
        assert stage.step() == 1
        assert stage.step() == 0  # nothing new; a webhook gets no re-sends
        alerts = hook.alerts()
        assert len(alerts) == 1
        assert alerts[0]["status"] == "firing"
        assert alerts[0]["labels"]["alertname"] == "ServiceFailing"
        assert alerts[0]["annotations"]["summary"] == "db.service failed 5 times within 10 minutes"
        # It ends by itself (ends_after_minutes = 60): endsAt says when.
        assert alerts[0]["endsAt"].startswith(
            (clock[0] - timedelta(seconds=4) + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M")
        )
    assert len(delivered(log)) == 1
    log.close()


def test_the_daemon_delivers_with_its_webhook_token_and_never_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchman.daemon import Daemon
    from watchman.settings import Settings

    token = "hook-token-7f3a9c1e5b"
    monkeypatch.setenv("WATCHMAN_SECRET_ALERTS_HOOK", token)
    data = tmp_path / "data"
    with webhook_receiver() as hook:
        settings = Settings(
            data_dir=data,
            host=HOST,
            api_listen="",
            poll_interval=0.05,
            packages={
                "apt": (),
                "dpkg": (),
                "dnf_rpm": (),
                "dnf": (),
                "dnf5": (),
                "brew": (),
                "dpkg_status": (),
                "rpmdb": (),
            },
            network={"enabled": False},
            journald={"enabled": False},
            authlog={"enabled": False},
            docker={"enabled": False},
            services={"metrics_enabled": False},
            resources={"enabled": False},
            alerts={"webhook_url": hook.url, "webhook_token": "secret:alerts.hook"},
        )
        daemon = Daemon(settings)
        now = datetime.now(UTC)
        daemon.log.append(EVENTS_SERVICES.name, [envelope_record(health("api.service", "unhealthy", now, 1))])
        daemon.run(once=True)
        alerts = hook.alerts()
        assert [(a["status"], a["labels"]["subject"]) for a in alerts] == [("firing", "api.service")]
        assert hook.headers[0]["Authorization"] == f"Bearer {token}"

        daemon = Daemon(settings)
        rows = daemon.query("MATCH (a:Alert) RETURN a.state, a.receivers", {}, read_only=True).rows
        cypher, params = resolve("alerts-firing", {}, datetime.now(UTC))
        firing = daemon.query(cypher, params, read_only=True).rows
        cypher, params = resolve("alerts-delivered", {"days": 1}, datetime.now(UTC))
        delivered_rows = daemon.query(cypher, params, read_only=True).rows
        daemon.close()
    assert rows == [["firing", "webhook"]]
    assert [(r[0], r[1], r[2]) for r in firing] == [(HOST, "ServiceUnhealthy", "api.service")]
    assert len(delivered_rows) == 1
    for path in data.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
