"""Service metrics from /proc grouped by a real cgroup, health checks against real local servers, and the
auto-restart policy through the real RestartService executor (with a stand-in systemctl, see below)."""

from __future__ import annotations

import http.server
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.services.health import CheckSpec, HealthChecker, run_check
from producers.services.metrics import MetricsSampler
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandRejected, CommandSucceeded, RestartService, decode_payload
from schemas.events.commands import COMMANDS
from schemas.events.services import RAW_SERVICES
from watchman.executors import EXECUTORS, ExecContext
from watchman.executors.systemd import reset_rate_limit

ROUTE = next(r for r in ROUTES if r.source == RAW_SERVICES)
CGROUP_ROOT = Path("/sys/fs/cgroup/systemd")


@pytest.fixture
def service_unit() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """Two processes of the test placed in a real cgroup named like a systemd service, as systemd would.

    systemd is not PID 1 here, so the test creates the cgroup itself in the named `systemd` hierarchy
    (or the unified one on a cgroup-v2-only machine)."""
    unit = f"wmtest-{uuid.uuid4().hex[:8]}.service"
    base = CGROUP_ROOT if CGROUP_ROOT.is_dir() else Path("/sys/fs/cgroup")
    group = base / "watchman-test.slice" / unit
    group.mkdir(parents=True)
    busy = "import time\nend = time.time() + 120\nwhile time.time() < end: pass\n"
    procs = [
        subprocess.Popen([sys.executable, "-c", busy]),
        subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(30_000_000); time.sleep(120)"]),
    ]
    try:
        for p in procs:
            (group / "cgroup.procs").write_text(str(p.pid))
        yield unit, procs
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
        for _ in range(50):
            try:
                group.rmdir()
                group.parent.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def test_sampler_groups_processes_by_their_service_cgroup(
    service_unit: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    unit, procs = service_unit
    sampler = MetricsSampler("h", interval=0.01, units=(unit,))
    first = sampler.sample()
    time.sleep(0.5)
    second = sampler.sample()
    assert [s.unit for s in first] == [unit] == [s.unit for s in second]
    s = second[0]
    assert s.processes == 2
    assert s.rss_bytes > 30_000_000  # the second process holds 30 MB
    assert s.cpu_percent > 0  # the first one spins
    assert s.main_pid in {p.pid for p in procs}
    # an unfiltered sampler sees it too, among whatever else runs in a service here
    assert unit in {x.unit for x in MetricsSampler("h").sample()}

    # sampled -> decided (downsampled) -> graph -> the catalog's questions
    raws = []
    for _ in range(3):
        time.sleep(0.3)  # psutil's CPU% is measured between two samples
        raws += sampler.poll(100).observations
        sampler.scan_now()
    assert len(raws) == 3
    table = MemoryTable()
    events = [o for raw in raws for o in ROUTE.handle(raw.to_json(), table)]
    ops = [
        op
        for e in events
        for op in PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    ]
    with LadybugStore(tmp_path / "graph") as store:
        store.ensure_schema()
        store.apply(ops, {})
        cypher, params = resolve("service-memory", {"service": unit, "hours": 1}, datetime.now(UTC))
        rows = store.query(cypher, params).dicts()
        assert 1 <= len(rows) <= 2  # one row per minute the three samples fell into
        assert all(r["rss_bytes"] > 30_000_000 for r in rows)
        cypher, params = resolve("services-high-cpu", {"threshold": 0}, datetime.now(UTC))
        assert unit in [r["service"] for r in store.query(cypher, params).dicts()]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_checks_against_real_servers_and_processes(http_server: int) -> None:
    port = http_server
    assert run_check(CheckSpec("a", "web.service", "http", url=f"http://127.0.0.1:{port}/ok")) == (
        True,
        "HTTP 200",
    )
    assert run_check(CheckSpec("b", "web.service", "http", url=f"http://127.0.0.1:{port}/bad")) == (
        False,
        "HTTP 503",
    )
    assert run_check(
        CheckSpec("c", "web.service", "http", url=f"http://127.0.0.1:{port}/bad", expect_status=503)
    )[0]
    assert run_check(CheckSpec("d", "web.service", "tcp", port=port))[0]
    closed = run_check(CheckSpec("e", "db.service", "tcp", port=_free_port(), timeout=1))
    assert not closed[0] and "ConnectionRefused" in closed[1]
    down = run_check(
        CheckSpec("f", "web.service", "http", url=f"http://127.0.0.1:{_free_port()}/", timeout=1)
    )
    assert not down[0]
    marker = f"watchman-health-{uuid.uuid4().hex}"
    proc = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(60)", marker])
    try:
        assert run_check(CheckSpec("g", "x.service", "process", process=marker))[0]
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert not run_check(CheckSpec("h", "x.service", "process", process=marker))[0]


def _stand_in_systemctl(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    """systemd cannot run here (not PID 1): this script stands in for systemctl and records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    record = tmp_path / "systemctl.calls"
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$@" >> {record}\necho "stand-in failed" >&2\nexit {exit_code}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir, record


def _ctx(systemd_dir: Path, **options: object) -> ExecContext:
    return ExecContext(
        host="h",
        sources=[],
        now=lambda: datetime.now(UTC),
        options={RestartService.TYPE: {"systemd_dir": str(systemd_dir), **options}},
    )


def _execute(cmd: Envelope, ctx: ExecContext) -> tuple[type, str]:
    payload = decode_payload(cmd.type, cmd.schema_version, cmd.payload)
    assert isinstance(payload, RestartService)
    return EXECUTORS[RestartService.TYPE](cmd, payload, ctx)


def test_unhealthy_service_with_auto_restart_is_restarted_by_the_executor(
    http_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_rate_limit()
    bin_dir, record = _stand_in_systemctl(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    systemd_dir = tmp_path / "run-systemd-system"
    systemd_dir.mkdir()
    spec = CheckSpec(
        "web",
        "web.service",
        "http",
        url=f"http://127.0.0.1:{http_server}/bad",
        auto_restart=True,
        max_restarts=2,
        window_minutes=30,
        cooldown_seconds=0,
    )
    checker = HealthChecker("h", [spec], interval=3600)
    raws: list[Envelope] = []
    try:
        deadline = time.monotonic() + 30
        while len(raws) < 3 and time.monotonic() < deadline:
            got = checker.poll(100).observations
            raws += got
            if got:
                checker.scan_now()
            time.sleep(0.05)
    finally:
        checker.close()
    assert len(raws) >= 3 and not any(r.payload["healthy"] for r in raws)
    table = MemoryTable()
    outs = [o for raw in raws[:3] for o in ROUTE.handle(raw.to_json(), table)]
    commands = [o for o in outs if ROUTE.sink_for(o) == COMMANDS]
    assert len(commands) == 2  # max_restarts
    assert [o.type for o in outs].count("AutoRestartSuppressed") == 1

    ctx = _ctx(systemd_dir, max_restarts=1, window_minutes=30)
    assert _execute(commands[0], ctx) == (CommandSucceeded, "restarted web.service")
    assert record.read_text().split("\n")[0] == "restart -- web.service"
    # the executor's own limit (1 here) holds whoever issued the command
    status, detail = _execute(commands[1], ctx)
    assert status is CommandRejected and "rate limit" in detail
    assert len(record.read_text().splitlines()) == 1


def test_executor_refuses_without_systemd_and_reports_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_rate_limit()
    bin_dir, record = _stand_in_systemctl(tmp_path, exit_code=5)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    from schemas.events import command_envelope

    def cmd(unit: str) -> Envelope:
        return command_envelope(
            RestartService(unit=unit, issued_by="test"),
            host="h",
            source="t",
            issued_at=datetime.now(UTC),
            dedup_key=unit,
        )

    status, detail = _execute(cmd("web.service"), _ctx(tmp_path / "absent"))
    assert status is CommandRejected and "systemd is not running" in detail
    present = tmp_path / "present"
    present.mkdir()
    status, detail = _execute(cmd("web.service"), _ctx(present))
    assert status is CommandFailed and "exited 5" in detail and "stand-in failed" in detail
    status, detail = _execute(cmd("--now; rm -rf /"), _ctx(present))
    assert status is CommandRejected and "not a unit name" in detail
    status, _ = _execute(cmd("web.service"), _ctx(present, allowed=False))
    assert status is CommandRejected
    assert len(record.read_text().splitlines()) == 1
