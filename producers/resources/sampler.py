"""HostSampler (I/O): one psutil sample of the whole host every `interval` seconds."""

from __future__ import annotations

import logging
import os
import pwd
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil  # type: ignore[import-untyped]

from producers.resources.filters import is_real_filesystem, real_interfaces, whole_disks
from producers.resources.gpu import load_nvml, read_gpus
from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.resources import (
    RAW_RESOURCES,
    FilesystemSample,
    GpuSample,
    HostMetricsObserved,
    ProcessSample,
    RateSample,
    ResourceLimits,
    TemperatureSample,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SOURCE = "resources.host"
DEFAULT_LIMITS = ResourceLimits()


def _now() -> datetime:
    return datetime.now(UTC)


def _rates(
    now: dict[str, tuple[int, int]], before: dict[str, tuple[int, int]], seconds: float
) -> tuple[RateSample, ...]:
    """Per-second rates of counters since the previous sample; a counter that went back (a reset, a
    re-plugged device) or a first sample gives no rate this time."""
    out = []
    for name, (a, b) in sorted(now.items()):
        prev = before.get(name)
        if prev is None or seconds <= 0 or a < prev[0] or b < prev[1]:
            continue
        out.append(
            RateSample(
                name=name,
                read_bps=round((a - prev[0]) / seconds, 1),
                write_bps=round((b - prev[1]) / seconds, 1),
            )
        )
    return tuple(out)


class HostSampler:
    """Every `interval` seconds: one HostMetricsObserved.

    CPU percentages and rates are since this sampler's previous sample (the first sample's CPU is
    psutil's since import, its rates absent). `mounts` limits filesystems to those mount points (any
    type, tmpfs included); empty means every real filesystem, one mount point per filesystem.
    `nvml` is the NVML module to ask (tests give a stand-in); None looks for pynvml once.
    """

    def __init__(
        self,
        host: str,
        *,
        interval: float = 60.0,
        limits: ResourceLimits = DEFAULT_LIMITS,
        mounts: tuple[str, ...] = (),
        top: int = 5,
        clock: Clock = _now,
        nvml: Any | None = None,
        gpu: bool = True,
    ) -> None:
        self.host = host
        self.topic = RAW_RESOURCES
        self.name = "resources:host"
        self.interval = interval
        self.limits = limits
        self.mounts = mounts
        self.top = top
        self._clock = clock
        self._next_at: datetime | None = None
        self._prev_at: datetime | None = None
        self._disks: dict[str, tuple[int, int]] = {}
        self._nics: dict[str, tuple[int, int]] = {}
        self._swap: tuple[int, int] | None = None
        self._procs: dict[int, psutil.Process] = {}
        self._users: dict[int, str] = {}
        self._nvml = nvml if nvml is not None else (load_nvml() if gpu else None)
        psutil.cpu_percent(percpu=True)  # start psutil's CPU interval now

    def scan_now(self) -> None:
        self._next_at = None

    # -- the parts of a sample ----------------------------------------------------------------------

    def _filesystems(self) -> tuple[FilesystemSample, ...]:
        seen: set[int] = set()
        out = []
        parts = psutil.disk_partitions(all=True)
        wanted = set(self.mounts)
        # Shortest mount point first: of a filesystem mounted twice (a bind mount), its main one is kept.
        for part in sorted(parts, key=lambda p: (len(p.mountpoint), p.mountpoint)):
            if wanted:
                if part.mountpoint not in wanted:
                    continue
            elif not is_real_filesystem(part.fstype):
                continue
            try:
                st = os.stat(part.mountpoint)
                if st.st_dev in seen:
                    continue
                usage = psutil.disk_usage(part.mountpoint)
                vfs = os.statvfs(part.mountpoint)
            except OSError:
                continue
            seen.add(st.st_dev)
            out.append(
                FilesystemSample(
                    mount=part.mountpoint,
                    device=part.device,
                    fstype=part.fstype,
                    total_bytes=usage.total,
                    used_bytes=usage.used,
                    free_bytes=usage.free,
                    used_percent=round(usage.percent, 2),
                    inodes_total=vfs.f_files or None,
                    inodes_used=(vfs.f_files - vfs.f_ffree) if vfs.f_files else None,
                )
            )
        return tuple(sorted(out, key=lambda f: f.mount))

    def _top(self) -> tuple[ProcessSample, ...]:
        """The `top` processes by CPU and the `top` by memory (one list, CPU first).

        Every process costs one read of /proc/PID/stat and one of statm; name and user are read only
        for the few picked (a user name lookup per process was most of a sample's time)."""
        if self.top <= 0:
            return ()
        alive: dict[int, psutil.Process] = {}
        rows: list[tuple[float, int, int]] = []
        for pid in psutil.pids():
            p = self._procs.get(pid)
            try:
                if p is None:
                    p = psutil.Process(pid)
                cpu = p.cpu_percent(None)
                rss = p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            alive[pid] = p
            rows.append((round(cpu, 1), rss, pid))
        self._procs = alive
        by_cpu = sorted(rows, key=lambda r: (-r[0], -r[1], r[2]))[: self.top]
        by_rss = sorted(rows, key=lambda r: (-r[1], r[2]))[: self.top]
        out = []
        for cpu, rss, pid in sorted(set(by_cpu) | set(by_rss), key=lambda r: (-r[0], -r[1], r[2])):
            p = alive[pid]
            try:
                name = p.name()
                uid = p.uids().real
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            out.append(
                ProcessSample(pid=pid, name=name, user=self._user(uid), cpu_percent=cpu, rss_bytes=rss)
            )
        return tuple(out)

    def _user(self, uid: int) -> str:
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            self._users[uid] = name
        return name

    def _temperatures(self) -> tuple[TemperatureSample, ...]:
        read = getattr(psutil, "sensors_temperatures", None)
        if read is None:
            return ()
        try:
            chips = read()
        except (OSError, RuntimeError):
            return ()
        out = []
        for chip, sensors in sorted(chips.items()):
            current = [s.current for s in sensors if s.current is not None]
            if current:  # the hottest sensor of each chip: one series per chip
                out.append(TemperatureSample(sensor=chip, celsius=round(max(current), 1)))
        return tuple(out)

    def _gpus(self) -> tuple[GpuSample, ...]:
        return read_gpus(self._nvml) if self._nvml is not None else ()

    def sample(self) -> HostMetricsObserved:
        now = self._clock()
        seconds = (now - self._prev_at).total_seconds() if self._prev_at is not None else 0.0
        self._prev_at = now
        cores = tuple(round(c, 1) for c in psutil.cpu_percent(percpu=True))
        load1, load5, load15 = os.getloadavg()
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        swap_in = swap_out = 0.0
        if self._swap is not None and seconds > 0 and sw.sin >= self._swap[0] and sw.sout >= self._swap[1]:
            swap_in = (sw.sin - self._swap[0]) / seconds
            swap_out = (sw.sout - self._swap[1]) / seconds
        self._swap = (sw.sin, sw.sout)
        io = psutil.disk_io_counters(perdisk=True) or {}
        disks = {n: (io[n].read_bytes, io[n].write_bytes) for n in whole_disks(io)}
        net = psutil.net_io_counters(pernic=True) or {}
        nics = {n: (net[n].bytes_recv, net[n].bytes_sent) for n in real_interfaces(net)}
        disk_rates, nic_rates = _rates(disks, self._disks, seconds), _rates(nics, self._nics, seconds)
        self._disks, self._nics = disks, nics
        return HostMetricsObserved(
            ts=now,
            interval_seconds=self.interval,
            cpu_percent=round(sum(cores) / len(cores), 1) if cores else 0.0,
            cpu_per_core=cores,
            load1=round(load1, 2),
            load5=round(load5, 2),
            load15=round(load15, 2),
            memory_total_bytes=vm.total,
            memory_used_bytes=vm.used,
            memory_available_bytes=vm.available,
            memory_cached_bytes=getattr(vm, "cached", 0),
            memory_free_bytes=vm.free,
            swap_total_bytes=sw.total,
            swap_used_bytes=sw.used,
            swap_in_bps=round(swap_in, 1),
            swap_out_bps=round(swap_out, 1),
            filesystems=self._filesystems(),
            disks=disk_rates,
            interfaces=nic_rates,
            temperatures=self._temperatures(),
            top_processes=self._top(),
            gpus=self._gpus(),
            limits=self.limits,
        )

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return Poll()
        self._next_at = now + timedelta(seconds=self.interval)
        obs = self.sample()
        return Poll(observations=[raw_envelope(self.host, obs, now)], lines=1)

    def close(self) -> None:
        self._procs.clear()


def raw_envelope(host: str, obs: HostMetricsObserved, observed_at: datetime) -> Envelope:
    """A sample is a moment, not a position: its id is the host and the sample time."""
    return Envelope(
        id=event_id("raw", host, SOURCE, obs.ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=observed_at,
        subject="host",
        payload=obs.model_dump(mode="json"),
    )
