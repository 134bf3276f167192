"""Retention of the embedded log: per-topic overrides of the code's retention (`[retention.topics]`) and the
resources domain's compaction interface (docs/domains/resources.md): a `ResourcesSampled` older than
`resources_keep_hours` (24) may be dropped, except the last one of each hour, which carries the hour's and
the day's aggregates, so a replay rebuilds the same hourly and daily points.

The daemon calls `enforce_log` with the log's own retention pass (hourly), before it: the overrides are in
the log's topics table when `SqliteLog.enforce_retention` deletes by it. On Kafka (distributed) the worker and
the projector set every topic's retention to `effective_topics` at their start (AlterConfigs on existing
topics: watchman/distributed.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import orjson

from schemas.model import Topic
from watchman.bus.sqlite_log import SqliteLog
from watchman.domains.retention import RetentionSettings

log = logging.getLogger(__name__)

RESOURCES_TOPIC = "watchman.events.resources"
SAMPLED = "ResourcesSampled"
_KV = "retention"
HOUR_MS = 3_600_000


def topic_overrides(settings: RetentionSettings, topics: Iterable[Topic]) -> list[Topic]:
    """The topics `[retention.topics]` names, with its retention in place of the code's."""
    by_name = {t.name: t for t in topics}
    out = []
    for name, o in sorted(settings.topics.items()):
        t = by_name.get(name)
        if t is None:
            raise ValueError(f"[retention.topics] names an unknown topic {name!r}")
        days = t.retention_days if o.retention_days is None else (o.retention_days or None)
        size = t.retention_bytes if o.retention_bytes is None else (o.retention_bytes or None)
        out.append(replace(t, retention_days=days, retention_bytes=size))
    return out


def effective_topics(settings: RetentionSettings, topics: Iterable[Topic]) -> list[Topic]:
    """Every topic with its retention: `[retention.topics]`'s where it names one, else the code's."""
    overridden = {t.name: t for t in topic_overrides(settings, topics)} if settings.enabled else {}
    return [overridden.get(t.name, t) for t in topics]


Sample = tuple[int, str, datetime, datetime]  # offset, type, ts, hour


def samples_to_drop(records: Sequence[Sample], before_hour: datetime) -> list[int]:
    """Pure: of (offset, type, ts, hour) records, the offsets of the ResourcesSampled of hours before
    `before_hour` that are not the last (highest offset) of their hour."""
    last: dict[datetime, int] = {}
    for off, typ, _ts, hour in records:
        if typ == SAMPLED and hour < before_hour:
            last[hour] = max(off, last.get(hour, -1))
    return [
        off for off, typ, _ts, hour in records if typ == SAMPLED and hour < before_hour and last[hour] != off
    ]


def compact_resources(db_log: SqliteLog, keep_hours: int, now_ms: int | None = None) -> int:
    """Drop the samples the resources interface allows (see the module docstring); returns how many.

    Incremental: the records are read in offset order from where the last pass stopped (kept in the log's
    kv store) up to the first record of an hour that is not complete yet (`keep_hours` before now)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cut = datetime.fromtimestamp((now_ms - keep_hours * HOUR_MS) // HOUR_MS * HOUR_MS / 1000, UTC)
    dropped = 0
    with db_log.transaction():
        for p in range(db_log.partitions(RESOURCES_TOPIC)):
            name = f"resources-compacted/{p}"
            start = int(db_log.kv_get(_KV, name) or b"0")
            parsed: list[Sample] = []
            stop = start
            done = False
            while not done:
                rows = db_log.read(RESOURCES_TOPIC, p, stop, 5000)
                if not rows:
                    break
                for r in rows:
                    env = orjson.loads(r.value)
                    pay = env.get("payload", {})
                    if env.get("type") == SAMPLED and "hour" in pay:
                        hour = datetime.fromisoformat(pay["hour"]).astimezone(UTC)
                        if hour >= cut:
                            done = True
                            break
                        parsed.append((r.offset, SAMPLED, datetime.fromisoformat(pay["ts"]), hour))
                    stop = r.offset + 1
            drop = samples_to_drop(parsed, cut)
            for i in range(0, len(drop), 900):
                chunk = drop[i : i + 900]
                marks = ",".join("?" * len(chunk))
                db_log._db.execute(
                    f"DELETE FROM records WHERE topic=? AND partition=? AND offset IN ({marks})",
                    (RESOURCES_TOPIC, p, *chunk),
                )
            dropped += len(drop)
            if stop != start:
                db_log.kv_put(_KV, name, str(stop).encode())
    return dropped


def enforce_log(db_log: SqliteLog, settings: RetentionSettings, now_ms: int | None = None) -> int:
    """The overrides into the log's topics table, then the resources compaction; returns records dropped."""
    if not settings.enabled:
        return 0
    from schemas.topics import TOPICS

    overrides = topic_overrides(settings, TOPICS.values())
    if overrides:
        db_log.ensure_topics(overrides)
    if settings.resources_keep_hours:
        n = compact_resources(db_log, settings.resources_keep_hours, now_ms)
        if n:
            log.info("retention: dropped %d ResourcesSampled older than %d h (the last of each hour kept)", n,
                     settings.resources_keep_hours)  # fmt: skip
        return n
    return 0
