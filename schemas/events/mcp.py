"""MCP servers: what the supervisor observes of the declared Model Context Protocol servers, the domain
events decided from it, the lifecycle commands, the graph (MCPServer, MCPTool) and the alert.

The supervisor (producers/mcp/supervisor.py) tells three kinds of raw fact: a server as declared
(MCPServerDeclared), a lifecycle step of its process or container (MCPProcessObserved), one MCP
handshake or ping and its latency (MCPProbeObserved), and what a server lists (MCPInventoryObserved:
tools, resources, prompts). Environment variable values never appear here: only their names.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.events.commands import CommandPayload, register_command
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

Transport = Literal["stdio", "streamable-http"]
Deployment = Literal["local", "container", "remote"]
ProcessAction = Literal["started", "exited", "stopped", "start_failed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Timed(EventPayload):
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


class ToolInfo(_Frozen):
    """One tool as a server lists it; the input schema is kept as the SHA-256 of its canonical JSON."""

    name: str
    description: str = ""
    input_schema_hash: str


# --- raw observations (watchman.raw.mcp) ---


@register
class MCPServerDeclared(_Timed):
    """A server as the registry declares it (watchman.toml or a server.json), told at each start of the
    supervisor. `env_names` are the environment variables it gets (values never), `secret_env` those
    whose value comes from a secret."""

    TYPE: ClassVar[str] = "MCPServerDeclared"
    VERSION: ClassVar[int] = 1

    server: str
    version: str = ""
    description: str = ""
    transport: Transport
    deployment: Deployment
    url: str = ""
    image: str = ""
    program: str = ""  # the executable's name (arguments may hold secrets: not told)
    registry_type: str = ""
    identifier: str = ""
    env_names: tuple[str, ...] = ()
    secret_env: tuple[str, ...] = ()
    origin: str = ""  # "watchman.toml" or the server.json path


@register
class MCPProcessObserved(_Timed):
    """A lifecycle step of a supervised server: its process or container started, exited, was stopped
    on request, or could not start. `attempt` counts starts since the last stable run; `requested`
    says an operator (a command) asked for it."""

    TYPE: ClassVar[str] = "MCPProcessObserved"
    VERSION: ClassVar[int] = 1

    server: str
    action: ProcessAction
    pid: int | None = None
    container_id: str | None = None
    exit_code: int | None = None
    detail: str = ""
    attempt: int = 0
    requested: bool = False
    backoff_seconds: float | None = None


@register
class MCPProbeObserved(_Timed):
    """One MCP health probe: `initialize` (a new session) or `ping` (an open one), its round trip."""

    TYPE: ClassVar[str] = "MCPProbeObserved"
    VERSION: ClassVar[int] = 1

    server: str
    ok: bool
    method: Literal["initialize", "ping"]
    latency_ms: float | None = None
    detail: str = ""
    server_version: str | None = None  # serverInfo.version from initialize
    protocol_version: str | None = None


@register
class MCPInventoryObserved(_Timed):
    """What a server lists now: tools (list_tools), resources and prompts (names), and a digest of it."""

    TYPE: ClassVar[str] = "MCPInventoryObserved"
    VERSION: ClassVar[int] = 1

    server: str
    server_version: str | None = None
    tools: tuple[ToolInfo, ...] = ()
    resources: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    digest: str


# --- domain events (watchman.events.mcp) ---


class MCPServerEvent(EventPayload):
    """Base of the MCP domain events: something happened to one declared server on one host."""

    VERSION: ClassVar[int] = 1
    server: str
    version: str | None = None
    detail: str = ""


@register
class MCPServerRegistered(MCPServerEvent):
    """A server appeared in the registry, or its declaration changed (version, transport, deployment)."""

    TYPE: ClassVar[str] = "MCPServerRegistered"
    previous_version: str | None = None
    transport: Transport
    deployment: Deployment
    description: str = ""
    url: str = ""
    image: str = ""
    program: str = ""
    env_names: tuple[str, ...] = ()
    secret_env: tuple[str, ...] = ()


@register
class MCPServerStarted(MCPServerEvent):
    """The server's process (or container) started; after an unrequested exit it is a restart, and
    `outage_seconds` is how long it was down."""

    TYPE: ClassVar[str] = "MCPServerStarted"
    pid: int | None = None
    container_id: str | None = None
    restart: bool = False
    outage_seconds: float | None = None
    attempt: int = 0
    restarts: int = 0  # unrequested exits followed by a start, since the server was declared


@register
class MCPServerExited(MCPServerEvent):
    """The server's process ended without being asked to: the start of an outage."""

    TYPE: ClassVar[str] = "MCPServerExited"
    pid: int | None = None
    exit_code: int | None = None


@register
class MCPServerStopped(MCPServerEvent):
    """The server was stopped on request (a StopMCPServer or RestartMCPServer command)."""

    TYPE: ClassVar[str] = "MCPServerStopped"
    pid: int | None = None


@register
class MCPServerStartFailed(MCPServerEvent):
    """A start did not get as far as a running server; the supervisor retries after `backoff_seconds`."""

    TYPE: ClassVar[str] = "MCPServerStartFailed"
    attempt: int = 0
    backoff_seconds: float | None = None


@register
class MCPServerHealthy(MCPServerEvent):
    """The server answers the MCP handshake (or ping) again, or for the first time."""

    TYPE: ClassVar[str] = "MCPServerHealthy"
    latency_ms: float | None = None
    method: str = ""
    previous: str | None = None


@register
class MCPServerUnhealthy(MCPServerEvent):
    """The server does not answer the MCP handshake or ping (an alert, resolved by MCPServerHealthy)."""

    TYPE: ClassVar[str] = "MCPServerUnhealthy"
    method: str = ""
    previous: str | None = None


@register
class MCPServerLatencySampled(MCPServerEvent):
    """Probe round trips of one server over one window (every `window_minutes`): min, mean, max."""

    TYPE: ClassVar[str] = "MCPServerLatencySampled"
    window_start: datetime
    probes: int
    failures: int = 0
    min_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None

    @field_validator("window_start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class MCPToolsChanged(MCPServerEvent):
    """The server's tools differ from what it listed before (the first listing: all added).
    `tools` is the whole list now; added/removed/changed name the difference (changed: description or
    input schema)."""

    TYPE: ClassVar[str] = "MCPToolsChanged"
    previous_version: str | None = None
    tools: tuple[ToolInfo, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()


MCP_EVENTS: tuple[type[MCPServerEvent], ...] = (
    MCPServerRegistered,
    MCPServerStarted,
    MCPServerExited,
    MCPServerStopped,
    MCPServerStartFailed,
    MCPServerHealthy,
    MCPServerUnhealthy,
    MCPServerLatencySampled,
    MCPToolsChanged,
)


# --- commands (API/CLI -> watchman.commands -> watchman/executors/mcp.py) ---

_SERVER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$"


@register_command
class StartMCPServer(CommandPayload):
    """Start a declared MCP server (nothing to do when it runs)."""

    TYPE: ClassVar[str] = "StartMCPServer"
    server: str = Field(pattern=_SERVER_NAME)


@register_command
class StopMCPServer(CommandPayload):
    """Stop a declared MCP server and keep it stopped (destructive: `confirm` must be true)."""

    TYPE: ClassVar[str] = "StopMCPServer"
    server: str = Field(pattern=_SERVER_NAME)
    confirm: bool = False


@register_command
class RestartMCPServer(CommandPayload):
    """Stop and start a declared MCP server (a new process: a new version's tools are discovered)."""

    TYPE: ClassVar[str] = "RestartMCPServer"
    server: str = Field(pattern=_SERVER_NAME)


MCP_COMMANDS = (StartMCPServer, StopMCPServer, RestartMCPServer)


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_MCP = Topic(
    "watchman.raw.mcp",
    partitions=1,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="MCPServerDeclared, MCPProcessObserved, MCPProbeObserved and MCPInventoryObserved from "
    "the MCP supervisor; key host/server.",
)
EVENTS_MCP = Topic(
    "watchman.events.mcp",
    partitions=1,
    retention_days=None,
    description="MCPServer* and MCPToolsChanged domain events; key host/server. Kept forever.",
)
MCP_SERVER = NodeLabel(
    "MCPServer",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("version", "STRING", "latest"),
        Prop("transport", "STRING", "latest"),
        Prop("deployment", "STRING", "latest"),
        Prop("description", "STRING", "latest"),
        Prop("url", "STRING", "latest"),
        Prop("image", "STRING", "latest"),
        Prop("program", "STRING", "latest"),
        Prop("status", "STRING", "latest"),  # running | exited | stopped | failed | declared
        Prop("health", "STRING", "latest"),  # healthy | unhealthy
        Prop("health_detail", "STRING", "latest"),
        Prop("latency_ms", "DOUBLE", "latest"),
        Prop("pid", "INT64", "latest"),
        Prop("container_id", "STRING", "latest"),
        Prop("restarts", "INT64", "latest"),
        Prop("tools", "INT64", "latest"),
        Prop("resources", "STRING", "latest"),  # JSON list of resource URIs
        Prop("prompts", "STRING", "latest"),  # JSON list of prompt names
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One declared MCP server on one host; key host/server name.",
)
MCP_TOOL = NodeLabel(
    "MCPTool",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("server", "STRING"),
        Prop("name", "STRING"),
        Prop("description", "STRING", "latest"),
        Prop("input_schema_hash", "STRING", "latest"),
        Prop("state", "STRING", "latest"),  # present | removed
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A tool an MCP server offers (or offered: state removed); key host/server/tool name.",
)
PROVIDES = RelType(
    "PROVIDES",
    (("MCPServer", "MCPTool"),),
    description="The server lists (or listed: the tool's state says) this tool.",
)
RUNS_ON = RelType("RUNS_ON", (("MCPServer", "Host"),), description="The MCP server is declared on this host.")
ACTED_ON = RelType("ACTED_ON", (("Event", "MCPServer"),))
TOPICS: tuple[Topic, ...] = (RAW_MCP, EVENTS_MCP)
NODES: tuple[NodeLabel, ...] = (MCP_SERVER, MCP_TOOL)
RELS: tuple[RelType, ...] = (PROVIDES, RUNS_ON, ACTED_ON)

ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="MCPServerUnhealthy",
        fires_on="MCPServerUnhealthy",
        severity="critical",
        subject="server",
        summary="MCP server {server} does not answer: {detail}",
        resolves_on=("MCPServerHealthy", "MCPServerStopped"),
        ends_after_minutes=None,
    ),
)
