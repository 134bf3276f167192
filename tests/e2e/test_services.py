"""End to end through the real CLI: a real journal directory and a real HTTP health check become answers
to the services and security questions, in the embedded deployment and in the distributed one (Kafka, a
Faust worker, Neo4j from infra/), which must give the same answers."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import journal as j
from tests.support.instance import Instance
from tests.support.journal import Entries, build_journal

# The distributed test resets the infra/ servers: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers


def _now() -> datetime:
    # At call time, not import time: the catalog's windows ("last hour", "today") are relative to the
    # query, and a full suite may reach these tests long after collection.
    return datetime.now(UTC).replace(microsecond=0)


def _start() -> datetime:
    """Entries of "today" (the service-logs and sudo-by-user defaults), and within the last hour."""
    now = _now()
    return max(now - timedelta(minutes=30), now.replace(hour=0, minute=0, second=0))


def history(start: datetime) -> Entries:
    e = Entries()
    t = start
    e.systemd(
        t,
        "Started nginx.service - web server.",
        "nginx.service",
        j.UNIT_STARTED,
        JOB_TYPE="start",
        JOB_RESULT="done",
    )
    for i in range(30):
        e.service_log(
            t + timedelta(seconds=i),
            "nginx.service",
            f"[error] upstream timed out {i}" if i % 3 == 0 else f"GET /{i} 200",
            priority=3 if i % 3 == 0 else 6,
        )
    e.systemd(
        t + timedelta(seconds=40),
        "nginx.service: Main process exited, code=killed, status=9/KILL",
        "nginx.service",
        j.UNIT_PROCESS_EXIT,
        EXIT_CODE="killed",
        EXIT_STATUS="9",
    )
    e.systemd(
        t + timedelta(seconds=40),
        "nginx.service: Failed with result 'signal'.",
        "nginx.service",
        j.UNIT_RESULT,
        UNIT_RESULT="signal",
    )
    e.systemd(
        t + timedelta(seconds=41),
        "nginx.service: Scheduled restart job, restart counter is at 1.",
        "nginx.service",
        j.UNIT_RESTART_SCHEDULED,
        N_RESTARTS=1,
    )
    for i, ip in enumerate(["203.0.113.5", "203.0.113.5", "203.0.113.5", "198.51.100.9"]):
        e.auth(
            t + timedelta(seconds=50 + i),
            "sshd",
            f"Failed password for root from {ip} port {40000 + i} ssh2",
            unit="ssh.service",
            pid=800 + i,
        )
    e.auth(
        t + timedelta(seconds=60),
        "sshd",
        "Accepted publickey for alice from 192.0.2.4 port 41000 ssh2",
        unit="ssh.service",
        pid=900,
    )
    e.auth(
        t + timedelta(seconds=61),
        "sudo",
        "alice : TTY=pts/0 ; PWD=/srv ; USER=root ; COMMAND=/usr/bin/tail /var/log/nginx/error.log",
        unit="session-4.scope",
        pid=901,
    )
    return e


def journald_config(inst: Instance, journal_dir: Path, extra: str = "") -> None:
    """Point the instance at `journal_dir`, replacing any [journald]/[services] tables it already has."""
    kept: list[str] = []
    skipping = False
    for row in inst.config.read_text().splitlines():
        if row.startswith("["):
            skipping = row.strip("[] ").split(".")[0] in ("journald", "services")
        if not skipping:
            kept.append(row)
    inst.config.write_text("\n".join(kept) + "\n")
    with inst.config.open("a") as f:
        f.write(
            "[journald]\n"
            f'directories = ["{journal_dir}"]\n'
            "[services]\n"
            "metrics_enabled = false\n"
            "health_interval = 0.2\n" + extra
        )


def wait_for(
    inst: Instance, *args: str, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = inst.query(*args)
        if until(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"{args}: no answer in {timeout}s; last rows {rows}\n{inst.daemon_log()}")


class _Unhealthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def unhealthy_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unhealthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_journal_and_health_checks_answer_the_service_questions(
    instance: Instance, tmp_path: Path, unhealthy_server: int
) -> None:
    journal_dir = tmp_path / "journal"
    path = build_journal(journal_dir / "system.journal", history(_start()))
    journald_config(
        instance,
        journal_dir,
        "[services.auto_restart]\nmax_restarts = 1\ncooldown_seconds = 0\n"
        "[[services.health_checks]]\n"
        'name = "web"\nunit = "web.service"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{unhealthy_server}/health"\nauto_restart = true\n',
    )
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        logs = wait_for(instance, "service-logs", "-p", "service=nginx", until=lambda r: len(r) == 10)
        assert all(r["level"] == "error" and "upstream timed out" in r["message"] for r in logs)
        restarted = wait_for(instance, "services-restarted", until=bool)
        nginx = [r for r in restarted if r["service"] == "nginx.service"]
        assert [(r["restart_counter"], r["state"]) for r in nginx] == [(1, "failed")]
        by_ip = instance.query("failed-logins-by-ip")
        assert [(r["source_ip"], r["attempts"]) for r in by_ip] == [("203.0.113.5", 3), ("198.51.100.9", 1)]
        sudo = instance.query("sudo-by-user")
        assert [(r["user"], r["target_user"], r["command"]) for r in sudo] == [
            ("alice", "root", "/usr/bin/tail /var/log/nginx/error.log")
        ]
        failed = instance.query(
            "MATCH (e:Event)-[:ACTED_ON]->(s:Service) WHERE e.type = 'ServiceFailed' "
            "RETURN e.summary AS summary"
        )
        assert len(failed) == 1 and "signal" in failed[0]["summary"]

        # the journal grows while the daemon runs
        later = Entries()
        later.service_log(_now(), "nginx.service", "[error] appended while running", priority=3)
        build_journal(path, later)
        wait_for(
            instance,
            "service-logs",
            "-p",
            "service=nginx",
            until=lambda r: any(x["message"] == "[error] appended while running" for x in r),
        )

        # the unhealthy web.service: health changed, a restart issued (once: max_restarts = 1) and audited,
        # and the command's outcome recorded (rejected here, where systemd is not PID 1)
        health = wait_for(
            instance,
            "MATCH (s:Service) WHERE s.name = 'web.service' RETURN s.health_status AS status",
            until=lambda r: bool(r) and r[0]["status"] == "unhealthy",
        )
        assert health
        audits = wait_for(
            instance,
            "MATCH (e:Event)-[:ACTED_ON]->(s:Service) WHERE s.name = 'web.service' "
            "AND e.type IN ['AutoRestartIssued', 'AutoRestartSuppressed'] "
            "RETURN e.type AS type ORDER BY e.ts",
            until=lambda r: len(r) >= 2,
        )
        assert [r["type"] for r in audits][:2] == ["AutoRestartIssued", "AutoRestartSuppressed"]
        commands = wait_for(
            instance,
            "MATCH (c:Command) WHERE c.type = 'RestartService' RETURN c.status AS status, c.detail AS detail",
            until=bool,
        )
        assert len(commands) == 1 and commands[0]["status"] in ("rejected", "failed")
    finally:
        assert instance.stop(proc) == 0


def test_a_restarted_daemon_reads_on_from_its_cursor(instance: Instance, tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    path = build_journal(journal_dir / "system.journal", history(_start()))
    journald_config(instance, journal_dir)
    instance.cli("run", "--once")
    first = instance.query("MATCH (l:LogEvent) RETURN count(l) AS n")[0]["n"]
    later = Entries()
    later.service_log(_now(), "nginx.service", "[error] after the restart", priority=3)
    build_journal(path, later)
    instance.cli("run", "--once")
    assert instance.query("MATCH (l:LogEvent) RETURN count(l) AS n")[0]["n"] == first + 1
    assert len(instance.query("failed-logins-by-ip")) == 2  # nothing read twice
    assert instance.query("MATCH (l:Login) RETURN count(l) AS n")[0]["n"] == 5


QUESTIONS = [
    ("service-logs", "-p", "service=nginx"),
    ("services-restarted",),
    ("failed-logins-by-ip",),
    ("sudo-by-user",),
]


def test_distributed_answers_the_same_as_embedded(tmp_path: Path) -> None:
    from tests.e2e.test_distributed import KAFKA, NEO4J, NEO4J_USER, _stop, reset_servers

    reset_servers()
    journal_dir = tmp_path / "journal"
    build_journal(journal_dir / "system.journal", history(_start()))
    emb = Instance(tmp_path / "embedded")
    emb.write_config()
    journald_config(emb, journal_dir)
    emb.cli("run", "--once")
    expected = {" ".join(q): emb.query(*q) for q in QUESTIONS}
    assert all(expected.values()), expected

    dist = Instance(tmp_path / "distributed")
    dist.write_config(bus=f"kafka://{KAFKA}", graph=NEO4J, neo4j_user=NEO4J_USER)
    journald_config(dist, journal_dir)
    worker = dist.start("worker")
    answers: dict[str, list[dict[str, Any]]] = {}
    try:
        dist.cli("produce", "--once")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert worker.poll() is None, dist.daemon_log("worker")
            dist.cli("project", "--once")
            answers = {" ".join(q): dist.query(*q) for q in QUESTIONS}
            if answers == expected:
                break
            time.sleep(1)
    finally:
        _stop(worker)
    assert answers == expected, dist.daemon_log("worker")
