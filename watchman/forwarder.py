"""Drain the producer's local spool into the real bus, moving the spool position only after the ack."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from schemas.model import Topic
from watchman import metrics
from watchman.bus.base import Bus, Record
from watchman.bus.sqlite_log import SqliteLog

log = logging.getLogger(__name__)

GROUP = "watchman.forwarder"


class Forwarder:
    """At-least-once from spool to bus: a crash between the ack and the spool commit re-sends a
    batch; records keep their deterministic ids, so processors de-duplicate them.

    While the bus is unreachable the spool simply grows (it is the embedded log, on disk) and the
    forwarder retries with a capped back-off; nothing is dropped.
    """

    def __init__(
        self,
        spool: SqliteLog,
        bus: Bus,
        topics: Sequence[Topic],
        *,
        batch_size: int = 2000,
        ensure: Sequence[Topic] = (),
    ) -> None:
        self.spool = spool
        self.bus = bus
        self.topics = list(topics)
        # Created on the bus at the first successful contact, not at start: the producer must spool
        # even when it starts while the broker is down.
        self._ensure: list[Topic] | None = list({t.name: t for t in [*topics, *ensure]}.values())
        self.batch_size = batch_size
        self._retry_at = 0.0
        self._backoff = 0.5
        self.failing = False

    def backlog(self) -> int:
        return sum(sum(self.spool.lag(GROUP, t.name).values()) for t in self.topics)

    def forward_once(self) -> int:
        """Forward one batch per spool partition; 0 when idle or while the bus is down."""
        if time.monotonic() < self._retry_at:
            return 0
        sent = 0
        try:
            if self._ensure is not None:
                self.bus.ensure_topics(self._ensure)
                self._ensure = None
            for topic in self.topics:
                committed = self.spool.committed(GROUP, topic.name)
                starts = self.spool.start_offsets(topic.name)
                for p in range(self.spool.partitions(topic.name)):
                    offset = max(committed.get(p, 0), starts.get(p, 0))
                    records = self.spool.read(topic.name, p, offset, self.batch_size)
                    if not records:
                        continue
                    self.bus.append(topic.name, [Record(r.key, r.value, r.headers) for r in records])
                    self.spool.commit(GROUP, topic.name, {p: records[-1].offset + 1})
                    sent += len(records)
                    metrics.EVENTS_IN.labels("forward", topic.name, "spool").inc(len(records))
                    metrics.EVENTS_OUT.labels("forward", topic.name).inc(len(records))
        except Exception as exc:  # any bus failure: keep the spool, try again later
            if not self.failing:
                log.warning("bus unavailable, spooling to disk and retrying: %s", exc)
            self.failing = True
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, 10.0)
            return sent
        if self.failing:
            log.warning("bus reachable again; forwarding the spool (%d records left)", self.backlog())
        self.failing = False
        self._backoff = 0.5
        return sent
