"""Pure conversion of Docker Engine API objects (inspect, list and events JSON) into raw observations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from producers.snapshot import diff, digest
from schemas.envelope import Envelope, event_id
from schemas.events.containers import (
    ContainerState,
    DockerEventObserved,
    DockerObject,
    DockerStateObserved,
    ImageInfo,
    MountInfo,
    NetworkInfo,
    PortBinding,
    VolumeInfo,
)

SOURCE = "docker"
# Actor attributes worth keeping. Container events repeat every label as an attribute; labels are
# kept once, in the inspected state, and nothing else (an attribute could be anything a user wrote).
ATTRIBUTES = frozenset(
    {"name", "image", "exitCode", "signal", "driver", "container", "destination", "type", "read/write"}
)
# Health checks run as execs: every interval a container emits exec_create/exec_start/exec_die.
# They change nothing we track, and on a busy host they would be most of the stream.
NOISE_PREFIXES = ("exec_",)


def parse_time(value: object) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds, `Z`); its zero time `0001-01-01T00:00:00Z` means never."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def ts_from_nano(time_nano: int) -> datetime:
    return datetime.fromtimestamp(time_nano / 1e9, UTC)


def since_from_nano(time_nano: int) -> str:
    """The events API's `since` for an event time: seconds.nanoseconds, exact."""
    return f"{time_nano // 1_000_000_000}.{time_nano % 1_000_000_000:09d}"


def since_from_datetime(ts: datetime) -> str:
    return since_from_nano(int(ts.timestamp() * 1_000_000) * 1000)


def _ports(settings: Mapping[str, Any] | None) -> tuple[PortBinding, ...]:
    """NetworkSettings.Ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}] or None}."""
    out: set[PortBinding] = set()
    for spec, bindings in (settings or {}).items():
        port, _, proto = str(spec).partition("/")
        if not bindings or not port.isdigit():
            continue  # exposed but not published
        for b in bindings:
            host_port = str(b.get("HostPort") or "")
            if not host_port.isdigit():
                continue
            out.add(
                PortBinding(
                    host_ip=str(b.get("HostIp") or "0.0.0.0"),
                    host_port=int(host_port),
                    container_port=int(port),
                    protocol=proto or "tcp",
                )
            )
    return tuple(sorted(out, key=lambda p: (p.host_ip, p.host_port, p.protocol, p.container_port)))


def _mounts(mounts: Iterable[Mapping[str, Any]] | None) -> tuple[MountInfo, ...]:
    out = [
        MountInfo(
            type=str(m.get("Type") or "bind"),
            name=m.get("Name") if m.get("Type") == "volume" else None,
            destination=str(m.get("Destination") or ""),
            rw=bool(m.get("RW", True)),
        )
        for m in mounts or ()
    ]
    return tuple(sorted(out, key=lambda m: m.destination))


def container_state(inspect: Mapping[str, Any]) -> ContainerState:
    """A container inspect (GET /containers/{id}/json) reduced to what we track; Env and Cmd are left out."""
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    health = (state.get("Health") or {}).get("Status")
    running = bool(state.get("Running"))
    network = inspect.get("NetworkSettings") or {}
    return ContainerState(
        id=str(inspect["Id"]),
        name=str(inspect.get("Name") or "").lstrip("/"),
        image=str(config.get("Image") or inspect.get("Image") or ""),
        image_id=inspect.get("Image") or None,
        status=str(state.get("Status") or ("running" if running else "unknown")),
        running=running,
        exit_code=None if running else state.get("ExitCode"),
        created_at=parse_time(inspect.get("Created")),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        restart_count=int(inspect.get("RestartCount") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        health=health if health and health != "none" else None,
        # Published ports exist only while the container runs (a stopped one keeps stale entries).
        ports=_ports(network.get("Ports")) if running else (),
        mounts=_mounts(inspect.get("Mounts")),
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
    )


def image_info(obj: Mapping[str, Any]) -> ImageInfo:
    """An image from GET /images/json or an inspect: its id and tags (`<none>:<none>` is no tag)."""
    tags = [t for t in obj.get("RepoTags") or () if t and t != "<none>:<none>"]
    return ImageInfo(id=str(obj["Id"]), tags=tuple(sorted(tags)))


def volume_info(obj: Mapping[str, Any]) -> VolumeInfo:
    return VolumeInfo(name=str(obj["Name"]), driver=obj.get("Driver"))


def network_info(obj: Mapping[str, Any]) -> NetworkInfo:
    return NetworkInfo(id=str(obj["Id"]), name=str(obj.get("Name") or ""), driver=obj.get("Driver"))


# --- snapshots ------------------------------------------------------------------------------------------


def item_key(kind: DockerObject, ident: str) -> str:
    return f"{kind}/{ident}"


def snapshot_items(
    containers: Iterable[ContainerState],
    images: Iterable[ImageInfo],
    volumes: Iterable[VolumeInfo],
    networks: Iterable[NetworkInfo],
) -> dict[str, Any]:
    """The engine's state as JSON items keyed kind/id, ready for producers.snapshot."""
    items: dict[str, Any] = {}
    for c in containers:
        items[item_key("container", c.id)] = c.model_dump(mode="json")
    for i in images:
        items[item_key("image", i.id)] = i.model_dump(mode="json")
    for v in volumes:
        items[item_key("volume", v.name)] = v.model_dump(mode="json")
    for n in networks:
        items[item_key("network", n.id)] = n.model_dump(mode="json")
    return items


def state_observations(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], ts: datetime
) -> list[DockerStateObserved]:
    """What changed between two snapshots, as observations (all of `after` is new without `before`)."""
    snap = digest(after)
    out: list[DockerStateObserved] = []
    for change in diff(before, after):
        kind, _, ident = change.key.partition("/")
        value = change.after if change.after is not None else change.before
        fields: dict[str, Any] = {kind: value} if kind in ("container", "image", "volume", "network") else {}
        out.append(
            DockerStateObserved.model_validate(
                {
                    "ts": ts,
                    "snapshot": snap,
                    "object_type": kind,
                    "change": change.kind,
                    "key": ident,
                    **fields,
                }
            )
        )
    return out


# --- events ---------------------------------------------------------------------------------------------


def is_noise(event: Mapping[str, Any]) -> bool:
    return str(event.get("Action") or "").startswith(NOISE_PREFIXES)


def event_observation(
    event: Mapping[str, Any], container: ContainerState | None = None, image: ImageInfo | None = None
) -> DockerEventObserved:
    """One record of GET /events (its `timeNano`, `Type`, `Action`, `Actor`) as an observation."""
    actor = event.get("Actor") or {}
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items() if k in ATTRIBUTES}
    time_nano = int(event.get("timeNano") or int(event["time"]) * 1_000_000_000)
    return DockerEventObserved(
        ts=ts_from_nano(time_nano),
        time_nano=time_nano,
        object_type=str(event.get("Type") or "unknown"),
        action=str(event.get("Action") or event.get("status") or ""),
        actor_id=str(actor.get("ID") or event.get("id") or ""),
        attributes=attributes,
        container=container,
        image=image,
    )


def subject_of(obs: DockerEventObserved | DockerStateObserved) -> str:
    """The entity the record is about: its events stay in one partition, in order."""
    if isinstance(obs, DockerEventObserved):
        if obs.image is not None:
            return obs.image.id
        return obs.actor_id
    if obs.object_type == "image" and obs.image is not None:
        return obs.image.id
    return obs.key


def raw_envelope(
    host: str, obs: DockerEventObserved | DockerStateObserved, observed_at: datetime
) -> Envelope:
    """Ids: an event by its time, actor and action (the engine's own identity of it); a snapshot
    difference by the snapshot's digest and the item (the same snapshot after a crash, the same ids)."""
    if isinstance(obs, DockerEventObserved):
        eid = event_id("raw", host, SOURCE, obs.time_nano, obs.object_type, obs.actor_id, obs.action)
    else:
        eid = event_id("raw", host, "docker-snapshot", obs.snapshot, obs.object_type, obs.key, obs.change)
    return Envelope(
        id=eid,
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=observed_at,
        subject=subject_of(obs),
        payload=obs.model_dump(mode="json"),
    )
