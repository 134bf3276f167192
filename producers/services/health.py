"""HealthChecker (I/O): run the declared health checks (HTTP status, TCP connect, process) on an interval."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx
import psutil  # type: ignore[import-untyped]

from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.services import RAW_SERVICES, HealthCheckObserved

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SOURCE = "services.health"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CheckSpec:
    """One check as settings declare it, with the unit's auto-restart policy (passed on in every result)."""

    name: str
    unit: str
    kind: Literal["http", "tcp", "process"]
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    process: str = ""
    expect_status: int | None = None
    timeout: float = 2.0
    auto_restart: bool = False
    max_restarts: int = 3
    window_minutes: int = 30
    cooldown_seconds: int = 60


def run_check(spec: CheckSpec) -> tuple[bool, str]:
    """(healthy, detail) of one check, now. Never raises: a check that cannot run is unhealthy."""
    try:
        if spec.kind == "http":
            r = httpx.get(spec.url, timeout=spec.timeout, follow_redirects=False)
            ok = r.status_code == spec.expect_status if spec.expect_status else 200 <= r.status_code < 400
            return ok, f"HTTP {r.status_code}"
        if spec.kind == "tcp":
            with socket.create_connection((spec.host, spec.port), timeout=spec.timeout):
                return True, f"connected to {spec.host}:{spec.port}"
        if spec.kind == "process":
            for p in psutil.process_iter(["name", "cmdline"]):
                cmdline = " ".join(p.info.get("cmdline") or [])
                if p.info.get("name") == spec.process or (spec.process and spec.process in cmdline):
                    return True, f"process {spec.process!r} running (pid {p.pid})"
            return False, f"no process {spec.process!r}"
    except (httpx.HTTPError, OSError) as exc:
        return False, f"{type(exc).__name__}: {exc}"[:300]
    return False, f"unknown check kind {spec.kind!r}"


class HealthChecker:
    """Runs every check each `interval` seconds in a background thread (an HTTP check may take its whole
    timeout, and `poll` must not block); `poll` hands over the results gathered since the last poll."""

    def __init__(
        self, host: str, checks: Sequence[CheckSpec], *, interval: float = 30.0, clock: Clock = _now
    ) -> None:
        self.host = host
        self.topic = RAW_SERVICES
        self.name = "services:health"
        self.checks = tuple(checks)
        self.interval = interval
        self._clock = clock
        self._results: queue.SimpleQueue[HealthCheckObserved] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan_now(self) -> None:
        self._wake.set()

    def check_all(self) -> list[HealthCheckObserved]:
        out = []
        for spec in self.checks:
            healthy, detail = run_check(spec)
            out.append(
                HealthCheckObserved(
                    ts=self._clock(),
                    check=spec.name,
                    unit=spec.unit,
                    kind=spec.kind,
                    healthy=healthy,
                    detail=detail,
                    auto_restart=spec.auto_restart,
                    max_restarts=spec.max_restarts,
                    window_minutes=spec.window_minutes,
                    cooldown_seconds=spec.cooldown_seconds,
                )
            )
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            for result in self.check_all():
                self._results.put(result)
            self._wake.wait(self.interval)
            self._wake.clear()

    def poll(self, max_lines: int) -> Poll:
        if not self.checks:
            return Poll()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="watchman-health", daemon=True)
            self._thread.start()
        now = self._clock()
        out = Poll()
        while len(out.observations) < max_lines:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                break
            out.observations.append(raw_envelope(self.host, result, now))
        out.lines = len(out.observations)
        return out

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def raw_envelope(host: str, obs: HealthCheckObserved, observed_at: datetime) -> Envelope:
    return Envelope(
        id=event_id("raw", host, SOURCE, obs.check, obs.ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=observed_at,
        subject=obs.unit,
        payload=obs.model_dump(mode="json"),
    )
