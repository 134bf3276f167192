"""Project container, image, volume and endpoint events into graph operations (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.containers import (
    CONTAINER_EVENTS,
    ENDPOINT_EVENTS,
    IMAGE_EVENTS,
    VOLUME_EVENTS,
    ContainerEvent,
    EndpointEvent,
    EndpointExposed,
    ImageEvent,
    ImagePulled,
    VolumeCreated,
    VolumeEvent,
)

# What each container event says the container's state is afterwards (None: it does not say).
STATE_AFTER: dict[str, str | None] = {
    "ContainerCreated": "created",
    "ContainerStarted": "running",
    "ContainerRestarted": "running",
    "ContainerStopped": "exited",
    "ContainerDied": "exited",
    "ContainerOOMKilled": None,
    "ContainerHealthChanged": None,
    "ContainerDestroyed": "removed",
}
ACTION: dict[str, str] = {
    "ContainerCreated": "create",
    "ContainerStarted": "start",
    "ContainerRestarted": "restart",
    "ContainerStopped": "stop",
    "ContainerDied": "die",
    "ContainerOOMKilled": "oom",
    "ContainerHealthChanged": "health",
    "ContainerDestroyed": "destroy",
    "ImagePulled": "pull",
    "ImageRemoved": "delete",
    "VolumeCreated": "create",
    "VolumeRemoved": "remove",
    "EndpointExposed": "expose",
    "EndpointClosed": "close",
}


def container_key(host: str, container_id: str) -> str:
    return f"{host}/{container_id}"


def image_key(host: str, image_id: str) -> str:
    return f"{host}/{image_id}"


def volume_key(host: str, name: str) -> str:
    return f"{host}/{name}"


def endpoint_key(host: str, host_ip: str, host_port: int, protocol: str) -> str:
    return f"{host}/{host_ip}/{host_port}/{protocol}"


def summary(event_type: str, payload: EventPayload) -> str:
    """One line for cross-domain change lists, e.g. "die web (tiny:1) exit 3"."""
    action = ACTION.get(event_type, event_type)
    if isinstance(payload, ContainerEvent):
        name = payload.name or payload.container_id[:12]
        line = f"{action} {name}" + (f" ({payload.image})" if payload.image else "")
        if payload.exit_code is not None:
            line += f" exit {payload.exit_code}"
        if payload.health is not None:
            line += f" {payload.previous_health or 'none'} -> {payload.health}"
        return line
    if isinstance(payload, ImageEvent):
        return f"{action} image {payload.reference or payload.image_id}"
    if isinstance(payload, VolumeEvent):
        return f"{action} volume {payload.name}"
    if isinstance(payload, EndpointEvent):
        name = payload.container_name or payload.container_id[:12]
        return (
            f"{action} {payload.host_ip}:{payload.host_port}/{payload.protocol} -> "
            f"{name}:{payload.container_port}"
        )
    return action


def _base(event: Envelope, payload: EventPayload, label: str, key: str, **props: Any) -> list[GraphOp]:
    ts = event.ts
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": event.host,
                "action": ACTION.get(event.type, event.type),
                "subject": key,
                "summary": summary(event.type, payload),
                **props,
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", event.host),
        UpsertRel("ACTED_ON", "Event", event.id, label, key),
    ]


def _seen(ts: datetime) -> dict[str, Any]:
    return {"first_seen": ts, "last_seen": ts, "updated_at": ts}


def _image(host: str, image_id: str, ts: datetime, **props: Any) -> list[GraphOp]:
    key = image_key(host, image_id)
    return [
        UpsertNode("Image", key, {"host": host, "id": image_id, **props, **_seen(ts)}, ts=ts),
        UpsertRel("STORED_ON", "Image", key, "Host", host),
    ]


def _volume(host: str, name: str, ts: datetime, **props: Any) -> list[GraphOp]:
    key = volume_key(host, name)
    return [
        UpsertNode("Volume", key, {"host": host, "name": name, **props, **_seen(ts)}, ts=ts),
        UpsertRel("STORED_ON", "Volume", key, "Host", host),
    ]


def _container(host: str, container_id: str, ts: datetime, **props: Any) -> list[GraphOp]:
    key = container_key(host, container_id)
    node = {"host": host, "id": container_id, **props, **_seen(ts)}
    return [
        UpsertNode("Container", key, node, ts=ts),
        UpsertRel("RUNS_ON", "Container", key, "Host", host),
    ]


def project_container(event: Envelope, payload: ContainerEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    key = container_key(host, payload.container_id)
    props: dict[str, Any] = {"name": payload.name, "image": payload.image, "state": STATE_AFTER[event.type]}
    if payload.started_at is not None:
        props["started_at"] = payload.started_at
    if payload.exit_code is not None:
        props["exit_code"] = payload.exit_code
    if payload.restart_count is not None:
        props["restart_count"] = payload.restart_count
    if payload.health is not None:
        props["health"] = payload.health
    ops = _base(event, payload, "Container", key, exit_code=payload.exit_code)
    ops[1:1] = _container(host, payload.container_id, ts, **props)
    if payload.image_id:
        ops[1:1] = _image(host, payload.image_id, ts)
        ops.append(UpsertRel("RUNS_IMAGE", "Container", key, "Image", image_key(host, payload.image_id)))
    for name in payload.volumes:
        ops[1:1] = _volume(host, name, ts)
        ops.append(UpsertRel("MOUNTS", "Container", key, "Volume", volume_key(host, name)))
    return ops


def project_image(event: Envelope, payload: ImageEvent) -> list[GraphOp]:
    state = "present" if isinstance(payload, ImagePulled) else "removed"
    key = image_key(event.host, payload.image_id)
    ops = _base(event, payload, "Image", key)
    ops[1:1] = _image(event.host, payload.image_id, event.ts, reference=payload.reference, state=state)
    return ops


def project_volume(event: Envelope, payload: VolumeEvent) -> list[GraphOp]:
    state = "present" if isinstance(payload, VolumeCreated) else "removed"
    key = volume_key(event.host, payload.name)
    ops = _base(event, payload, "Volume", key)
    ops[1:1] = _volume(event.host, payload.name, event.ts, driver=payload.driver, state=state)
    return ops


def project_endpoint(event: Envelope, payload: EndpointEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    key = endpoint_key(host, payload.host_ip, payload.host_port, payload.protocol)
    ckey = container_key(host, payload.container_id)
    node = {
        "host": host,
        "host_ip": payload.host_ip,
        "host_port": payload.host_port,
        "protocol": payload.protocol,
        "state": "open" if isinstance(payload, EndpointExposed) else "closed",
        "container": ckey,
        "container_port": payload.container_port,
        **_seen(ts),
    }
    ops = _base(event, payload, "NetworkEndpoint", key)
    ops[1:1] = [
        UpsertNode("NetworkEndpoint", key, node, ts=ts),
        *_container(host, payload.container_id, ts, name=payload.container_name),
    ]
    ops += [
        UpsertRel("BOUND_ON", "NetworkEndpoint", key, "Host", host),
        UpsertRel("EXPOSES", "NetworkEndpoint", key, "Container", ckey),
    ]
    return ops


def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    """Event node + the entity's current state + Host, and the relationships between them."""
    if isinstance(payload, ContainerEvent):
        return project_container(event, payload)
    if isinstance(payload, ImageEvent):
        return project_image(event, payload)
    if isinstance(payload, VolumeEvent):
        return project_volume(event, payload)
    if isinstance(payload, EndpointEvent):
        return project_endpoint(event, payload)
    raise TypeError(f"containers projection got {type(payload).__name__}")


# Which domain event types this projection handles (projections/registry.py collects it).
# One pure project() for all its types (it dispatches on the payload's class).
PROJECTORS: dict[str, Project] = {
    cls.TYPE: project for cls in (*CONTAINER_EVENTS, *IMAGE_EVENTS, *VOLUME_EVENTS, *ENDPOINT_EVENTS)
}
