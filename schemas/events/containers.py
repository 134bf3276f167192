"""Docker events: the raw observations of the Docker producer and the container domain events."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, MiB, NodeLabel, Prop, RelType, Topic

DockerObject = Literal["container", "image", "volume", "network"]
SnapshotChange = Literal["added", "removed", "changed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PortBinding(_Frozen):
    """One published port: host_ip:host_port on the host reaches container_port/protocol in the container."""

    host_ip: str
    host_port: int
    container_port: int
    protocol: str


class MountInfo(_Frozen):
    type: str
    # The volume name for volume mounts; None for bind and tmpfs mounts.
    name: str | None = None
    destination: str
    rw: bool = True


class ContainerState(_Frozen):
    """What the engine says about one container at one moment (an inspect, reduced to what we track).

    The environment and the command line are left out on purpose: they are where secrets live.
    """

    id: str
    name: str
    image: str
    image_id: str | None = None
    status: str
    running: bool
    exit_code: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restart_count: int = 0
    oom_killed: bool = False
    health: str | None = None
    ports: tuple[PortBinding, ...] = ()
    mounts: tuple[MountInfo, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("created_at", "started_at", "finished_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


class ImageInfo(_Frozen):
    id: str
    tags: tuple[str, ...] = ()


class VolumeInfo(_Frozen):
    name: str
    driver: str | None = None


class NetworkInfo(_Frozen):
    id: str
    name: str
    driver: str | None = None


@register
class DockerEventObserved(EventPayload):
    """One record of the engine's events stream, with the container as inspected right after it."""

    TYPE: ClassVar[str] = "DockerEventObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    time_nano: int
    object_type: str
    action: str
    actor_id: str
    # A chosen subset of the actor's attributes (name, image, exitCode, ...): labels are in `container`.
    attributes: dict[str, str] = Field(default_factory=dict)
    # None when the container was already gone (destroy) or the event is not about a container.
    container: ContainerState | None = None
    # The image as inspected right after an image event (a pull names a reference, not an id).
    image: ImageInfo | None = None

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class DockerStateObserved(EventPayload):
    """One difference between two snapshots of the engine (taken at start and after each reconnect).

    The state is the one after the change, or the last known one for a removed object.
    """

    TYPE: ClassVar[str] = "DockerStateObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime  # when the snapshot was taken: the state is true as of then
    snapshot: str  # digest of the whole snapshot
    object_type: DockerObject
    change: SnapshotChange
    key: str
    container: ContainerState | None = None
    image: ImageInfo | None = None
    volume: VolumeInfo | None = None
    network: NetworkInfo | None = None

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


Origin = Literal["event", "snapshot"]


class ContainerEvent(EventPayload):
    """Base of the container domain events: something happened to one container on one host."""

    VERSION: ClassVar[int] = 1

    container_id: str
    name: str | None = None
    image: str | None = None
    image_id: str | None = None
    # "event" when the engine's events stream told it, "snapshot" when a resynchronisation found it.
    origin: Origin = "event"
    exit_code: int | None = None
    health: str | None = None
    previous_health: str | None = None
    restart_count: int | None = None
    started_at: datetime | None = None
    # Names of the volumes the container mounts (when it starts).
    volumes: tuple[str, ...] = ()

    @field_validator("started_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


@register
class ContainerCreated(ContainerEvent):
    TYPE: ClassVar[str] = "ContainerCreated"


@register
class ContainerStarted(ContainerEvent):
    TYPE: ClassVar[str] = "ContainerStarted"


@register
class ContainerRestarted(ContainerEvent):
    """A start of a container that had run before (`docker restart`, a restart policy, `docker start`)."""

    TYPE: ClassVar[str] = "ContainerRestarted"


@register
class ContainerStopped(ContainerEvent):
    TYPE: ClassVar[str] = "ContainerStopped"


@register
class ContainerDied(ContainerEvent):
    """The container's main process ended, with `exit_code`."""

    TYPE: ClassVar[str] = "ContainerDied"


@register
class ContainerOOMKilled(ContainerEvent):
    TYPE: ClassVar[str] = "ContainerOOMKilled"


@register
class ContainerHealthChanged(ContainerEvent):
    TYPE: ClassVar[str] = "ContainerHealthChanged"


@register
class ContainerDestroyed(ContainerEvent):
    TYPE: ClassVar[str] = "ContainerDestroyed"


class ImageEvent(EventPayload):
    VERSION: ClassVar[int] = 1

    image_id: str
    reference: str | None = None
    # The engine's word for it: pull, import, load (ImagePulled) or delete (ImageRemoved).
    action: str
    origin: Origin = "event"


@register
class ImagePulled(ImageEvent):
    """An image arrived on the host (pulled, imported or loaded)."""

    TYPE: ClassVar[str] = "ImagePulled"


@register
class ImageRemoved(ImageEvent):
    TYPE: ClassVar[str] = "ImageRemoved"


class VolumeEvent(EventPayload):
    VERSION: ClassVar[int] = 1

    name: str
    driver: str | None = None
    origin: Origin = "event"


@register
class VolumeCreated(VolumeEvent):
    TYPE: ClassVar[str] = "VolumeCreated"


@register
class VolumeRemoved(VolumeEvent):
    TYPE: ClassVar[str] = "VolumeRemoved"


class EndpointEvent(EventPayload):
    """A published port of a container: host_ip:host_port/protocol -> the container's container_port."""

    VERSION: ClassVar[int] = 1

    container_id: str
    container_name: str | None = None
    host_ip: str
    host_port: int
    container_port: int
    protocol: str
    origin: Origin = "event"


@register
class EndpointExposed(EndpointEvent):
    TYPE: ClassVar[str] = "EndpointExposed"


@register
class EndpointClosed(EndpointEvent):
    TYPE: ClassVar[str] = "EndpointClosed"


CONTAINER_EVENTS: tuple[type[ContainerEvent], ...] = (
    ContainerCreated,
    ContainerStarted,
    ContainerRestarted,
    ContainerStopped,
    ContainerDied,
    ContainerOOMKilled,
    ContainerHealthChanged,
    ContainerDestroyed,
)
IMAGE_EVENTS: tuple[type[ImageEvent], ...] = (ImagePulled, ImageRemoved)
VOLUME_EVENTS: tuple[type[VolumeEvent], ...] = (VolumeCreated, VolumeRemoved)
ENDPOINT_EVENTS: tuple[type[EndpointEvent], ...] = (EndpointExposed, EndpointClosed)


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_CONTAINERS = Topic(
    "watchman.raw.containers",
    partitions=4,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="DockerEventObserved (the engine's events stream) and DockerStateObserved (snapshot "
    "differences after a (re)connect) records; key host/object id.",
)
EVENTS_CONTAINERS = Topic(
    "watchman.events.containers",
    partitions=4,
    retention_days=None,
    description="Container*/Image*/Volume*/Endpoint* domain events; key host/object id. Kept forever.",
)
CONTAINER = NodeLabel(
    "Container",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("id", "STRING"),
        Prop("name", "STRING", "latest"),
        Prop("image", "STRING", "latest"),
        Prop("state", "STRING", "latest"),
        Prop("health", "STRING", "latest"),
        Prop("started_at", "TIMESTAMP", "latest"),
        Prop("exit_code", "INT64", "latest"),
        Prop("restart_count", "INT64", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One Docker container on one host; key host/container id.",
)
IMAGE = NodeLabel(
    "Image",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("id", "STRING"),
        Prop("reference", "STRING", "latest"),
        Prop("state", "STRING", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One container image on one host; key host/image id (sha256:...).",
)
VOLUME = NodeLabel(
    "Volume",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("driver", "STRING"),
        Prop("state", "STRING", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One Docker volume on one host; key host/volume name.",
)
NETWORK_ENDPOINT = NodeLabel(
    "NetworkEndpoint",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("host_ip", "STRING"),
        Prop("host_port", "INT64"),
        Prop("protocol", "STRING"),
        Prop("state", "STRING", "latest"),  # open | closed
        # The container (its node key) that serves the endpoint now, and on which port.
        Prop("container", "STRING", "latest"),
        Prop("container_port", "INT64", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A published port on a host; key host/host_ip/host_port/protocol.",
)
EXPOSES = RelType(
    "EXPOSES",
    (("NetworkEndpoint", "Container"),),
    # Kept when the endpoint closes or moves: NetworkEndpoint.container names who serves it now.
    description="The endpoint reaches (or reached) this container.",
)
MOUNTS = RelType("MOUNTS", (("Container", "Volume"),), description="The container mounts this volume.")
RUNS_IMAGE = RelType("RUNS_IMAGE", (("Container", "Image"),), description="The container runs this image.")
RUNS_ON = RelType(
    "RUNS_ON",
    (("Container", "Host"), ("Service", "Host")),
    description="The container (or systemd service) lives on this host.",
)
STORED_ON = RelType(
    "STORED_ON", (("Image", "Host"), ("Volume", "Host")), description="The image or volume is on this host."
)
BOUND_ON = RelType("BOUND_ON", (("NetworkEndpoint", "Host"),), description="The endpoint is on this host.")
# This domain's entities that events act on, and nodes that happen on a host (the core types).
ACTED_ON = RelType(
    "ACTED_ON",
    (
        ("Event", "Container"),
        ("Event", "Image"),
        ("Event", "Volume"),
        ("Event", "NetworkEndpoint"),
    ),
)
TOPICS: tuple[Topic, ...] = (
    RAW_CONTAINERS,
    EVENTS_CONTAINERS,
)
NODES: tuple[NodeLabel, ...] = (
    CONTAINER,
    IMAGE,
    VOLUME,
    NETWORK_ENDPOINT,
)
RELS: tuple[RelType, ...] = (
    EXPOSES,
    MOUNTS,
    RUNS_IMAGE,
    RUNS_ON,
    STORED_ON,
    BOUND_ON,
    ACTED_ON,
)
