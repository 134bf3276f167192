"""The resources domain on this machine's real psutil data: a real process burning CPU and memory is among
the top processes; a real size-limited tmpfs filled past 90 % raises DiskSpaceLow and a fill prediction,
which the alert stage hands to a webhook and a real Alertmanager (firing, then resolved once the tmpfs
is gone); a replay of the log rebuilds the same rollups."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from producers.resources.sampler import HostSampler
from producers.services.metrics import MetricsSampler
from projections.catalog import resolve
from projections.stores.ladybug import LadybugStore
from schemas.events.resources import ResourceLimits
from tests.support.alertmanager import running_alertmanager, webhook_receiver
from watchman.alerting.stage import AlertDelivery
from watchman.alerting.targets import AlertmanagerTarget, WebhookTarget
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import EmbeddedPipeline

HOST = "testhost"
CGROUP_ROOT = Path("/sys/fs/cgroup/systemd")
MiB = 2**20
# The disk thresholds as by default; the host-wide ones out of reach (a shared, busy test machine).
DISK_ONLY = ResourceLimits(cpu_minutes=10**9, memory_available_percent=0, swap_bytes_per_second=2**60)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def tmpfs() -> Iterator[Path]:
    """A real 8 MiB tmpfs, unmounted at the end (also if the test fails)."""
    where = Path(tempfile.mkdtemp(prefix="watchman-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "watchman-test", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def query(graph: LadybugStore, name: str, **params: object) -> list[dict[str, object]]:
    cypher, p = resolve(name, {k: str(v) for k, v in params.items()}, datetime.now(UTC))
    result = graph.query(cypher, p, read_only=True)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


@pytest.fixture
def burner_unit() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A process burning a core and holding 150 MiB, in a real cgroup named like a systemd service (systemd
    is not PID 1 here: the test makes the cgroup in the named `systemd` hierarchy, as systemd would)."""
    unit = f"wmburn-{uuid.uuid4().hex[:8]}.service"
    base = CGROUP_ROOT if CGROUP_ROOT.is_dir() else Path("/sys/fs/cgroup")
    group = base / "watchman-test.slice" / unit
    group.mkdir(parents=True)
    burner = subprocess.Popen(
        [sys.executable, "-c", "b = bytearray(150 * 2**20)\nwhile True: b[0] = (b[0] + 1) % 256"]
    )
    try:
        (group / "cgroup.procs").write_text(str(burner.pid))
        yield unit, burner
    finally:
        burner.kill()
        burner.wait()
        for _ in range(50):
            try:
                group.rmdir()
                group.parent.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def test_a_busy_process_is_among_the_top_processes_and_in_its_services_series(
    tmp_path: Path, burner_unit: tuple[str, subprocess.Popen[bytes]]
) -> None:
    unit, burner = burner_unit
    log, graph = SqliteLog(tmp_path / "log.sqlite"), LadybugStore(tmp_path / "graph")
    clock = Clock()
    # top 20: the shared test machine often runs a few other busy processes of its own
    sampler = HostSampler(HOST, interval=10, clock=clock, top=20)
    services = MetricsSampler(HOST, interval=10, units=(unit,), clock=clock)
    pipeline = EmbeddedPipeline(log, graph, [sampler, services], host=HOST)
    try:
        pipeline.drain()  # the first sample: CPU since the sampler started
        time.sleep(1.5)  # psutil's CPU % is measured between two samples
        clock.now += timedelta(minutes=1)
        pipeline.drain()
        top = query(graph, "top-processes")
        mine = [r for r in top if r["pid"] == burner.pid]
        assert mine, top
        assert mine[0]["cpu_percent"] > 5 and mine[0]["rss_bytes"] >= 150 * MiB
        memory = query(graph, "service-memory-series", service=unit, since="2h")
        assert len(memory) == 2 and all(r["value"] >= 150 * MiB for r in memory)
        host = query(graph, "host-metrics")
        assert host[0]["host"] == HOST and 0 < host[0]["memory_used_percent"] < 100
        root = [r for r in query(graph, "disk-usage") if r["mount"] == "/"]
        assert root and root[0]["total_bytes"] > 0
        cpu = query(graph, "metric-series", series="cpu")
        assert len(cpu) == 2 and all(0 <= r["value"] <= 100 for r in cpu)
        cores = query(graph, "cpu-per-core")
        assert {r["series"] for r in cores} == {f"cpu.core{i}" for i in range(psutil.cpu_count())}
    finally:
        pipeline.close()
        graph.close()
        log.close()


def test_a_filling_tmpfs_raises_disk_space_low_and_a_prediction_that_alertmanager_gets(
    tmp_path: Path, tmpfs: Path
) -> None:
    log, graph = SqliteLog(tmp_path / "log.sqlite"), LadybugStore(tmp_path / "graph")
    clock = Clock()
    sampler = HostSampler(HOST, interval=60, clock=clock, mounts=(str(tmpfs),), top=0, limits=DISK_ONLY)
    pipeline = EmbeddedPipeline(log, graph, [sampler], host=HOST)
    # Samples in the past (Alertmanager's own clock decides whether an alert has ended).
    clock.now -= timedelta(minutes=15)
    with webhook_receiver() as hook, webhook_receiver() as am_hook, running_alertmanager(am_hook.url) as am:
        targets = [WebhookTarget(hook.url), AlertmanagerTarget(am.url)]
        alerts = AlertDelivery(log, targets, clock=clock)
        try:
            (tmpfs / "a").write_bytes(b"\0" * (3 * MiB))
            pipeline.drain()
            clock.now += timedelta(minutes=10)
            (tmpfs / "b").write_bytes(b"\0" * (int(4.5 * MiB)))
            pipeline.drain()
            assert alerts.step() == 2
            pipeline.drain()

            [fs] = [r for r in query(graph, "disk-usage") if r["mount"] == str(tmpfs)]
            assert fs["used_percent"] >= 90 and fs["fstype"] == "tmpfs"
            events = graph.query(
                "MATCH (e:Event)-[:ACTED_ON]->(f:Filesystem) WHERE f.mount = $m "
                "RETURN e.type ORDER BY e.type",
                {"m": str(tmpfs)},
                read_only=True,
            ).rows
            assert [r[0] for r in events] == ["DiskFillPredicted", "DiskSpaceLow"]
            [first] = query(graph, "fills-first", host=HOST)
            assert first["mount"] == str(tmpfs) and 0 <= first["days_left"] < 1
            assert [r["mount"] for r in query(graph, "filesystems-over", percent=90)] == [str(tmpfs)]
            got = {(a["labels"]["alertname"], a["status"]) for a in hook.alerts()}
            assert got == {("DiskSpaceLow", "firing"), ("DiskFillPredicted", "firing")}
            assert all(a["labels"]["subject"] == str(tmpfs) for a in hook.alerts())

            # Unmounted: both alerts resolve.
            subprocess.run(["umount", str(tmpfs)], check=True)
            clock.now += timedelta(minutes=1)
            pipeline.drain()
            assert alerts.step() == 2
            got = {(a["labels"]["alertname"], a["status"]) for a in hook.alerts()}
            assert ("DiskSpaceLow", "resolved") in got and ("DiskFillPredicted", "resolved") in got
            # ... and Alertmanager told its receiver both, firing then resolved.
            am_hook.wait_for(
                lambda got: (
                    {(a["labels"]["alertname"], a["status"]) for a in got}
                    >= {(n, s) for n in ("DiskSpaceLow", "DiskFillPredicted") for s in ("firing", "resolved")}
                )
            )
        finally:
            pipeline.close()
            graph.close()
            log.close()


def _rows(graph: LadybugStore, label: str) -> list[tuple[object, ...]]:
    result = graph.query(f"MATCH (n:{label}) RETURN n", {}, read_only=True)
    return sorted(tuple(sorted(row[0].items())) for row in result.rows)


def test_a_replay_of_the_log_gives_the_same_rollups(tmp_path: Path) -> None:
    from watchman.replay import rebuild

    log, live = SqliteLog(tmp_path / "log.sqlite"), LadybugStore(tmp_path / "graph")
    clock = Clock()
    clock.now = clock.now.replace(hour=22, minute=0)  # across midnight: two days, several hours
    sampler = HostSampler(HOST, interval=60, clock=clock, top=2, limits=DISK_ONLY, gpu=False)
    pipeline = EmbeddedPipeline(log, live, [sampler], host=HOST)
    replayed = LadybugStore(tmp_path / "replayed")
    try:
        for _ in range(25):  # every 11 minutes: minute slots, 5 hours and 2 days are written over
            pipeline.drain()
            clock.now += timedelta(minutes=11)
        assert rebuild(log, replayed) == 25
        for label in ("MetricPoint", "Filesystem", "SystemMetrics", "TopProcess"):
            assert _rows(replayed, label) == _rows(live, label), label
        points = _rows(live, "MetricPoint")
        assert {dict(p)["resolution"] for p in points} == {"m", "h", "d"}
    finally:
        pipeline.close()
        live.close()
        replayed.close()
        log.close()
