"""The producer's spool keeps the raw topics' retention, as the embedded log does (it grew for ever)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import watchman.bus.sqlite_log
from schemas.events.services import RAW_JOURNAL
from schemas.topics import TOPICS
from watchman.bus.base import Record
from watchman.bus.sqlite_log import SqliteLog
from watchman.distributed import run_producer
from watchman.settings import (
    DockerSettings,
    JournaldSettings,
    NetworkSettings,
    PackageSources,
    ServicesSettings,
    Settings,
)


class _Later:
    """The time module as sqlite_log sees it, `ahead` seconds in the future."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead


def test_the_producer_spool_drops_raw_records_past_their_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    spool = SqliteLog(data / "spool.sqlite")
    spool.ensure_topics(TOPICS.values())
    spool.append(RAW_JOURNAL.name, [Record(f"h/u{i}", b"{}") for i in range(3)])
    spool.close()
    assert RAW_JOURNAL.retention_days is not None
    # The broker is unreachable, so nothing is forwarded; the records outlive the topic's retention.
    monkeypatch.setattr(watchman.bus.sqlite_log, "time", _Later((RAW_JOURNAL.retention_days + 1) * 86_400))
    settings = Settings(
        data_dir=data,
        host="h",
        bus="kafka://127.0.0.1:9",
        graph=f"ladybug://{tmp_path / 'graph'}",
        packages=PackageSources(apt=(), dpkg=(), dnf_rpm=(), dnf=(), dnf5=(), brew=()),
        docker=DockerSettings(enabled=False),
        network=NetworkSettings(enabled=False),
        journald=JournaldSettings(enabled=False),
        services=ServicesSettings(metrics_enabled=False),
        api_listen="",
    )
    stop = threading.Event()
    timer = threading.Timer(2.0, stop.set)
    timer.start()
    try:
        run_producer(settings, stop)
    finally:
        timer.cancel()
    spool = SqliteLog(data / "spool.sqlite")
    try:
        assert sum(spool.end_offsets(RAW_JOURNAL.name).values()) == 3
        assert spool.read(RAW_JOURNAL.name, 0, 0) == [] and all(
            spool.read(RAW_JOURNAL.name, p, 0) == [] for p in range(RAW_JOURNAL.partitions)
        )
    finally:
        spool.close()
