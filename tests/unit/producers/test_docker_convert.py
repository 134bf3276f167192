"""Pure conversion of Docker Engine API JSON (as dockerd 20.10 returns it) into raw observations."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from producers.docker import convert
from schemas.events import decode_payload
from schemas.events.containers import DockerEventObserved, DockerStateObserved

# Shaped like GET /containers/{id}/json from the dockerd the integration tests run (trimmed).
INSPECT: dict[str, Any] = {
    "Id": "9929c182d5ad506cc31311d5ba55636a6baf583f137ae2fe6dd86c51ba01c96a",
    "Created": "2026-11-26T00:25:15.901234567Z",
    "Path": "/bin/busybox",
    "Args": ["sh", "-c", "PASSWORD=hunter2 serve"],
    "State": {
        "Status": "running",
        "Running": True,
        "OOMKilled": False,
        "Pid": 4923,
        "ExitCode": 0,
        "StartedAt": "2026-11-26T00:25:16.147794077Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
        "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
    },
    "Image": "sha256:8e382b3818841db2d788b8f74ebae90c7a2f84b2cf81ddcca6f92d8a91333572",
    "Name": "/t3",
    "RestartCount": 2,
    "Mounts": [
        {"Type": "volume", "Name": "vol1", "Source": "/x/_data", "Destination": "/data", "RW": True},
        {"Type": "bind", "Source": "/etc/hosts", "Destination": "/etc/hosts", "RW": False},
    ],
    "Config": {
        "Image": "tiny:1",
        "Env": ["SECRET_TOKEN=abc"],
        "Labels": {"com.docker.compose.service": "web"},
    },
    "NetworkSettings": {
        "Ports": {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18081"}, {"HostIp": "::1", "HostPort": "18081"}],
            "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
            "9000/tcp": None,
        }
    },
}

EVENT: dict[str, Any] = {
    "status": "die",
    "id": INSPECT["Id"],
    "from": "tiny:1",
    "Type": "container",
    "Action": "die",
    "Actor": {
        "ID": INSPECT["Id"],
        "Attributes": {"exitCode": "3", "image": "tiny:1", "name": "t3", "com.example.secret": "x"},
    },
    "scope": "local",
    "time": 1795652725,
    "timeNano": 1795652725865366327,
}


def test_container_state_keeps_what_we_track_and_never_env_or_args() -> None:
    s = convert.container_state(INSPECT)
    assert (s.name, s.image, s.status, s.running, s.restart_count, s.health) == (
        "t3",
        "tiny:1",
        "running",
        True,
        2,
        "healthy",
    )
    assert s.image_id == INSPECT["Image"]
    assert s.started_at == datetime(2026, 11, 26, 0, 25, 16, 147794, tzinfo=UTC)
    assert s.finished_at is None and s.exit_code is None
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in s.ports] == [
        ("0.0.0.0", 5353, 53, "udp"),
        ("127.0.0.1", 18081, 80, "tcp"),
        ("::1", 18081, 80, "tcp"),
    ]
    assert [(m.type, m.name, m.destination, m.rw) for m in s.mounts] == [
        ("volume", "vol1", "/data", True),
        ("bind", None, "/etc/hosts", False),
    ]
    assert s.labels == {"com.docker.compose.service": "web"}
    dumped = s.model_dump_json()
    assert "hunter2" not in dumped and "SECRET_TOKEN" not in dumped


def test_a_stopped_container_publishes_nothing_and_has_an_exit_code() -> None:
    data = copy.deepcopy(INSPECT)
    data["State"].update(Status="exited", Running=False, ExitCode=137, FinishedAt="2026-11-26T00:30:00Z")
    s = convert.container_state(data)
    assert (s.running, s.exit_code, s.ports) == (False, 137, ())
    assert s.finished_at == datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


def test_times() -> None:
    assert convert.parse_time("0001-01-01T00:00:00Z") is None
    assert (
        convert.parse_time("") is None
        and convert.parse_time(None) is None
        and convert.parse_time("junk") is None
    )
    assert convert.since_from_nano(1795652725865366327) == "1795652725.865366327"
    assert convert.since_from_nano(1795652725000000001) == "1795652725.000000001"
    assert convert.since_from_datetime(datetime(2026, 1, 1, tzinfo=UTC)) == "1767225600.000000000"


def test_event_observation_keeps_only_known_attributes() -> None:
    obs = convert.event_observation(EVENT)
    assert (obs.object_type, obs.action, obs.actor_id, obs.time_nano) == (
        "container",
        "die",
        EVENT["id"],
        EVENT["timeNano"],
    )
    assert obs.attributes == {"exitCode": "3", "image": "tiny:1", "name": "t3"}
    assert obs.ts == datetime.fromtimestamp(EVENT["timeNano"] / 1e9, UTC)
    assert convert.is_noise({"Action": "exec_start: /bin/sh -c true"}) and not convert.is_noise(EVENT)


def test_raw_envelope_ids_are_the_events_identity() -> None:
    now = datetime(2026, 11, 26, 1, tzinfo=UTC)
    obs = convert.event_observation(EVENT, convert.container_state(INSPECT))
    a = convert.raw_envelope("h", obs, now)
    b = convert.raw_envelope("h", convert.event_observation(EVENT), datetime(2027, 1, 1, tzinfo=UTC))
    assert a.id == b.id  # re-read after a crash (inspected later, observed later): the same id
    other = dict(EVENT, timeNano=EVENT["timeNano"] + 1)
    assert convert.raw_envelope("h", convert.event_observation(other), now).id != a.id
    assert convert.raw_envelope("h2", obs, now).id != a.id
    assert a.subject == EVENT["id"] and a.type == "DockerEventObserved"
    back = decode_payload(a.type, a.schema_version, a.payload)
    assert isinstance(back, DockerEventObserved) and back == obs


def test_snapshot_differences() -> None:
    ts = datetime(2026, 11, 26, 1, tzinfo=UTC)
    c = convert.container_state(INSPECT)
    img = convert.image_info({"Id": "sha256:1", "RepoTags": ["tiny:1", "<none>:<none>"]})
    assert img.tags == ("tiny:1",)
    vol = convert.volume_info({"Name": "vol1", "Driver": "local"})
    net = convert.network_info({"Id": "n1", "Name": "tn", "Driver": "bridge"})
    before = convert.snapshot_items([c], [img], [vol], [net])
    first = convert.state_observations(None, before, ts)
    assert {(o.object_type, o.change, o.key) for o in first} == {
        ("container", "added", c.id),
        ("image", "added", "sha256:1"),
        ("volume", "added", "vol1"),
        ("network", "added", "n1"),
    }
    assert convert.state_observations(before, before, ts) == []

    data = copy.deepcopy(INSPECT)
    data["State"].update(Status="exited", Running=False, ExitCode=1, FinishedAt="2026-11-26T00:40:00Z")
    after = convert.snapshot_items([convert.container_state(data)], [img], [], [net])
    changes = convert.state_observations(before, after, ts)
    assert [(o.object_type, o.change) for o in changes] == [("container", "changed"), ("volume", "removed")]
    assert changes[0].container is not None and changes[0].container.exit_code == 1
    assert changes[1].volume is not None and changes[1].volume.name == "vol1"  # the last known state
    envs = [convert.raw_envelope("h", o, ts) for o in changes]
    again = [convert.raw_envelope("h", o, ts) for o in convert.state_observations(before, after, ts)]
    assert [e.id for e in envs] == [e.id for e in again]
    assert envs[0].subject == c.id and envs[1].subject == "vol1"
    assert isinstance(decode_payload(envs[0].type, 1, envs[0].payload), DockerStateObserved)
