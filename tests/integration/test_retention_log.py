"""Retention of the embedded log (real SQLite log): the resources domain's interface (ResourcesSampled
older than 24 h leave the log except the last of each hour; a second pass is a no-op, and a replay builds
the same hourly and daily points) and a `[retention.topics]` override applied by the log's own pass."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope, event_id
from schemas.events.resources import ResourcesSampled
from schemas.events.services import RAW_JOURNAL
from schemas.topics import TOPICS
from watchman.bus.base import Record
from watchman.bus.sqlite_log import SqliteLog
from watchman.domains.retention import RetentionSettings, TopicRetention
from watchman.pipeline import envelope_record
from watchman.replay import rebuild
from watchman.retention.log import RESOURCES_TOPIC, enforce_log, samples_to_drop

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)


def sample(i: int) -> Envelope:
    ts = NOW - timedelta(hours=48) + timedelta(minutes=10 * i)
    hour = ts.replace(minute=0)
    p = ResourcesSampled(
        ts=ts,
        values={"cpu": float(i)},
        hour=hour,
        hourly={"cpu": (float(i), float(i))},
        daily={"cpu": (float(i), float(i))},
    )
    return Envelope(
        id=event_id("t", i),
        type=p.TYPE,
        schema_version=p.VERSION,
        host="h",
        source="t",
        ts=ts,
        observed_at=ts,
        subject="h",
        payload=p.model_dump(mode="json"),
    )


def test_samples_to_drop_keeps_the_last_of_each_hour() -> None:
    h1, h2 = datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC)
    recs = [
        (0, "ResourcesSampled", h1, h1),
        (1, "ResourcesSampled", h1, h1),
        (2, "DiskSpaceLow", h1, h1),
        (3, "ResourcesSampled", h2, h2),
        (4, "ResourcesSampled", h2, h2),
    ]
    assert samples_to_drop(recs, h2) == [0]
    assert samples_to_drop(recs, h2 + timedelta(hours=1)) == [0, 3]


def test_resources_compaction_and_topic_override(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.sqlite")
    log.ensure_topics(TOPICS.values())
    envs = [sample(i) for i in range(48 * 6)]  # 48 hours, one every 10 minutes
    log.append(RESOURCES_TOPIC, [envelope_record(e) for e in envs])
    before = LadybugStore(tmp_path / "before")
    rebuild(log, before)
    points = "MATCH (p:MetricPoint) RETURN p ORDER BY p.key"
    want = [r for r in before.query(points).dicts() if "/minute/" not in str(r["p"].get("key"))]
    before.close()

    s = RetentionSettings(topics={RAW_JOURNAL.name: TopicRetention(retention_days=0, retention_bytes=1)})
    dropped = enforce_log(log, s, int(NOW.timestamp() * 1000))
    # Hours wholly older than 24 h: the first (from :30, 3 samples) and 23 of 6; the last of each kept.
    assert dropped == 2 + 23 * 5
    kept = [
        r for p in range(log.partitions(RESOURCES_TOPIC)) for r in log.read(RESOURCES_TOPIC, p, 0, 10_000)
    ]
    assert len(kept) == 48 * 6 - (2 + 23 * 5)
    assert enforce_log(log, s, int(NOW.timestamp() * 1000)) == 0  # nothing more: incremental, idempotent

    after = LadybugStore(tmp_path / "after")
    rebuild(log, after)
    got = [r for r in after.query(points).dicts() if "/minute/" not in str(r["p"].get("key"))]
    after.close()
    assert got == want and want, "the hourly and daily points a replay builds are the same"

    # The override reached the log's topics table: its own pass trims the journal topic by it.
    log.append(RAW_JOURNAL.name, [Record("k", b"x" * 100), Record("k", b"y" * 100)])
    time.sleep(0.01)
    log.enforce_retention()
    assert sum(len(log.read(RAW_JOURNAL.name, p, 0)) for p in range(log.partitions(RAW_JOURNAL.name))) == 0
    log.close()
