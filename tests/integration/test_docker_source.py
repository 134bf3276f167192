"""DockerSource against a real dockerd: snapshot, live events, resync from a saved cursor, engine restart.

The observations go through the real containers route (decode + decide with a state table), so what
is asserted is the domain events the pipeline would write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from processors import containers
from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.docker.source import DockerSource
from schemas.envelope import Envelope
from tests.support.dockerd import Dockerd, running_dockerd

ROUTE = next(r for r in ROUTES if r.name == containers.SOURCE)
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def engine() -> Iterator[Dockerd]:
    with running_dockerd() as d:
        d.import_busybox("tiny:1")
        yield d


class Harness:
    """A source, the containers route and its table: what the embedded pipeline does, in a test."""

    def __init__(
        self, engine: Dockerd, cursor: dict[str, Any] | None = None, table: MemoryTable | None = None
    ):
        self.source = DockerSource(
            engine.url, "testhost", cursor, reconnect_initial=0.2, reconnect_max=1.0, first_wait=20.0
        )
        self.table = table or MemoryTable()
        self.raw: list[Envelope] = []
        self.events: list[Envelope] = []
        self.cursor: dict[str, Any] | None = cursor

    def pump(self) -> int:
        poll = self.source.poll(1000)
        for env in poll.observations:
            self.raw.append(env)
            self.events.extend(ROUTE.handle(env.to_json(), self.table))
        if poll.cursor is not None:
            self.cursor = poll.cursor
        return len(poll.observations)

    def until(self, what: str, done: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if done():
                return
            time.sleep(0.1)
        seen = [(e.type, e.payload.get("name") or e.payload.get("container_name")) for e in self.events]
        raise AssertionError(f"timed out waiting for {what}; decided so far: {seen}")

    def of(self, name: str, type_: str | None = None) -> list[Envelope]:
        return [
            e
            for e in self.events
            if name in (e.payload.get("name"), e.payload.get("container_name"))
            and (type_ is None or e.type == type_)
        ]

    def has(self, name: str, type_: str) -> Callable[[], bool]:
        return lambda: bool(self.of(name, type_))

    def close(self) -> None:
        self.source.close()


@pytest.fixture
def harness(engine: Dockerd) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(cursor: dict[str, Any] | None = None, table: MemoryTable | None = None) -> Harness:
        h = Harness(engine, cursor, table)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def _cid(engine: Dockerd, name: str) -> str:
    return str(engine.inspect(name)["Id"])


def test_snapshot_then_live_events(engine: Dockerd, harness: Callable[..., Harness]) -> None:
    engine.cli("volume", "create", "v1")
    engine.cli("network", "create", "-d", "bridge", "tn")
    engine.cli(
        "run", "-d", "--name", "pre", "--network", "tn", "-p", "127.0.0.1:18081:80/tcp", "-v", "v1:/data",
        "tiny:1", "/bin/busybox", "sleep", "600",
    )  # fmt: skip
    h = harness()
    h.pump()  # the first poll waits for the snapshot
    kinds = {
        (e.payload["object_type"], e.payload["change"]) for e in h.raw if e.type == "DockerStateObserved"
    }
    assert {("container", "added"), ("image", "added"), ("volume", "added"), ("network", "added")} <= kinds
    started = h.of("pre", "ContainerStarted")
    assert len(started) == 1 and started[0].payload["volumes"] == ["v1"]
    assert started[0].payload["origin"] == "snapshot"
    exposed = h.of("pre", "EndpointExposed")
    assert [(e.payload["host_ip"], e.payload["host_port"], e.payload["container_port"]) for e in exposed] == [
        ("127.0.0.1", 18081, 80)
    ]
    assert any(e.type == "ImagePulled" and e.payload["reference"] == "tiny:1" for e in h.events)
    assert any(e.type == "VolumeCreated" and e.payload["name"] == "v1" for e in h.events)
    h.until("the events stream", h.source.connected.is_set)

    # Live: a container that fails, a restart of one that publishes a port, a health check, removals.
    engine.cli(
        "run", "-d", "--name", "fails", "--network", "none", "tiny:1", "/bin/busybox", "sh", "-c", "exit 3"
    )
    h.until("fails died", h.has("fails", "ContainerDied"))
    died = h.of("fails", "ContainerDied")
    assert [e.payload["exit_code"] for e in died] == [3]
    assert died[0].payload["origin"] == "event"
    assert [e.type for e in h.of("fails")][:2] == ["ContainerCreated", "ContainerStarted"]

    engine.cli("restart", "-t", "1", "pre")
    h.until("pre restarted", h.has("pre", "ContainerRestarted"))
    h.until("pre re-exposed", lambda: len(h.of("pre", "EndpointExposed")) == 2)
    assert len(h.of("pre", "EndpointClosed")) == 1
    assert len(h.of("pre", "ContainerDied")) == 1
    assert len(h.of("pre", "ContainerStopped")) == 1

    engine.cli(
        "run", "-d", "--name", "checked", "--network", "none", "--health-cmd", "/bin/busybox true",
        "--health-interval", "1s", "tiny:1", "/bin/busybox", "sleep", "600",
    )  # fmt: skip
    h.until("checked healthy", h.has("checked", "ContainerHealthChanged"))
    assert h.of("checked", "ContainerHealthChanged")[0].payload["health"] == "healthy"

    tar = engine.root / "rootfs.tar"
    other = engine.cli("import", str(tar), "other:2").stdout.strip()
    h.until("other imported", lambda: any(e.type == "ImagePulled" and e.subject == other for e in h.events))
    pulled = next(e for e in h.events if e.type == "ImagePulled" and e.subject == other)
    assert (pulled.payload["action"], pulled.payload["origin"]) == ("import", "event")
    engine.cli("rmi", "other:2")
    h.until("other removed", lambda: any(e.type == "ImageRemoved" and e.subject == other for e in h.events))

    engine.cli("rm", "fails")
    engine.cli("volume", "create", "v2")
    h.until("fails destroyed", h.has("fails", "ContainerDestroyed"))
    h.until(
        "v2 created", lambda: any(e.type == "VolumeCreated" and e.payload["name"] == "v2" for e in h.events)
    )
    assert h.cursor is not None and h.cursor["since"] and h.cursor["snapshot"]["items"]
    # Health checks run as execs every second: none of that noise reaches the raw topic.
    assert not [e for e in h.raw if e.payload.get("action", "").startswith("exec_")]


def test_resync_from_the_saved_cursor_after_a_producer_restart(
    engine: Dockerd, harness: Callable[..., Harness]
) -> None:
    engine.cli("run", "-d", "--name", "steady", "--network", "none", "tiny:1", "/bin/busybox", "sleep", "600")
    engine.cli("volume", "create", "gone-soon")
    first = harness()
    first.until("steady started", first.has("steady", "ContainerStarted"))
    first.until("the events stream", first.source.connected.is_set)
    first.pump()
    first.close()
    cursor, table = first.cursor, first.table
    assert cursor is not None

    # While the producer is down: a container stops, a volume goes, a container comes and goes.
    engine.cli("stop", "-t", "1", "steady")
    engine.cli("volume", "rm", "gone-soon")
    engine.cli(
        "run", "-d", "--name", "meanwhile", "--network", "none", "tiny:1", "/bin/busybox", "sleep", "600"
    )
    engine.cli(
        "run",
        "--name",
        "brief",
        "--network",
        "none",
        "tiny:1",
        "/bin/busybox",
        "sh",
        "-c",
        "exit 7",
        check=False,
    )

    second = harness(cursor, table)
    second.pump()
    second.until("the events stream", second.source.connected.is_set)
    second.until("steady died", second.has("steady", "ContainerDied"))
    second.until("brief died", second.has("brief", "ContainerDied"))
    time.sleep(1.0)
    second.pump()
    # Learnt twice (the snapshot diff, and the stream replayed from the cursor), decided once.
    assert len(second.of("steady", "ContainerDied")) == 1
    assert len(second.of("steady", "ContainerStopped")) <= 1
    assert second.of("steady", "ContainerDied")[0].payload["origin"] == "snapshot"
    assert any(e.type == "VolumeRemoved" and e.payload["name"] == "gone-soon" for e in second.events)
    assert second.of("meanwhile", "ContainerStarted")
    assert [e.payload["exit_code"] for e in second.of("brief", "ContainerDied")] == [7]
    assert not second.of("steady", "ContainerStarted") and not second.of("steady", "ContainerRestarted")


@pytest.mark.parametrize("how", ["graceful", "crash"])
def test_engine_restart_mid_stream_resynchronises(
    engine: Dockerd, harness: Callable[..., Harness], how: str
) -> None:
    for name in ("victim", "always", "after"):
        engine.cli("rm", "-f", name, check=False)
    engine.cli("run", "-d", "--name", "victim", "--network", "none", "tiny:1", "/bin/busybox", "sleep", "600")
    engine.cli(
        "run", "-d", "--name", "always", "--restart", "always", "--network", "none",
        "tiny:1", "/bin/busybox", "sleep", "600",
    )  # fmt: skip
    h = harness()
    h.until("victim started", h.has("victim", "ContainerStarted"))
    h.until("the events stream", h.source.connected.is_set)
    connects = h.source.connects

    if how == "graceful":
        engine.restart()  # SIGTERM: the engine kills its containers, telling the stream, and goes
    else:
        # SIGKILL: the stream just breaks; the containers outlive the engine in their shims until the
        # next engine kills them at its start. Only the snapshot after the reconnect can tell.
        engine.kill()
        engine.start()

    h.until("a reconnect", lambda: h.source.connects > connects and h.source.connected.is_set(), timeout=90)
    engine.cli("run", "-d", "--name", "after", "--network", "none", "tiny:1", "/bin/busybox", "sleep", "600")
    h.until("after started", h.has("after", "ContainerStarted"))
    h.until("victim died", h.has("victim", "ContainerDied"))
    h.until("always restarted", h.has("always", "ContainerRestarted"))
    time.sleep(1.0)
    h.pump()
    assert not engine.inspect("victim")["State"]["Running"]
    assert engine.inspect("always")["State"]["Running"]
    # Each real change once, however it was learnt.
    assert len(h.of("victim", "ContainerDied")) == 1
    assert not h.of("victim", "ContainerRestarted")
    assert len(h.of("always", "ContainerRestarted")) == 1
    if how == "crash":
        assert h.of("victim", "ContainerDied")[0].payload["origin"] == "snapshot"
        assert h.of("always", "ContainerRestarted")[0].payload["origin"] == "snapshot"
