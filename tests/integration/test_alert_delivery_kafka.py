"""Alert delivery in the distributed deployment: the projector delivers every domain's alerts read from the
real infra/ Kafka to a real Alertmanager (Debian's prometheus-alertmanager), records each delivery on
Kafka (and so in the graph), and a restart between recording and committing sends nothing twice."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from schemas.events.alerts import EVENTS_ALERTS
from schemas.events.services import EVENTS_SERVICES
from schemas.topics import TOPICS
from tests.integration.test_alert_delivery import HOST, health
from tests.support.alertmanager import Alertmanager, Receiver, running_alertmanager, webhook_receiver
from tests.support.kafka import delete_topics
from watchman.alerting.stage import GROUP, AlertDelivery
from watchman.alerting.targets import WebhookTarget
from watchman.bus.kafka import KafkaBus
from watchman.distributed import run_projector
from watchman.pipeline import envelope_record
from watchman.settings import Settings
from watchman.wiring import open_graph

# Resets the infra/ Kafka's watchman topics: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

KAFKA = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")


@pytest.fixture(scope="module")
def bus() -> Iterator[KafkaBus]:
    delete_topics(KAFKA, "watchman")
    b = KafkaBus(KAFKA)
    b.ensure_topics(TOPICS.values())
    yield b
    b.close()


@pytest.fixture(scope="module")
def am_receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def alertmanager(am_receiver: Receiver) -> Iterator[Alertmanager]:
    with running_alertmanager(am_receiver.url) as am:
        yield am


def delivered(bus: KafkaBus, subject: str) -> list[tuple[str, str]]:
    out = []
    for p in range(bus.partitions(EVENTS_ALERTS.name)):
        for r in bus.read(EVENTS_ALERTS.name, p, 0, 1000):
            d = orjson.loads(r.value)["payload"]
            if d["subject"] == subject:
                out.append((d["alert"], d["state"]))
    return out


def test_the_projector_delivers_firing_and_resolved_and_records_them(
    tmp_path: Path, bus: KafkaBus, alertmanager: Alertmanager, am_receiver: Receiver
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        host=HOST,
        bus=f"kafka://{KAFKA}",
        graph=f"ladybug://{tmp_path / 'graph'}",
        poll_interval=0.2,
        alerts={"alertmanager_url": alertmanager.url, "resend_seconds": 600},
    )
    stop = threading.Event()
    projector = threading.Thread(target=run_projector, args=(settings, stop), name="projector", daemon=True)
    projector.start()

    def is_(status: str) -> object:
        return lambda alerts: any(
            a["status"] == status and a["labels"].get("subject") == "kafka-web.service" for a in alerts
        )

    try:
        now = datetime.now(UTC)
        bus.append(EVENTS_SERVICES.name, [envelope_record(health("kafka-web.service", "unhealthy", now, 1))])
        firing = am_receiver.wait_for(is_("firing"), timeout=60)
        got = next(a for a in firing if a["labels"].get("subject") == "kafka-web.service")
        assert got["labels"]["alertname"] == "ServiceUnhealthy"
        assert got["labels"]["host"] == HOST
        later = now + timedelta(seconds=1)
        bus.append(EVENTS_SERVICES.name, [envelope_record(health("kafka-web.service", "healthy", later, 2))])
        am_receiver.wait_for(is_("resolved"), timeout=60)
    finally:
        stop.set()
        projector.join(timeout=60)
    assert not projector.is_alive()
    assert delivered(bus, "kafka-web.service") == [
        ("ServiceUnhealthy", "firing"),
        ("ServiceUnhealthy", "resolved"),
    ]
    # The projector read its own delivery records back into the graph (it may stop before the last).
    graph = open_graph(settings.graph_url)
    try:
        rows = graph.query(
            "MATCH (a:Alert {subject: $s})-[:RAISED_ON]->(h:Host) RETURN a.name, a.state, h.name",
            {"s": "kafka-web.service"},
            read_only=True,
        ).rows
    finally:
        graph.close()
    assert len(rows) == 1 and rows[0][0] == "ServiceUnhealthy" and rows[0][2] == HOST


def test_a_crash_after_recording_sends_nothing_twice_and_the_memory_survives(
    bus: KafkaBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = "kafka-db.service"
    now = datetime.now(UTC)
    with webhook_receiver() as hook:
        stage = AlertDelivery(bus, [WebhookTarget(hook.url)])
        stage.step()  # whatever the other test left: delivered or skipped, position at the end
        bus.append(EVENTS_SERVICES.name, [envelope_record(health(unit, "unhealthy", now, 11))])
        before = bus.committed(GROUP, EVENTS_SERVICES.name)

        def crash(*_: object) -> None:
            raise RuntimeError("killed between the delivery record and the commit")

        monkeypatch.setattr(bus, "commit", crash)
        with pytest.raises(RuntimeError, match="killed"):
            stage.step()
        monkeypatch.undo()
        assert bus.committed(GROUP, EVENTS_SERVICES.name) == before
        assert delivered(bus, unit) == [("ServiceUnhealthy", "firing")]
        assert [a["labels"]["subject"] for a in hook.alerts()] == [unit]

        # A new process: it reads the same record again, finds its delivery recorded, sends nothing.
        again = AlertDelivery(bus, [WebhookTarget(hook.url)])
        assert again.step() == 0
        assert bus.committed(GROUP, EVENTS_SERVICES.name) != before
        assert [a["labels"]["subject"] for a in hook.alerts()] == [unit]
        assert delivered(bus, unit) == [("ServiceUnhealthy", "firing")]

        # Its memory came from the delivery records: the alert is open, so healthy resolves it.
        assert any(k.endswith(f"/ServiceUnhealthy/{unit}") for k in again.open_alerts())
        later = now + timedelta(seconds=1)
        bus.append(EVENTS_SERVICES.name, [envelope_record(health(unit, "healthy", later, 12))])
        assert again.step() == 1
        assert [(a["status"], a["labels"]["subject"]) for a in hook.alerts()] == [
            ("firing", unit),
            ("resolved", unit),
        ]
    assert delivered(bus, unit) == [("ServiceUnhealthy", "firing"), ("ServiceUnhealthy", "resolved")]
