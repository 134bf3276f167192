"""Docker container lifecycles from a real dockerd to the named queries' answers, through the real CLI,
in both deployments, across a restart of the engine.

Embedded: `watchman run` (SQLite log + LadybugDB). Distributed: `watchman produce`, `worker` and
`project` on the infra/ Kafka and Neo4j. The engine runs in its own network namespace (see
tests/support/dockerd.py), so the ports it publishes are real listeners that touch nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_distributed import reset_servers
from tests.support.dockerd import Dockerd, running_dockerd
from tests.support.instance import Instance

# The distributed test resets the infra/ servers: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

KAFKA = os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092")
NEO4J = os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687")
NEO4J_USER = os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j")
PORT = 18090
README = Path(__file__).resolve().parents[2] / "README.md"
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def engine() -> Iterator[Dockerd]:
    with running_dockerd() as d:
        d.import_busybox("tiny:1")
        d.cli("network", "create", "-d", "bridge", "tn")
        yield d


def _configure(inst: Instance, engine: Dockerd, **extra: Any) -> None:
    inst.write_config(**extra)
    with inst.config.open("a") as f:
        f.write(
            "[docker]\n"
            "enabled = true\n"
            f'base_url = "{engine.url}"\n'
            "reconnect_initial = 0.2\n"
            "reconnect_max = 1.0\n"
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(inst: Instance, what: str, check: Callable[[], bool], logs: tuple[str, ...]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError):  # a query while a process is (re)starting
            if check():
                return
        time.sleep(0.5)
    tails = "\n".join(f"--- {name}\n{inst.daemon_log(name)}" for name in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _container(inst: Instance, name: str) -> dict[str, Any] | None:
    rows = inst.query(
        "MATCH (c:Container) WHERE c.name = $name RETURN c.state AS state, c.exit_code AS exit_code, "
        "c.image AS image, c.id AS id",
        "-p",
        f"name={name}",
    )
    return rows[0] if rows else None


def _state(inst: Instance, name: str) -> str | None:
    c = _container(inst, name)
    return None if c is None else c["state"]


def _died(inst: Instance, name: str) -> list[int]:
    rows = inst.query(
        "MATCH (e:Event)-[:ACTED_ON]->(c:Container) WHERE c.name = $name AND e.type = 'ContainerDied' "
        "RETURN e.exit_code AS code ORDER BY e.ts",
        "-p",
        f"name={name}",
    )
    return [r["code"] for r in rows]


def _scenario(inst: Instance, engine: Dockerd, logs: tuple[str, ...]) -> None:
    """Drive the engine while the pipeline runs, and check every answer on the way."""
    # Running before the pipeline first looked: learnt from the snapshot.
    _wait(inst, "pre in the graph", lambda: _state(inst, "pre") == "running", logs)
    listening = inst.query("listening-on-port", "-p", f"port={PORT}")
    assert [(r["container"], r["host_ip"], r["container_port"], r["protocol"]) for r in listening] == [
        ("pre", "127.0.0.1", 80, "tcp")
    ]
    mounts = inst.query("MATCH (c:Container)-[:MOUNTS]->(v:Volume) RETURN c.name AS c, v.name AS v")
    assert mounts == [{"c": "pre", "v": "v1"}]
    images = inst.query("MATCH (c:Container)-[:RUNS_IMAGE]->(i:Image) RETURN DISTINCT i.reference AS ref")
    assert images == [{"ref": "tiny:1"}]

    # Live: a failing container, a restart.
    engine.cli(
        "run", "-d", "--name", "fails", "--network", "none", "tiny:1", "/bin/busybox", "sh", "-c", "exit 3"
    )
    _wait(inst, "fails died", lambda: _died(inst, "fails") == [3], logs)
    engine.cli("restart", "-t", "1", "pre")
    _wait(inst, "pre restarted", lambda: bool(inst.query("containers-restarted-today")), logs)
    restarted = inst.query("containers-restarted-today")
    assert [(r["container"], r["restarts"], r["state"]) for r in restarted] == [("pre", 1, "running")]
    _wait(
        inst, "pre listening again", lambda: bool(inst.query("listening-on-port", "-p", f"port={PORT}")), logs
    )

    # The engine crashes mid-stream (SIGKILL: the stream just breaks) and comes back; at its start it
    # kills what it had left running and restarts `always`. Only the resync can tell the pipeline.
    engine.kill()
    engine.start()
    _wait(inst, "pre exited with the engine", lambda: _state(inst, "pre") == "exited", logs)
    _wait(inst, "always restarted", lambda: len(inst.query("containers-restarted-today")) == 2, logs)
    restarted = inst.query("containers-restarted-today")
    assert sorted((r["container"], r["restarts"], r["state"]) for r in restarted) == [
        ("always", 1, "running"),
        ("pre", 1, "exited"),
    ]
    assert inst.query("listening-on-port", "-p", f"port={PORT}") == []
    engine.cli("run", "-d", "--name", "after", "--network", "none", "tiny:1", "/bin/busybox", "sleep", "600")
    _wait(inst, "after running", lambda: _state(inst, "after") == "running", logs)
    time.sleep(2)  # anything still in flight would show as a duplicate now
    # One death per real death: the restart's (from the stream), the crash's (from the snapshot).
    assert len(_died(inst, "pre")) == 2
    died = inst.query("containers-died-nonzero-this-week")
    by_name: dict[str, list[int]] = {}
    for r in died:
        by_name.setdefault(r["container"], []).append(r["exit_code"])
    assert by_name["fails"] == [3]
    assert len(by_name["pre"]) == 2 and all(code != 0 for code in by_name["pre"])
    # `always` died at the engine's start too; whether that reached us depends on whether its die was
    # logged before the snapshot (then the restart explains it) or after: never doubled, either way.
    assert set(by_name) <= {"fails", "pre", "always"} and len(by_name.get("always", [])) <= 1
    assert inst.query("listening-on-port", "-p", "port=1") == []


def _readme_examples() -> list[list[str]]:
    """The `watchman query` lines of the README's Containers section."""
    text = README.read_text()
    section = text[text.index("## Containers (Docker)") :]
    section = section[: section.index("\n## ", 1)]
    lines = [ln.split("  #", 1)[0].strip() for ln in section.splitlines()]
    examples = [shlex.split(ln)[1:] for ln in lines if ln.startswith("watchman query")]
    assert len(examples) == 3, examples
    return examples


def _prepare(engine: Dockerd) -> None:
    for name in ("pre", "fails", "after", "always"):
        engine.cli("rm", "-f", name, check=False)
    engine.cli("volume", "rm", "v1", check=False)
    engine.cli(
        "run", "-d", "--name", "pre", "--network", "tn", "-p", f"127.0.0.1:{PORT}:80/tcp", "-v", "v1:/data",
        "tiny:1", "/bin/busybox", "sleep", "600",
    )  # fmt: skip
    engine.cli(
        "run", "-d", "--name", "always", "--restart", "always", "--network", "none",
        "tiny:1", "/bin/busybox", "sleep", "600",
    )  # fmt: skip


def test_embedded_container_lifecycles_reach_the_graph(tmp_path: Path, engine: Dockerd) -> None:
    _prepare(engine)
    inst = Instance(tmp_path)
    _configure(inst, engine)
    daemon = inst.start("run")
    try:
        inst.wait_ready(daemon)
        _scenario(inst, engine, ("daemon",))
        for args in _readme_examples():  # docs that run: the README's container questions
            assert inst.cli(*args, check=False).returncode == 0, args
    finally:
        _stop(daemon)
    assert daemon.returncode == 0, inst.daemon_log()
    # The raw stream and the domain events are in the log for replay.
    status = inst.cli("status", "--json").stdout
    assert "watchman.events.containers" in status


def test_distributed_container_lifecycles_reach_neo4j(tmp_path: Path, engine: Dockerd) -> None:
    reset_servers()
    _prepare(engine)
    inst = Instance(tmp_path)
    _configure(inst, engine, bus=f"kafka://{KAFKA}", graph=NEO4J, neo4j_user=NEO4J_USER)
    names = ("produce", "worker", "project")
    procs = {name: inst.start(name) for name in names}
    try:
        _scenario(inst, engine, names)
    finally:
        for proc in procs.values():
            _stop(proc)
