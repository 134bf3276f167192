"""MetricsSampler (I/O): sum CPU, memory and IO of each systemd service's processes, on an interval."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from producers.services.cgroup import unit_of
from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.services import RAW_SERVICES, ServiceMetricsObserved

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SOURCE = "services.metrics"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Unit:
    cpu: float = 0.0
    rss: int = 0
    read: int | None = None
    write: int | None = None
    procs: int = 0
    oldest: tuple[float, int] | None = None
    pids: list[int] = field(default_factory=list)


class MetricsSampler:
    """Every `interval` seconds: one ServiceMetricsObserved per systemd service with processes.

    Processes are grouped by the service in their /proc/PID/cgroup. CPU% is psutil's per-process
    percentage since this sampler's previous sample (100 = one core), so the first sample of a new
    process counts 0. `units` limits sampling to those units (empty: every service).
    """

    def __init__(
        self,
        host: str,
        *,
        interval: float = 15.0,
        units: tuple[str, ...] = (),
        proc: Path = Path("/proc"),
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.topic = RAW_SERVICES
        self.name = "services:metrics"
        self.interval = interval
        self.units = frozenset(units)
        self.proc = proc
        self._clock = clock
        self._next_at: datetime | None = None
        # Kept between samples: psutil computes cpu_percent against the previous call on the same object.
        self._procs: dict[int, psutil.Process] = {}

    def scan_now(self) -> None:
        self._next_at = None

    def _unit(self, pid: int) -> str | None:
        try:
            return unit_of((self.proc / str(pid) / "cgroup").read_text())
        except OSError:
            return None

    def sample(self) -> list[ServiceMetricsObserved]:
        now = self._clock()
        units: dict[str, _Unit] = {}
        alive: dict[int, psutil.Process] = {}
        for pid in psutil.pids():
            unit = self._unit(pid)
            if unit is None or (self.units and unit not in self.units):
                continue
            p = self._procs.get(pid)
            try:
                if p is None:
                    p = psutil.Process(pid)
                with p.oneshot():
                    cpu = p.cpu_percent(None)
                    rss = p.memory_info().rss
                    created = p.create_time()
                    try:
                        io = p.io_counters()
                        read, write = io.read_bytes, io.write_bytes
                    except (psutil.AccessDenied, AttributeError, NotImplementedError):
                        read = write = None
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            alive[pid] = p
            u = units.setdefault(unit, _Unit())
            u.cpu += cpu
            u.rss += rss
            if read is not None:
                u.read = (u.read or 0) + read
            if write is not None:
                u.write = (u.write or 0) + write
            u.procs += 1
            if u.oldest is None or (created, pid) < u.oldest:
                u.oldest = (created, pid)
        self._procs = alive
        return [
            ServiceMetricsObserved(
                ts=now,
                unit=name,
                cpu_percent=round(u.cpu, 2),
                rss_bytes=u.rss,
                io_read_bytes=u.read,
                io_write_bytes=u.write,
                processes=u.procs,
                main_pid=u.oldest[1] if u.oldest else None,
            )
            for name, u in sorted(units.items())
        ]

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return Poll()
        self._next_at = now + timedelta(seconds=self.interval)
        samples = self.sample()[:max_lines]
        return Poll(observations=[raw_envelope(self.host, s, now) for s in samples], lines=len(samples))

    def close(self) -> None:
        self._procs.clear()


def raw_envelope(host: str, obs: ServiceMetricsObserved, observed_at: datetime) -> Envelope:
    """Samples are moments, not positions: the id is the unit and the sample time."""
    return Envelope(
        id=event_id("raw", host, SOURCE, obs.unit, obs.ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=observed_at,
        subject=obs.unit,
        payload=obs.model_dump(mode="json"),
    )
