"""AlertDelivery (I/O): read every domain topic with its own position, send the alerts, then record them.

At least once: a batch's alerts go to every receiver first; only when all acknowledged are its
AlertDelivered events appended, the open-alert memory updated and the position committed, in one
transaction of the log. A receiver that fails leaves everything as it was, and the same batch is sent
again after a back-off (1 s doubling to `retry_max`); a receiver that got it the first time sees a
repeat, which Alertmanager de-duplicates by its labels (alertname, host, subject, severity).

On a log without transactions (Kafka, the distributed deployment's projector runs this stage) the order
is: send -> append the AlertDelivered records (durable) -> commit the group's position. The delivery
records are the memory: at start the stage reads its own topic (kept forever) to know which alerts fire
now and which deliveries were already recorded, so a crash between the append and the commit sends and
records nothing twice when the batch is read again (exactly once per alert and state); a crash before
the append sends the batch again (at least once, as above).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from prometheus_client import Counter

from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.alerts import AlertDelivered, alert_key
from schemas.topics import DOMAIN_TOPICS
from watchman import metrics
from watchman.alerting.decide import ALERT_EVENT_TYPES, OWN_TOPIC, Outgoing, decide, delivered_envelope
from watchman.alerting.targets import DeliveryFailed, Target
from watchman.bus.base import Bus, Record
from watchman.bus.sqlite_log import SqliteLog

log = logging.getLogger(__name__)

GROUP = "alerts"
OPEN = "alerts:open"  # the log's key/value namespace of the alerts firing now (key -> Outgoing.to_open)

DELIVERED = Counter(
    "watchman_alerts_delivered_total",
    "Alerts every receiver acknowledged, by state (firing, resolved).",
    ["state"],
    registry=metrics.REGISTRY,
)
FAILED = Counter(
    "watchman_alert_delivery_failures_total",
    "Delivery attempts a receiver refused or missed.",
    registry=metrics.REGISTRY,
)


def _now() -> datetime:
    return datetime.now(UTC)


class AlertDelivery:
    def __init__(
        self,
        log_: Bus,
        targets: Sequence[Target],
        *,
        max_age: timedelta = timedelta(hours=24),
        resend_interval: float = 60.0,
        retry_initial: float = 1.0,
        retry_max: float = 300.0,
        batch_size: int = 2000,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.log = log_
        self.targets = list(targets)
        self.max_age = max_age
        self.resend_interval = timedelta(seconds=resend_interval)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.batch_size = batch_size
        self.clock = clock
        self.delay = 0.0
        self.retry_at: datetime | None = None
        self.resend_at: datetime | None = None
        self.last_error = ""
        self.topics = [t.name for t in DOMAIN_TOPICS if t.name != OWN_TOPIC]
        # The embedded log commits records, open alerts and position in one transaction; any other bus
        # keeps the open alerts here, rebuilt from the delivery records (see the module's docstring).
        self.transactional = isinstance(log_, SqliteLog)
        self._memory: dict[str, dict[str, Any]] | None = None
        self._recorded: set[str] = set()  # ids of the AlertDelivered records already on the bus

    @property
    def receivers(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    def open_alerts(self) -> dict[str, dict[str, Any]]:
        if isinstance(self.log, SqliteLog):
            return {k: orjson.loads(v) for k, v in self.log.kv_items(OPEN)}
        if self._memory is None:
            self._memory = self._rebuild()
        return dict(self._memory)

    def _rebuild(self) -> dict[str, dict[str, Any]]:
        """The alerts firing now and the deliveries recorded, from this stage's own topic."""
        memory: dict[str, dict[str, Any]] = {}
        starts = self.log.start_offsets(OWN_TOPIC)
        for p in range(self.log.partitions(OWN_TOPIC)):
            offset = starts.get(p, 0)
            while records := self.log.read(OWN_TOPIC, p, offset, self.batch_size):
                offset = records[-1].offset + 1
                for r in records:
                    try:
                        env = Envelope.from_json(r.value)
                        d = AlertDelivered.model_validate(env.payload)
                    except Exception as exc:  # not ours to judge: the projection dead-letters it
                        log.info("alert memory skips %s/%s/%s: %s", OWN_TOPIC, p, r.offset, exc)
                        continue
                    self._recorded.add(env.id)
                    key = alert_key(env.host, d.alert, d.subject)
                    if d.state == "resolved":
                        memory.pop(key, None)
                        continue
                    memory[key] = Outgoing(
                        name=d.alert,
                        severity=d.severity,
                        host=env.host,
                        subject=d.subject,
                        state="firing",
                        summary=d.summary,
                        starts_at=d.starts_at,
                        ends_at=d.ends_at,
                        cause_id=d.cause_id,
                        cause_type=d.cause_type,
                    ).to_open()
        return memory

    def step(self) -> int:
        """Deliver what the domain topics hold past this stage's position; the number of alerts sent.
        Never raises for a receiver's failure: it is logged and retried after the back-off."""
        now = self.clock()
        if self.retry_at is not None and now < self.retry_at:
            return 0
        try:
            sent = self._deliver(now)
            self._resend(now)
        except DeliveryFailed as exc:
            self.delay = min(self.retry_max, max(self.retry_initial, self.delay * 2))
            self.retry_at = now + timedelta(seconds=self.delay)
            self.last_error = str(exc)
            FAILED.inc()
            log.warning("alert delivery failed, trying again in %gs: %s", self.delay, exc)
            return 0
        self.delay, self.retry_at, self.last_error = 0.0, None, ""
        return sent

    def _deliver(self, now: datetime) -> int:
        sent = 0
        for topic in self.topics:
            committed = self.log.committed(GROUP, topic)
            starts = self.log.start_offsets(topic)
            for p in range(self.log.partitions(topic)):
                offset = max(committed.get(p, 0), starts.get(p, 0))
                records = self.log.read(topic, p, offset, self.batch_size)
                if not records:
                    continue
                opened = self.open_alerts()
                outgoing: list[Outgoing] = []
                for r in records:
                    if r.headers.get("type") not in ALERT_EVENT_TYPES:
                        continue
                    try:
                        env = Envelope.from_json(r.value)
                        payload = decode_payload(env.type, env.schema_version, env.payload).model_dump()
                    except Exception as exc:  # the projection dead-letters it; delivery skips it
                        log.info("alert delivery skips %s/%s/%s: %s", topic, p, r.offset, exc)
                        continue
                    for a in decide(env, payload, opened, now=now, max_age=self.max_age):
                        outgoing.append(a)
                        if a.state == "firing":
                            opened[a.key] = a.to_open()
                        else:
                            opened.pop(a.key, None)
                envelopes = [
                    delivered_envelope(a, delivered_at=now, receivers=self.receivers) for a in outgoing
                ]
                if not self.transactional:  # recorded before a crash that kept the position from moving
                    fresh = [i for i, e in enumerate(envelopes) if e.id not in self._recorded]
                    outgoing, envelopes = [outgoing[i] for i in fresh], [envelopes[i] for i in fresh]
                for target in self.targets:
                    target.send(outgoing, now=now)
                position = {p: records[-1].offset + 1}
                if isinstance(self.log, SqliteLog):
                    with self.log.transaction():
                        self.log.append(OWN_TOPIC, [self._record(e) for e in envelopes])
                        self._save_open(outgoing)
                        self.log.commit(GROUP, topic, position)
                else:
                    if envelopes:
                        self.log.append(OWN_TOPIC, [self._record(e) for e in envelopes])
                    self._recorded.update(e.id for e in envelopes)
                    self._memory = opened
                    self.log.commit(GROUP, topic, position)
                for a in outgoing:
                    DELIVERED.labels(a.state).inc()
                sent += len(outgoing)
        return sent

    def _save_open(self, outgoing: list[Outgoing]) -> None:
        assert isinstance(self.log, SqliteLog)
        for a in outgoing:
            if a.state == "firing":
                self.log.kv_put(OPEN, a.key, orjson.dumps(a.to_open()))
            else:
                self.log.kv_delete(OPEN, a.key)

    def _resend(self, now: datetime) -> None:
        """Every `resend_interval`: the alerts still firing to the receivers that forget (Alertmanager);
        alerts whose end has passed are forgotten here too."""
        if self.resend_at is not None and now < self.resend_at:
            return
        self.resend_at = now + self.resend_interval
        still: list[Outgoing] = []
        for key, d in self.open_alerts().items():
            a = Outgoing.from_open(d)
            if a.ends_at is not None and a.ends_at <= now:
                if isinstance(self.log, SqliteLog):
                    self.log.kv_delete(OPEN, key)
                elif self._memory is not None:
                    self._memory.pop(key, None)
            else:
                still.append(a)
        for target in self.targets:
            if target.resend:
                target.send(still, now=now)

    @staticmethod
    def _record(env: Envelope) -> Record:
        return Record(env.key, env.to_json(), {"type": env.type, "schema_version": str(env.schema_version)})
