"""The distributed event log backed up: the domain topics of the infra/ Kafka exported by a consumer into
segment files (tar -> zstd -> age -> a directory target), verified by loading and replaying them into a
scratch graph, restored as an embedded data directory (log + graph), and produced back into emptied
topics; a load into topics that hold records is refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyrage
import pytest

from schemas.events.backups import in_place_phrase
from schemas.events.services import EVENTS_SERVICES
from schemas.topics import TOPICS
from tests.integration.test_alert_delivery import health
from tests.support.kafka import delete_topics
from watchman.backups import service, topics
from watchman.bus.base import Bus
from watchman.bus.kafka import KafkaBus
from watchman.domains.backups import BackupJobSettings, BackupSettings
from watchman.pipeline import envelope_record
from watchman.wiring import open_graph

# Resets the infra/ Kafka's watchman topics: one such module at a time (tests/conftest.py).
pytestmark = [pytest.mark.servers, pytest.mark.timeout(300)]

KAFKA = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")
N = 120


@pytest.fixture(scope="module")
def bus() -> Iterator[KafkaBus]:
    delete_topics(KAFKA, "watchman")
    b = KafkaBus(KAFKA)
    b.ensure_topics(TOPICS.values())
    yield b
    b.close()


def values(bus: Bus, topic: str) -> list[bytes]:
    out: list[bytes] = []
    starts = bus.start_offsets(topic)
    for p in range(bus.partitions(topic)):
        offset = starts.get(p, 0)
        while records := bus.read(topic, p, offset, 1000):
            out += [r.value for r in records]
            offset = records[-1].offset + 1
    return sorted(out)


def test_export_verify_restore_and_produce_back(
    bus: KafkaBus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    bus.append(
        EVENTS_SERVICES.name,
        [
            envelope_record(
                health(
                    f"unit{i % 7}.service", "unhealthy" if i % 2 else "healthy", t0 + timedelta(seconds=i), i
                )
            )
            for i in range(N)
        ],
    )
    before = values(bus, EVENTS_SERVICES.name)
    assert len(before) == N

    ident = pyrage.x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    settings = BackupSettings(
        jobs={
            "topics": BackupJobSettings(
                kind="kafka", target=f"file://{tmp_path / 'store'}", recipients=(str(ident.to_public()),),
                identity_file=key,
            )
        }
    )  # fmt: skip
    job = service.open_job(settings, "topics", host="h1", data_dir=tmp_path / "data")
    job.bus_url = f"kafka://{KAFKA}"
    monkeypatch.setattr(topics, "SEGMENT_RECORDS", 50)  # several segments for one partition
    seen: list[str] = []
    now = lambda: datetime.now(UTC)  # noqa: E731
    manifest = service.run_backup(job, "topics-20261204T000000Z-00000001", now=now,
                                  observe=lambda o: seen.append(o.stage + o.error))  # fmt: skip
    assert manifest is not None, seen
    assert seen == ["started", "completed", "verified"], (
        seen
    )  # verified: loaded and replayed into a scratch graph
    segments = [e.path for e in manifest.entries if e.path.endswith(".jsonl")]
    assert len(segments) >= 3

    dest = tmp_path / "restored"
    result = service.restore(job, manifest.id, target_dir=str(dest), in_place=False, confirm="", now=now,
                             observe=lambda o: None)  # fmt: skip
    assert result.replayed == N
    graph = open_graph(f"ladybug://{dest / 'watchman' / 'graph'}")
    try:
        rows = graph.query("MATCH (e:Event) RETURN count(e)", {}, read_only=True).rows
    finally:
        graph.close()
    assert rows[0][0] > 0

    # Topics that hold records: refused before anything is written.
    with pytest.raises(service.JobError, match="not empty"):
        service.restore(job, manifest.id, target_dir="", in_place=True, confirm=in_place_phrase(manifest.id),
                        now=now, observe=lambda o: None)  # fmt: skip
    assert values(bus, EVENTS_SERVICES.name) == before

    # The broker lost its topics: the backup is produced back into them.
    delete_topics(KAFKA, "watchman")
    with pytest.raises(service.JobError, match="confirm"):
        service.restore(job, manifest.id, target_dir="", in_place=True, confirm="yes", now=now,
                        observe=lambda o: None)  # fmt: skip
    phrase = in_place_phrase(manifest.id)
    placed = service.restore(job, manifest.id, target_dir="", in_place=True, confirm=phrase, now=now,
                             observe=lambda o: None)  # fmt: skip
    assert placed.replayed == N
    fresh = KafkaBus(KAFKA)
    try:
        assert values(fresh, EVENTS_SERVICES.name) == before
    finally:
        fresh.close()
