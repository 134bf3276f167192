"""infra/services against the real servers it starts: Apache Kafka (KRaft) and Neo4j 5.26 Community.

The session fixture runs `infra/services up all` (idempotent: reuses running servers) and leaves them up
for the other integration tests; CI (or a developer) runs `infra/services down`.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import neo4j
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

SERVICES = Path(__file__).resolve().parents[2] / "infra" / "services"

# The first run downloads ~170 MB of jars from Maven Central before the servers start.
pytestmark = [pytest.mark.timeout(900), pytest.mark.servers]


def services(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SERVICES), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def infra_env() -> dict[str, str]:
    up = services("up", "all", timeout=840)
    assert up.returncode == 0, f"infra/services up all failed:\n{up.stdout}\n{up.stderr}"
    out = services("env")
    assert out.returncode == 0, out.stderr
    values: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        values[key] = shlex.split(value)[0]
    return values


def status_json() -> dict[str, dict[str, object]]:
    st = services("status", "--json")
    return {s["name"]: s for s in json.loads(st.stdout)}


def test_env_names_the_test_endpoints(infra_env: dict[str, str]) -> None:
    assert infra_env["WATCHMAN_TEST_KAFKA"].startswith("127.0.0.1:")
    assert infra_env["WATCHMAN_TEST_NEO4J"].startswith("neo4j://127.0.0.1:")
    assert infra_env["WATCHMAN_TEST_NEO4J_USER"] == "neo4j"
    assert infra_env["WATCHMAN_TEST_NEO4J_PASSWORD"]


def test_status_reports_both_running(infra_env: dict[str, str]) -> None:
    st = services("status")
    assert st.returncode == 0, st.stdout + st.stderr
    lines = {line.split()[0]: line for line in st.stdout.splitlines()}
    assert lines["kafka"].split()[1] == "running"
    assert lines["neo4j"].split()[1] == "running"
    js = status_json()
    for name in ("kafka", "neo4j"):
        assert js[name]["running"] is True
        assert js[name]["healthy"] is True
        assert isinstance(js[name]["pid"], int)


def test_up_is_idempotent(infra_env: dict[str, str]) -> None:
    before = status_json()
    again = services("up", "all")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    after = status_json()
    assert {n: s["pid"] for n, s in after.items()} == {n: s["pid"] for n, s in before.items()}


async def create_produce_consume(
    bootstrap: str, topic: str, key: bytes, value: bytes
) -> list[tuple[bytes | None, bytes | None, int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=topic, num_partitions=2, replication_factor=1)])
        # CreateTopics returns once the controller has committed the topic; the broker's metadata
        # cache follows a moment later, so a list straight after may not show it yet.
        deadline = time.monotonic() + 15
        while topic not in await admin.list_topics():
            assert time.monotonic() < deadline, f"topic {topic} never appeared in the broker's metadata"
            await asyncio.sleep(0.05)
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()
    assert meta.offset == 0

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"infra-test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=30_000, max_records=10)
        return [(r.key, r.value, r.partition) for recs in batch.values() for r in recs]
    finally:
        await consumer.stop()


def test_kafka_create_produce_consume(infra_env: dict[str, str]) -> None:
    topic = f"infra-test-{uuid.uuid4().hex[:12]}"
    got = asyncio.run(create_produce_consume(infra_env["WATCHMAN_TEST_KAFKA"], topic, b"k1", b"hello kafka"))
    assert [(k, v) for k, v, _ in got] == [(b"k1", b"hello kafka")]


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    # The broker does not auto-create topics (infra/services sets auto.create.topics.enable=false).
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value)
    finally:
        await producer.stop()


def test_console_consumer_reads_the_record_back(infra_env: dict[str, str]) -> None:
    topic = f"infra-console-{uuid.uuid4().hex[:12]}"
    value = f"from aiokafka {uuid.uuid4().hex}"
    asyncio.run(produce(infra_env["WATCHMAN_TEST_KAFKA"], topic, value.encode()))
    run = services(
        "kafka-run", "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server", infra_env["WATCHMAN_TEST_KAFKA"],
        "--topic", topic, "--from-beginning", "--max-messages", "1", "--timeout-ms", "60000",
        timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [value]
    assert "Processed a total of 1 messages" in run.stderr


def test_neo4j_answers_with_the_test_credentials(infra_env: dict[str, str]) -> None:
    auth = (infra_env["WATCHMAN_TEST_NEO4J_USER"], infra_env["WATCHMAN_TEST_NEO4J_PASSWORD"])
    with neo4j.GraphDatabase.driver(infra_env["WATCHMAN_TEST_NEO4J"], auth=auth) as driver:
        driver.verify_connectivity()
        records, _, _ = driver.execute_query("RETURN 1 AS one")
        assert [r["one"] for r in records] == [1]
        info = driver.get_server_info()
        assert info.agent.startswith("Neo4j/5.26")


def test_neo4j_rejects_wrong_credentials(infra_env: dict[str, str]) -> None:
    uri = infra_env["WATCHMAN_TEST_NEO4J"]
    with (
        neo4j.GraphDatabase.driver(uri, auth=("neo4j", "not-the-password")) as driver,
        pytest.raises(neo4j.exceptions.AuthError),
    ):
        driver.verify_connectivity()
    # One failed attempt does not lock the account: the right password still works.
    auth = (infra_env["WATCHMAN_TEST_NEO4J_USER"], infra_env["WATCHMAN_TEST_NEO4J_PASSWORD"])
    with neo4j.GraphDatabase.driver(uri, auth=auth) as driver:
        driver.verify_connectivity()


def test_env_for_the_app_is_what_watchman_reads(infra_env: dict[str, str], tmp_path: Path) -> None:
    """A user follows the README's distributed section with `eval "$(infra/services env --app)"`: the
    names are the settings' own, and config check shows where each distributed process serves its API."""
    import os
    import sys

    out = services("env", "--app").stdout
    app = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in out.splitlines())
    assert app["WATCHMAN_BUS"] == "kafka://" + infra_env["WATCHMAN_TEST_KAFKA"]
    assert app["WATCHMAN_GRAPH"] == infra_env["WATCHMAN_TEST_NEO4J"]
    assert app["WATCHMAN_NEO4J_PASSWORD"] == infra_env["WATCHMAN_TEST_NEO4J_PASSWORD"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")}
    env.update(app, WATCHMAN_DATA_DIR=str(tmp_path / "data"), WATCHMAN_CONFIG=str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    check = subprocess.run(
        [sys.executable, "-m", "watchman", "config", "check"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "settings ok (distributed)" in check
    assert "produce 127.0.0.1:9651, worker 127.0.0.1:9652, project 127.0.0.1:9653" in check
