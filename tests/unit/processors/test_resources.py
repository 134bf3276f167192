"""processors/resources.py: series, hourly/daily aggregates and the threshold events, from samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processors.resources import decide_sample, fill_days, series_values
from processors.tables import MemoryTable
from producers.resources.sampler import raw_envelope
from schemas.alerts import firing, resolving
from schemas.envelope import Envelope
from schemas.events.resources import FilesystemSample, HostMetricsObserved, RateSample, ResourceLimits

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
GiB = 2**30


def obs(
    ts: datetime,
    *,
    used: int = 10 * GiB,
    cpu: float = 5.0,
    avail: int = 8 * GiB,
    swap: float = 0.0,
    mounts: tuple[str, ...] = ("/data",),
) -> HostMetricsObserved:
    total = 100 * GiB
    return HostMetricsObserved(
        ts=ts,
        interval_seconds=60,
        cpu_percent=cpu,
        cpu_per_core=(cpu, cpu),
        load1=0.5,
        load5=0.4,
        load15=0.3,
        memory_total_bytes=16 * GiB,
        memory_used_bytes=16 * GiB - avail,
        memory_available_bytes=avail,
        swap_in_bps=swap,
        filesystems=tuple(
            FilesystemSample(
                mount=m,
                device="/dev/x",
                fstype="ext4",
                total_bytes=total,
                used_bytes=used,
                free_bytes=total - used,
                used_percent=100 * used / total,
            )
            for m in mounts
        ),
        disks=(RateSample(name="sda", read_bps=100.0, write_bps=50.0),),
        limits=ResourceLimits(cpu_minutes=3),
    )


def run(samples: list[HostMetricsObserved], table: MemoryTable | None = None) -> list[Envelope]:
    table = table or MemoryTable()
    out: list[Envelope] = []
    for s in samples:
        out += decide_sample(raw_envelope("h", s, s.ts), s, table)
    return out


def types(events: list[Envelope]) -> list[str]:
    return [e.type for e in events if e.type != "ResourcesSampled"]


def test_series_names() -> None:
    v = series_values(obs(T0))
    assert {
        "cpu",
        "cpu.core0",
        "cpu.core1",
        "load1",
        "memory.used_percent",
        "fs./data.used_percent",
        "disk.sda.read_bps",
        "disk.sda.write_bps",
    } <= set(v)
    assert v["memory.used_percent"] == 50.0


def test_hourly_and_daily_aggregates_restart_with_their_period() -> None:
    events = run(
        [obs(T0, cpu=10), obs(T0 + timedelta(minutes=1), cpu=30), obs(T0 + timedelta(hours=1), cpu=50)]
    )
    sampled = [e.payload for e in events if e.type == "ResourcesSampled"]
    assert sampled[1]["hourly"]["cpu"] == [20.0, 30.0]
    assert sampled[2]["hourly"]["cpu"] == [50.0, 50.0]  # a new hour
    assert sampled[2]["daily"]["cpu"] == [30.0, 50.0]  # the same day


def test_disk_low_fires_once_and_recovers_with_hysteresis_and_the_alert_kinds_meet() -> None:
    table = MemoryTable()
    events = run([obs(T0, used=91 * GiB), obs(T0 + timedelta(minutes=1), used=92 * GiB)], table)
    assert types(events).count("DiskSpaceLow") == 1
    low = next(e for e in events if e.type == "DiskSpaceLow")
    [kind] = firing(low.type, low.payload)
    assert kind.name == "DiskSpaceLow" and low.payload["resource"] == "/data"
    later = run(
        [obs(T0 + timedelta(minutes=2), used=89 * GiB), obs(T0 + timedelta(minutes=3), used=80 * GiB)], table
    )
    assert types(later) == ["DiskSpaceRecovered"]
    rec = next(e for e in later if e.type == "DiskSpaceRecovered")
    assert [k.name for k in resolving(rec.type, rec.payload)] == ["DiskSpaceLow"]


def test_fill_prediction_from_the_recent_growth() -> None:
    # 1 GiB per 10 minutes with 50 GiB free: full in 500 minutes, well within 7 days.
    samples = [obs(T0 + timedelta(minutes=10 * i), used=(50 + i) * GiB) for i in range(3)]
    events = run(samples)
    [pred] = [e for e in events if e.type == "DiskFillPredicted"]
    assert abs(pred.payload["value"] - 480 / 1440) < 0.01  # 48 GiB free at 1 GiB / 10 min
    assert fill_days([[0, 0], [600, GiB]], 10 * GiB) is not None
    assert fill_days([[0, 0], [60, GiB]], 10 * GiB) is None  # too short to be a trend
    assert fill_days([[0, GiB], [600, GiB]], 10 * GiB) is None  # not growing


def test_an_unmounted_filesystem_resolves_its_alerts() -> None:
    table = MemoryTable()
    run([obs(T0, used=95 * GiB)], table)
    events = run([obs(T0 + timedelta(minutes=1), mounts=())], table)
    assert types(events) == ["DiskSpaceRecovered"]


def test_memory_swap_and_cpu_saturated_for_n_minutes() -> None:
    table = MemoryTable()
    e1 = run([obs(T0, avail=GiB, swap=2 * 2**20, cpu=95)], table)
    assert types(e1) == ["MemoryPressure", "Swapping"]  # CPU: not yet 3 minutes
    e2 = run([obs(T0 + timedelta(minutes=m), cpu=95, avail=GiB, swap=2 * 2**20) for m in (1, 2, 3)], table)
    assert types(e2) == ["CpuSaturated"]
    e3 = run([obs(T0 + timedelta(minutes=4), cpu=20)], table)
    assert sorted(types(e3)) == ["CpuSaturationEnded", "MemoryPressureRelieved", "SwappingStopped"]


def test_ids_are_deterministic_and_a_redelivered_sample_repeats_its_outputs() -> None:
    samples = [obs(T0, used=95 * GiB), obs(T0 + timedelta(minutes=1))]
    assert [e.id for e in run(samples)] == [e.id for e in run(samples)]
    table = MemoryTable()
    run(samples[:1], table)
    second = run(samples[1:], table)
    assert second and run(samples[1:], table) == second  # the latest again (at-least-once): its outputs
    assert run(samples[:1], table) == []  # an older one: decided before the latest
