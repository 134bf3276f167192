"""Exposure: the sockets listening on a host, which process, unit, container and package serve them,
and whether they are bound beyond loopback (reachability against the firewall is a graph question)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

Protocol = Literal["tcp", "udp"]


class Listener(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Protocol
    address: str  # as bound: 0.0.0.0, ::, 127.0.0.1, 192.0.2.10
    port: int
    pid: int | None = None
    process: str | None = None
    exe: str | None = None
    unit: str | None = None  # the systemd unit of its cgroup
    container: str | None = None  # a Docker/Podman container id from its cgroup
    package: str | None = None  # the deb package owning exe (dpkg's file lists)


@register
class ListeningSocketsObserved(EventPayload):
    """Every listening TCP and unconnected UDP socket of one network namespace, sent when it changed."""

    TYPE: ClassVar[str] = "ListeningSocketsObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    netns: str | None = None
    sockets: tuple[Listener, ...]
    digest: str

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


class ServiceEvent(EventPayload):
    VERSION: ClassVar[int] = 1

    protocol: Protocol
    address: str
    port: int
    netns: str | None = None
    pid: int | None = None
    process: str | None = None
    unit: str | None = None
    container: str | None = None
    package: str | None = None
    # "host/protocol/address/port": the listener's identity on its host (alerts de-duplicate on it).
    listener: str


@register
class ServiceExposed(ServiceEvent):
    """A socket started listening on an address beyond loopback."""

    TYPE: ClassVar[str] = "ServiceExposed"


@register
class ServiceUnexposed(ServiceEvent):
    """It stopped listening there."""

    TYPE: ClassVar[str] = "ServiceUnexposed"


SERVICE_EVENTS: tuple[type[ServiceEvent], ...] = (ServiceExposed, ServiceUnexposed)

RAW_EXPOSURE = Topic(
    "watchman.raw.exposure",
    partitions=1,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="ListeningSocketsObserved: the listening sockets of a host or namespace; key host.",
)
EVENTS_EXPOSURE = Topic(
    "watchman.events.exposure",
    partitions=1,
    retention_days=None,
    description="ServiceExposed/ServiceUnexposed; key host/listener. Kept forever.",
)
LISTENING_SOCKET = NodeLabel(
    "ListeningSocket",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("netns", "STRING"),
        Prop("protocol", "STRING"),
        Prop("address", "STRING"),
        Prop("port", "INT64"),
        Prop("port_needle", "STRING"),  # ",PORT," to match FirewallRule.port_set
        Prop("state", "STRING", "latest"),  # open | closed
        Prop("pid", "INT64", "latest"),
        Prop("process", "STRING", "latest"),
        Prop("unit", "STRING", "latest"),
        Prop("container", "STRING", "latest"),
        Prop("package", "STRING", "latest"),
        Prop("software", "STRING", "latest"),  # the Software key of `package` (deb, native arch)
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A socket listening beyond loopback; key host[/netns:NAME]/protocol/address/port.",
)
LISTENS_ON = RelType("LISTENS_ON", (("ListeningSocket", "Host"),), description="The socket is on this host.")
ACTED_ON = RelType("ACTED_ON", (("Event", "ListeningSocket"),))

TOPICS: tuple[Topic, ...] = (RAW_EXPOSURE, EVENTS_EXPOSURE)
NODES: tuple[NodeLabel, ...] = (LISTENING_SOCKET,)
RELS: tuple[RelType, ...] = (LISTENS_ON, ACTED_ON)

ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="ServiceExposed",
        fires_on="ServiceExposed",
        severity="info",
        subject="listener",
        summary="{process} listens on {address}:{port}/{protocol}",
        resolves_on=("ServiceUnexposed",),
        ends_after_minutes=None,
    ),
)
