"""Kafka producer compression (none, lz4, zstd) on raw journal and metrics records: bytes on the broker's
disk, producer CPU and records/s, with aiokafka against the infra/ Kafka; and the embedded log's bytes
per record (the SQLite file, which stores values as they are)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import HOST, say
from producers.journald.entries import raw_envelope as journal_envelope
from producers.services.metrics import raw_envelope as metrics_envelope
from schemas.events.services import RAW_JOURNAL, JournalEntryObserved, ServiceMetricsObserved
from watchman.bus.base import Record
from watchman.bus.sqlite_log import SqliteLog

KAFKA_DATA = Path(os.environ.get("WATCHMAN_INFRA_DIR", "/tmp/watchman-infra")) / "kafka" / "data"
CODECS = ("none", "lz4", "zstd")


def records(n: int) -> list[tuple[str, bytes]]:
    """A busy host's raw mix: sshd failures, service log lines, per-unit metrics samples."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        ts = start + timedelta(milliseconds=10 * i)
        kind = i % 4
        if kind == 0:
            obs = JournalEntryObserved(
                ts=ts,
                cursor=f"s=6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e;i={i:x};b=7a1f0c3e2b4d4e5f8a9b0c1d2e3f4a5b;"
                f"m={i * 977:x};t={int(ts.timestamp() * 1e6):x};x={i * 31:x}",
                message=f"Failed password for invalid user admin{i % 50} from 203.0.113.{i % 200} "
                f"port {40000 + i % 20000} ssh2",
                priority=6,
                unit="ssh.service",
                identifier="sshd",
                pid=10_000 + i,
                uid=0,
                comm="sshd",
                transport="syslog",
                facility=10,
                boot_id="7a1f0c3e2b4d4e5f8a9b0c1d2e3f4a5b",
            )
            env = journal_envelope(HOST, obs, ts)
        elif kind in (1, 2):
            obs = JournalEntryObserved(
                ts=ts,
                cursor=f"s=6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e;i={i:x};b=7a1f0c3e2b4d4e5f8a9b0c1d2e3f4a5b;"
                f"m={i * 977:x};t={int(ts.timestamp() * 1e6):x};x={i * 31:x}",
                message=f"192.0.2.{i % 250} - - [01/May/2026:12:00:00 +0000] "
                f'"GET /api/v1/items/{i} HTTP/1.1" '
                f'{500 if i % 97 == 0 else 200} {i % 5000} "-" "curl/8.5" error={i % 97 == 0}',
                priority=6,
                unit="nginx.service",
                identifier="nginx",
                pid=4242,
                uid=33,
                comm="nginx",
                transport="stdout",
                facility=3,
                boot_id="7a1f0c3e2b4d4e5f8a9b0c1d2e3f4a5b",
            )
            env = journal_envelope(HOST, obs, ts)
        else:
            m = ServiceMetricsObserved(
                ts=ts,
                unit=f"unit{i % 40}.service",
                cpu_percent=(i % 1000) / 10,
                rss_bytes=100_000_000 + i * 4096,
                io_read_bytes=i * 8192,
                io_write_bytes=i * 4096,
                processes=1 + i % 8,
                main_pid=2000 + i % 40,
            )
            env = metrics_envelope(HOST, m, ts)
        out.append((f"{HOST}/{env.subject}", env.to_json()))
    return out


def _topic_bytes(name: str) -> int:
    return sum(f.stat().st_size for d in KAFKA_DATA.glob(f"{name}-*") for f in d.glob("*.log"))


async def _produce(bootstrap: str, codec: str, data: list[tuple[str, bytes]]) -> dict[str, float]:
    name = f"bench.compression.{codec}.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            max_batch_size=256 * 1024,
            compression_type=None if codec == "none" else codec,
        )
        await producer.start()
        try:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for i in range(0, len(data), 2000):  # batches of 2000, as the forwarder sends them
                futures = [await producer.send(name, value=v, key=k.encode()) for k, v in data[i : i + 2000]]
                await asyncio.gather(*futures)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        finally:
            await producer.stop()
        await asyncio.sleep(1.0)  # the broker's appends reach the segment file
        on_disk = _topic_bytes(name)
        await admin.delete_topics([name])
    finally:
        await admin.close()
    raw = sum(len(v) + len(k) for k, v in data)
    return {
        "records_per_s": len(data) / wall,
        "cpu_s_per_100k": cpu / len(data) * 100_000,
        "disk_bytes_per_record": on_disk / len(data),
        "ratio": raw / on_disk if on_disk else 0.0,
    }


def kafka(bootstrap: str, n: int) -> dict[str, dict[str, float]]:
    data = records(n)
    out = {}
    for codec in CODECS:
        say(f"compression: {n:,} records with {codec}")
        out[codec] = asyncio.run(_produce(bootstrap, codec, data))
    return out


def sqlite_bytes_per_record(path: Path, n: int) -> float:
    """The embedded log's file size per record after appending `n` records of the same mix."""
    log = SqliteLog(path)
    try:
        data = records(n)
        log.ensure_topics([RAW_JOURNAL])
        for i in range(0, n, 2000):
            log.append(RAW_JOURNAL.name, [Record(k, v) for k, v in data[i : i + 2000]])
    finally:
        log.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return size / n


if __name__ == "__main__":
    import sys
    import tempfile

    bootstrap = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    for codec, figures in kafka(bootstrap, n).items():
        print(codec, {k: round(v, 2) for k, v in figures.items()})
    with tempfile.TemporaryDirectory() as d:
        print("sqlite bytes/record", round(sqlite_bytes_per_record(Path(d) / "log.sqlite", n), 1))
