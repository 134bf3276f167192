"""The distributed deployment end to end on the real servers from infra/ (Kafka 4, Neo4j 5.26):
package log lines -> produce -> Kafka -> Faust worker -> Kafka -> project -> Neo4j -> named queries,
compared with the embedded deployment on the same input; and the same under faults."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.histories import History, generate, write
from tests.support.instance import Instance
from tests.support.kafka import delete_topics

# Resets or shares state on the infra/ servers: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "infra" / "services"
KAFKA = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")
NEO4J = os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687")
NEO4J_USER = os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j")
NEO4J_PASSWORD = os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password")

QUESTIONS = [
    ("installed-this-week",),
    ("last-updated", "-p", "name=pkg1"),
    ("python-packages-installed",),
    ("recent-changes", "-p", "days=60"),
    ("installed-software",),
    ("package-history", "-p", "name=pkg1"),
]


def reset_servers() -> None:
    """Fresh topics (ours and Faust's changelogs, all prefixed `watchman`) and an empty Neo4j."""
    from projections.stores.neo4j import Neo4jStore

    delete_topics(KAFKA, "watchman")
    with Neo4jStore(NEO4J, NEO4J_USER, NEO4J_PASSWORD) as store:
        store.wipe(confirm=True)


def _instance(root: Path, h: History) -> Instance:
    inst = Instance(root)
    inst.write_config(bus=f"kafka://{KAFKA}", graph=NEO4J, neo4j_user=NEO4J_USER, batch_size=500)
    write(h, inst.apt_log, inst.dpkg_log)
    return inst


def _embedded(root: Path, h: History) -> Instance:
    inst = Instance(root)
    inst.write_config(batch_size=500)
    write(h, inst.apt_log, inst.dpkg_log)
    inst.cli("run", "--once")
    return inst


def _event_count(inst: Instance) -> int:
    rows = inst.query("MATCH (e:Event) RETURN count(e) AS n")
    return int(rows[0]["n"])


def _wait_until_projected(inst: Instance, expected: int, timeout: float, supervise: Any = None) -> None:
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        if supervise:
            supervise()
        n = _event_count(inst)
        if n >= expected:
            return
        time.sleep(1)
    logs = "\n".join(f"--- {name}\n{inst.daemon_log(name)}" for name in ("worker", "project", "produce"))
    raise AssertionError(f"{n} of {expected} events in Neo4j after {timeout}s\n{logs}")


def _answers(inst: Instance) -> dict[str, list[dict[str, Any]]]:
    return {" ".join(q): inst.query(*q) for q in QUESTIONS}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def recent_history() -> History:
    return generate(250, start=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=12), seed=21)


def test_distributed_gives_the_same_answers_as_embedded(tmp_path: Path, recent_history: History) -> None:
    reset_servers()
    emb = _embedded(tmp_path / "embedded", recent_history)
    dist = _instance(tmp_path / "distributed", recent_history)
    worker = dist.start("worker")
    try:
        dist.cli("produce", "--once")
        expected = _event_count(emb)
        deadline = time.monotonic() + 180
        while _event_count(dist) < expected and time.monotonic() < deadline:
            assert worker.poll() is None, dist.daemon_log("worker")
            dist.cli("project", "--once")
            time.sleep(0.5)
    finally:
        _stop(worker)
    # The worker says when it starts and stops (a user running it by hand sees it is up).
    assert "worker: started for host" in dist.daemon_log("worker")
    assert "worker: stopped" in dist.daemon_log("worker")
    assert _event_count(dist) == expected
    status = orjson.loads(dist.cli("status", "--json").stdout)
    assert status["deployment"] == "distributed"
    lag = {
        f"{name}/{p}": end
        for name, meta in status["topics"].items()
        if name.startswith("watchman.events.")
        for p, end in meta["end_offsets"].items()
        if end
    }
    positions = dist.query("MATCH (p:_Position) RETURN p.name AS name, p.offset AS offset")
    assert status["graph_lag"] == 0, f"end offsets {lag}; graph positions {positions}"
    # What the README calls caught up: every consumer at lag 0.
    assert status["consumers"] and all(c["lag"] == 0 for c in status["consumers"].values())
    assert status["spooled"] == 0
    assert status["topics"]["watchman.raw.packages"]["records"] > 0
    assert dist.graph_dump() == emb.graph_dump()
    answers = _answers(dist)
    assert answers == _answers(emb)
    assert all(answers[k] for k in answers), "every question should have an answer on this history"


def test_kafka_console_consumer_reads_our_json(tmp_path: Path, recent_history: History) -> None:
    reset_servers()
    dist = _instance(tmp_path / "d", recent_history)
    dist.cli("produce", "--once")
    proc = subprocess.run(
        [
            str(SERVICES),
            "kafka-run",
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            KAFKA,
            "--topic",
            "watchman.raw.packages",
            "--from-beginning",
            "--max-messages",
            "5",
            "--timeout-ms",
            "30000",
            "--formatter-property",
            "print.key=true",
            "--formatter-property",
            "print.headers=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 5, proc.stderr[-2000:]
    for line in lines:
        headers, key, value = line.split("\t", 2)
        assert "type:PackageChangeObserved" in headers
        event = orjson.loads(value)
        assert key == f"{event['host']}/{event['subject']}"
        assert event["payload"]["package"] == event["subject"]


@pytest.mark.slow
def test_kills_and_a_kafka_outage_leave_the_graph_as_a_clean_run(tmp_path: Path) -> None:
    h = generate(1500, start=datetime(2024, 1, 1), seed=5)
    reset_servers()
    expected = _embedded(tmp_path / "embedded", h)
    want = _event_count(expected)
    dist = _instance(tmp_path / "distributed", h)
    procs = {name: dist.start(name) for name in ("worker", "project", "produce")}

    def supervise() -> None:
        """Restart what died, as systemd or compose would."""
        for name, proc in procs.items():
            if proc.poll() is not None:
                procs[name] = dist.start(name)

    rng = random.Random(9)
    try:
        time.sleep(rng.uniform(4, 8))
        for name in ("worker", "project", "worker", "project"):
            procs[name].send_signal(signal.SIGKILL)
            procs[name].wait()
            time.sleep(rng.uniform(1, 3))
            supervise()
        # Kafka away for 30 s mid-stream: the producer spools, the others wait and resume
        subprocess.run([str(SERVICES), "down", "kafka", "--keep"], check=True, timeout=120)
        with dist.apt_log.open("a") as f:  # new history arrives during the outage
            extra = generate(60, start=datetime(2025, 6, 1), seed=99)
            f.write("\n".join(extra.apt) + "\n")
        with dist.dpkg_log.open("a") as f:
            f.write("\n".join(extra.dpkg) + "\n")
        with expected.apt_log.open("a") as f:
            f.write("\n".join(extra.apt) + "\n")
        with expected.dpkg_log.open("a") as f:
            f.write("\n".join(extra.dpkg) + "\n")
        time.sleep(30)
        subprocess.run([str(SERVICES), "up", "kafka"], check=True, timeout=300)
        expected.cli("run", "--once")
        want = _event_count(expected)
        _wait_until_projected(dist, want, timeout=600, supervise=supervise)
        time.sleep(3)  # anything still in flight would show as a surplus now
    finally:
        for proc in procs.values():
            _stop(proc)
        # Kafka up again whatever failed above: the tests after this one need it (idempotent).
        subprocess.run([str(SERVICES), "up", "kafka"], check=False, timeout=300)
    got, clean = dist.graph_dump(), expected.graph_dump()
    assert got["counts"] == clean["counts"]
    assert got["software"] == clean["software"]
    # Which twin (apt or dpkg) came first may differ when lines arrive mid-read, and with it the
    # event id (see docs/architecture.md); the events themselves must be the same, none doubled.
    assert _without_ids(got["events"]) == _without_ids(clean["events"])
    assert len({e["id"] for e in got["events"]}) == len(got["events"])


def _without_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [{k: v for k, v in e.items() if k != "id"} for e in events]
    return sorted(rows, key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS))


def _api_url(inst: Instance, role: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> str:
    path = inst.data_dir / f"api-{role}.url"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, inst.daemon_log(
            {"producer": "produce", "projector": "project"}.get(role, role)
        )
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.2)
    raise AssertionError(f"no {path} after {timeout}s")


def test_admin_api_commands_travel_through_kafka_to_the_producer(tmp_path: Path) -> None:
    """POST /admin/scan on the projector's API -> watchman.commands on Kafka -> the producer of that host
    runs it -> the outcome goes through its spool to watchman.events.commands -> the projector -> Neo4j
    -> GET /admin/commands/{id} on the projector's API says succeeded."""
    import httpx

    reset_servers()
    dist = _instance(tmp_path, generate(5, start=datetime(2024, 5, 1), seed=2))
    # A Homebrew prefix that exists, so the scan has a scanner to run (missing paths are skipped).
    (dist.brew_prefix / "Cellar").mkdir(parents=True)
    dist.cli("token", "show")  # one token for the three processes of this data directory
    procs = {name: dist.start(name) for name in ("project", "produce")}
    try:
        projector = _api_url(dist, "projector", procs["project"])
        producer = _api_url(dist, "producer", procs["produce"])
        headers = {"Authorization": f"Bearer {(dist.data_dir / 'api.token').read_text().strip()}"}
        with httpx.Client(headers=headers, timeout=30) as c:
            health = c.get(producer + "/health").json()
            assert (health["role"], health["deployment"]) == ("producer", "distributed")
            # The producer has no graph: queries are the projector's.
            assert c.post(producer + "/query", json={"name": "installed-software"}).status_code == 503
            accepted = c.post(projector + "/admin/scan", json={"idempotency_key": "dist-1"})
            assert accepted.status_code == 202, accepted.text
            status_url = projector + accepted.json()["status_url"]
            assert c.get(status_url).json()["status"] == "pending"
            deadline = time.monotonic() + 120
            state: dict[str, Any] = {}
            while time.monotonic() < deadline:
                state = c.get(status_url).json()
                if state["status"] != "pending":
                    break
                time.sleep(0.5)
            assert state["status"] == "succeeded", (state, dist.daemon_log("produce"))
            assert state["host"] == "testhost" and "brew:" in state["detail"]
            metrics = c.get(producer + "/admin/metrics").text
            assert 'watchman_commands_total{status="succeeded",type="TriggerScan"} 1.0' in metrics
            # The projector answers named queries from Neo4j.
            rows = c.post(
                projector + "/query", json={"name": "recent-changes", "params": {"days": 3650}}
            ).json()
            assert rows["columns"][:3] == ["ts", "host", "action"]
    finally:
        for proc in procs.values():
            _stop(proc)
    assert not (dist.data_dir / "api-projector.url").exists()
