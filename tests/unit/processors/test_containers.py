"""The containers processor: stream events and snapshot differences decided into domain events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors import containers
from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.docker.convert import raw_envelope
from schemas.envelope import Envelope
from schemas.events.containers import (
    ContainerState,
    DockerEventObserved,
    DockerStateObserved,
    ImageInfo,
    PortBinding,
    VolumeInfo,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CID = "c" * 64
ROUTE = next(r for r in ROUTES if r.name == containers.SOURCE)
WEB_PORT = PortBinding(host_ip="0.0.0.0", host_port=8080, container_port=80, protocol="tcp")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(running: bool = True, **kw: Any) -> ContainerState:
    base: dict[str, Any] = {
        "id": CID,
        "name": "web",
        "image": "nginx:1",
        "image_id": "sha256:" + "a" * 64,
        "status": "running" if running else "exited",
        "running": running,
        "created_at": at(0),
        "started_at": at(1),
    }
    return ContainerState.model_validate({**base, **kw})


def event(seconds: float, action: str, info: ContainerState | None = None, **attrs: str) -> Envelope:
    ts = at(seconds)
    nano = int(ts.timestamp() * 1e9)
    obs = DockerEventObserved(
        ts=ts,
        time_nano=nano,
        object_type="container",
        action=action,
        actor_id=CID,
        attributes={"name": "web", "image": "nginx:1", **attrs},
        container=info,
    )
    return raw_envelope("h", obs, ts)


def snap(seconds: float, info: ContainerState | None, change: str = "changed", digest: str = "d") -> Envelope:
    obs = DockerStateObserved.model_validate(
        {
            "ts": at(seconds),
            "snapshot": f"{digest}{seconds}",
            "object_type": "container",
            "change": change,
            "key": CID,
            "container": info,
        }
    )
    return raw_envelope("h", obs, at(seconds))


def decide(table: MemoryTable, *raws: Envelope) -> list[Envelope]:
    out: list[Envelope] = []
    for raw in raws:
        out.extend(ROUTE.handle(raw.to_json(), table))
    return out


def types(events: list[Envelope]) -> list[str]:
    return [e.type for e in events]


def test_a_lifecycle_from_the_stream() -> None:
    t = MemoryTable()
    out = decide(
        t,
        event(0, "create", state(running=False, started_at=None)),
        event(1, "start", state(ports=(WEB_PORT,))),
        event(5, "kill", state(), signal="15"),
        event(6, "die", state(running=False), exitCode="0"),
        event(6.1, "stop", state(running=False)),
        event(7, "destroy", None),
    )
    assert types(out) == [
        "ContainerCreated",
        "ContainerStarted",
        "EndpointExposed",
        "ContainerDied",
        "EndpointClosed",
        "ContainerStopped",
        "ContainerDestroyed",
    ]
    assert out[3].payload["exit_code"] == 0
    assert out[2].payload | {"origin": "event"} == {
        "container_id": CID,
        "container_name": "web",
        "host_ip": "0.0.0.0",
        "host_port": 8080,
        "container_port": 80,
        "protocol": "tcp",
        "origin": "event",
    }
    assert all(e.subject == CID and e.key == f"h/{CID}" for e in out)
    assert len({e.id for e in out}) == len(out)


def test_a_start_after_a_run_is_a_restart_and_dockers_restart_action_adds_nothing() -> None:
    t = MemoryTable()
    decide(t, event(1, "start", state()))
    out = decide(
        t,
        event(10, "kill", state()),
        event(11, "die", state(running=False), exitCode="137"),
        event(11.1, "stop", state(running=False)),
        event(12, "start", state(restart_count=0)),
        event(12.1, "restart", state()),
    )
    assert types(out) == ["ContainerDied", "ContainerStopped", "ContainerRestarted"]
    assert out[0].payload["exit_code"] == 137


def test_health_changes_only_when_the_status_changes() -> None:
    t = MemoryTable()
    out = decide(
        t,
        event(1, "start", state()),
        event(2, "health_status: starting", state()),
        event(3, "health_status: healthy", state()),
        event(4, "health_status: healthy", state()),
        event(9, "health_status: unhealthy", state()),
    )
    changes = [
        (e.payload["previous_health"], e.payload["health"]) for e in out if e.type == "ContainerHealthChanged"
    ]
    assert changes == [(None, "starting"), ("starting", "healthy"), ("healthy", "unhealthy")]


def test_oom_and_exec_noise() -> None:
    t = MemoryTable()
    out = decide(t, event(1, "start", state()), event(2, "oom", state()), event(3, "exec_start: sh", state()))
    assert types(out) == ["ContainerStarted", "ContainerOOMKilled"]


def test_redelivery_re_emits_the_same_events() -> None:
    t = MemoryTable()
    raw = event(1, "start", state(ports=(WEB_PORT,)))
    first = decide(t, raw)
    again = decide(t, raw)
    assert [e.id for e in again] == [e.id for e in first] and len(first) == 2
    assert again == first


def test_first_snapshot_of_a_running_container() -> None:
    t = MemoryTable()
    info = state(ports=(WEB_PORT,), health="healthy", mounts=())
    out = decide(t, snap(100, info, change="added"))
    assert types(out) == ["ContainerCreated", "ContainerStarted", "EndpointExposed", "ContainerHealthChanged"]
    assert [e.ts for e in out[:2]] == [at(0), at(1)]
    assert {e.payload["origin"] for e in out} == {"snapshot"}


def test_first_snapshot_of_an_exited_container_keeps_its_last_run() -> None:
    t = MemoryTable()
    info = state(running=False, exit_code=2, finished_at=at(50), oom_killed=True)
    out = decide(t, snap(100, info, change="added"))
    assert types(out) == ["ContainerCreated", "ContainerStarted", "ContainerDied", "ContainerOOMKilled"]
    assert out[2].payload["exit_code"] == 2 and out[2].ts == at(50)


def test_resync_a_death_seen_by_snapshot_then_replayed_by_the_stream_is_one_death() -> None:
    t = MemoryTable()
    decide(t, event(1, "start", state(ports=(WEB_PORT,))))
    # The producer was down; at its restart the snapshot shows the container exited...
    out = decide(t, snap(100, state(running=False, exit_code=1, finished_at=at(60)), digest="s2"))
    assert types(out) == ["ContainerDied", "EndpointClosed"]
    assert out[0].ts == at(60) and out[0].payload["exit_code"] == 1
    # ...then the stream, replayed from the saved cursor, tells the same death: stale, nothing.
    late = decide(t, event(60, "die", state(running=False), exitCode="1"), event(60.1, "stop", state()))
    assert late == []
    # What happens after the snapshot is decided again.
    assert types(decide(t, event(120, "start", state(started_at=at(120))))) == ["ContainerRestarted"]


def test_resync_a_restart_while_away_is_a_restart() -> None:
    t = MemoryTable()
    decide(t, event(1, "start", state()))
    out = decide(t, snap(100, state(started_at=at(80), restart_count=1), digest="s2"))
    assert types(out) == ["ContainerRestarted"]
    assert out[0].payload["restart_count"] == 1
    # The same state seen again (another reconnect, nothing changed) decides nothing.
    assert decide(t, snap(200, state(started_at=at(80), restart_count=1), digest="s3")) == []


def test_resync_a_container_removed_while_away() -> None:
    t = MemoryTable()
    decide(t, event(1, "start", state(ports=(WEB_PORT,))))
    out = decide(t, snap(100, state(), change="removed"))
    assert types(out) == ["EndpointClosed", "ContainerDestroyed"]


def test_ports_changing_on_a_restart() -> None:
    t = MemoryTable()
    moved = PortBinding(host_ip="127.0.0.1", host_port=9090, container_port=80, protocol="tcp")
    decide(t, event(1, "start", state(ports=(WEB_PORT,))))
    decide(t, event(2, "die", state(running=False), exitCode="0"))
    out = decide(t, event(3, "start", state(ports=(moved,))))
    assert [(e.type, e.payload.get("host_port")) for e in out] == [
        ("ContainerRestarted", None),
        ("EndpointExposed", 9090),
    ]


def _image(seconds: float, action: str, image_id: str, name: str) -> Envelope:
    ts = at(seconds)
    obs = DockerEventObserved(
        ts=ts,
        time_nano=int(ts.timestamp() * 1e9),
        object_type="image",
        action=action,
        actor_id=name if action == "pull" else image_id,
        attributes={"name": name},
        image=ImageInfo(id=image_id, tags=(name,)) if action != "delete" else None,
    )
    return raw_envelope("h", obs, ts)


def test_images_arrive_and_go() -> None:
    t = MemoryTable()
    iid = "sha256:" + "b" * 64
    out = decide(
        t,
        _image(1, "pull", iid, "busybox:latest"),
        _image(2, "tag", iid, "busybox:mine"),
        _image(3, "delete", iid, iid),
    )
    assert types(out) == ["ImagePulled", "ImageRemoved"]
    assert out[0].payload["reference"] == "busybox:latest" and out[0].subject == iid
    assert out[1].payload["reference"] is None


def test_volumes_from_stream_and_snapshot_agree() -> None:
    t = MemoryTable()
    ts = at(1)
    create = DockerEventObserved(
        ts=ts,
        time_nano=int(ts.timestamp() * 1e9),
        object_type="volume",
        action="create",
        actor_id="data",
        attributes={"driver": "local"},
    )
    seen = DockerStateObserved(
        ts=at(100),
        snapshot="s",
        object_type="volume",
        change="added",
        key="data",
        volume=VolumeInfo(name="data"),
    )
    gone = DockerStateObserved(
        ts=at(200),
        snapshot="s2",
        object_type="volume",
        change="removed",
        key="data",
        volume=VolumeInfo(name="data"),
    )
    out = decide(
        t, raw_envelope("h", create, ts), raw_envelope("h", seen, at(100)), raw_envelope("h", gone, at(200))
    )
    assert types(out) == ["VolumeCreated", "VolumeRemoved"]
    assert [e.payload["origin"] for e in out] == ["event", "snapshot"]


def test_network_events_decide_nothing() -> None:
    ts = at(1)
    obs = DockerEventObserved(
        ts=ts, time_nano=int(ts.timestamp() * 1e9), object_type="network", action="connect", actor_id="n1"
    )
    assert decide(MemoryTable(), raw_envelope("h", obs, ts)) == []


def test_a_change_racing_the_snapshot_is_decided_once() -> None:
    # The snapshot's time is read before the inspects: a start or a death just after that time is in
    # the snapshot and then arrives again from the stream, newer than the snapshot.
    t = MemoryTable()
    out = decide(t, snap(100, state(started_at=at(100.2)), change="added"), event(100.2, "start", state()))
    assert types(out) == ["ContainerCreated", "ContainerStarted"]
    dead = state(running=False, started_at=at(100.2), exit_code=1, finished_at=at(200.3))
    out = decide(t, snap(200, dead, digest="s2"), event(200.3, "die", dead, exitCode="1"))
    assert types(out) == ["ContainerDied"]


_STEPS = st.lists(
    st.sampled_from(["start", "die", "stop", "oom", "health_status: healthy", "health_status: unhealthy"]),
    min_size=1,
    max_size=45,
)


def _script(actions: list[str]) -> list[Envelope]:
    ports = (WEB_PORT,)
    raws = [event(0, "create", state(running=False, started_at=None))]
    for i, action in enumerate(actions, start=1):
        running = action not in {"die", "stop"}
        raws.append(
            event(i, action, state(running=running, ports=ports if running else ()), exitCode=str(i % 3))
        )
    raws.append(event(len(actions) + 1, "destroy", None))
    return raws


@given(_STEPS, st.data())
@settings(max_examples=150, deadline=None)
def test_redelivery_of_any_range_changes_nothing(actions: list[str], data: st.DataObject) -> None:
    """At-least-once: after a crash a host re-reads from its last committed offset, so any contiguous
    range may be decided again. The events written are the same ones, under the same ids."""
    raws = _script(actions)
    clean = decide(MemoryTable(), *raws)
    lo = data.draw(st.integers(0, len(raws) - 1))
    hi = data.draw(st.integers(lo, len(raws) - 1))
    cut = data.draw(st.integers(hi, len(raws)))
    t = MemoryTable()
    replayed = decide(t, *raws[:cut], *raws[lo : hi + 1], *raws[cut:])
    by_id = {e.id: e for e in replayed}
    assert {e.id for e in clean} == set(by_id)
    assert all(by_id[e.id] == e for e in clean)
    # One death per `die`, one start or restart per `start` of a stopped container: never more.
    assert len([e for e in clean if e.type == "ContainerDied"]) <= actions.count("die")


@given(st.integers(1, 12), st.data())
@settings(max_examples=200, deadline=None)
def test_a_blind_window_is_resynchronised_once(runs: int, data: st.DataObject) -> None:
    """The producer follows the stream up to event m, is blind until event k (engine or producer
    down), then snapshots the state after k and replays the stream from m. Every change outside the
    window is decided exactly once; the window is explained by the snapshot at most once per kind."""
    # The truth: start, die, start, die, ... ten seconds apart (beyond any slack), exit codes varying.
    truth: list[tuple[str, float]] = [
        ("start" if i % 2 == 0 else "die", 10.0 * (i + 1)) for i in range(2 * runs)
    ]
    if data.draw(st.booleans()):
        truth.pop()  # end running
    n = len(truth)
    m = data.draw(st.integers(0, n))
    k = data.draw(st.integers(m, n))

    def truth_after(j: int) -> ContainerState:
        starts = [ts for a, ts in truth[:j] if a == "start"]
        dies = [ts for a, ts in truth[:j] if a == "die"]
        running = bool(starts) and (not dies or starts[-1] > dies[-1])
        return state(
            running=running,
            started_at=at(starts[-1]) if starts else None,
            finished_at=None if running or not dies else at(dies[-1]),
            exit_code=None if running or not dies else int(dies[-1]) % 5,
        )

    def raw(j: int) -> Envelope:
        action, ts = truth[j]
        return event(ts, action, truth_after(j + 1), exitCode=str(int(ts) % 5))

    t = MemoryTable()
    out = decide(t, snap(0.5, state(running=False, started_at=None), change="added", digest="first"))
    out += decide(t, *(raw(j) for j in range(m)))
    snap_ts = truth[k - 1][1] + 0.5 if k else 1.0
    out += decide(t, snap(snap_ts, truth_after(k), digest="resync"))
    out += decide(t, *(raw(j) for j in range(m, n)))

    deaths = [e.ts for e in out if e.type == "ContainerDied"]
    starts = [e.ts for e in out if e.type in ("ContainerStarted", "ContainerRestarted")]
    outside_dies = [at(ts) for a, ts in truth[:m] + truth[k:] if a == "die"]
    outside_starts = [at(ts) for a, ts in truth[:m] + truth[k:] if a == "start"]
    assert set(outside_dies) <= set(deaths) and len(deaths) <= len(outside_dies) + 1
    assert set(outside_starts) <= set(starts) and len(starts) <= len(outside_starts) + 1
    assert len(set(deaths)) == len(deaths) and len(set(starts)) == len(starts)
    final = t.get(f"container/h/{CID}")
    assert final is not None and final["running"] == truth_after(n).running
