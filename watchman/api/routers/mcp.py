"""The MCP domain's endpoints: the declared servers, one server's state and tools, and start / stop /
restart, which publish a command for the host's MCP supervisor (poll the status_url)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from projections.catalog import CatalogError, resolve
from schemas.events import CommandPayload, command_envelope
from schemas.events.mcp import RestartMCPServer, StartMCPServer, StopMCPServer
from watchman.api.auth import Caller
from watchman.api.base import CurrentBackend, Problem, Rows, run_cypher

router = APIRouter(tags=["mcp"])

ServerName = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$",
        description="the server's name as declared (io.github.user/weather, files)",
    ),
]


class LifecycleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(
        None, description="the host the server runs on (default: this process's)", max_length=255
    )
    idempotency_key: str | None = Field(
        None,
        description="the same key gives the same command id: a retried request is one command",
        max_length=200,
    )
    reason: str = Field("", max_length=500)


class StopRequest(LifecycleRequest):
    confirm: Literal[True] = Field(
        description="must be true: the server's clients lose it until it is started"
    )


class ChangesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(30, ge=1, le=36_500, description="look back this many days")


class MCPCommandAccepted(BaseModel):
    command_id: str
    type: str
    host: str
    server: str
    status_url: str


def _rows(backend: CurrentBackend, name: str, params: dict[str, str | int]) -> Rows:
    try:
        cypher, bound = resolve(name, params, datetime.now(UTC))
    except CatalogError as exc:
        raise HTTPException(400, str(exc)) from None
    return run_cypher(backend, cypher, bound)


@router.get("/admin/mcp/servers", response_model=Rows)
def servers(caller: Caller, backend: CurrentBackend) -> Rows:
    """Every declared MCP server: version, transport, deployment, status, health, latency, tools."""
    return _rows(backend, "mcp-servers", {})


@router.get("/admin/mcp/running", response_model=Rows)
def running(caller: Caller, backend: CurrentBackend) -> Rows:
    """Which MCP servers are running?"""
    return _rows(backend, "mcp-servers-running", {})


@router.get("/admin/mcp/unhealthy", response_model=Rows)
def unhealthy(caller: Caller, backend: CurrentBackend) -> Rows:
    """Which MCP servers are unhealthy (or down without being stopped)?"""
    return _rows(backend, "mcp-servers-unhealthy", {})


@router.get(
    "/admin/mcp/tools/{tool}",
    response_model=Rows,
    responses={404: {"model": Problem}},
)
def tool_provider(
    tool: Annotated[str, Path(min_length=1, max_length=200)], caller: Caller, backend: CurrentBackend
) -> Rows:
    """Which MCP server provides this tool?"""
    return _rows(backend, "mcp-tool-provider", {"tool": tool})


@router.get(
    "/admin/mcp/servers/{server:path}/tools",
    response_model=Rows,
    responses={404: {"model": Problem}},
)
def tools(server: ServerName, caller: Caller, backend: CurrentBackend) -> Rows:
    """The tools the server offers now."""
    return _rows(backend, "mcp-server-tools", {"server": server})


@router.get(
    "/admin/mcp/servers/{server:path}/changes",
    response_model=Rows,
    responses={404: {"model": Problem}},
)
def changes(
    server: ServerName, caller: Caller, backend: CurrentBackend, q: Annotated[ChangesQuery, Query()]
) -> Rows:
    """What changed in the server's tools (the last `days` days; unknown parameters are refused)."""
    return _rows(backend, "mcp-tool-changes", {"server": server, "days": q.days})


def _publish(
    backend: CurrentBackend, payload: CommandPayload, body: LifecycleRequest, server: str
) -> MCPCommandAccepted:
    now = datetime.now(UTC)
    host = body.host or backend.host
    if backend.deployment == "embedded" and host != backend.host:
        raise HTTPException(400, f"this embedded daemon manages {backend.host!r} only, not {host!r}")
    key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(
        payload, host=host, source="watchman.api", issued_at=now, dedup_key=f"{server}/{key}"
    )
    backend.publish(env)
    return MCPCommandAccepted(
        command_id=env.id, type=env.type, host=host, server=server, status_url=f"/admin/commands/{env.id}"
    )


@router.post(
    "/admin/mcp/servers/{server:path}/start",
    response_model=MCPCommandAccepted,
    status_code=202,
    responses={404: {"model": Problem}},
)
def start(
    server: ServerName, caller: Caller, backend: CurrentBackend, body: LifecycleRequest | None = None
) -> MCPCommandAccepted:
    """Start the server (a StartMCPServer command; nothing happens if it runs)."""
    body = body or LifecycleRequest()
    return _publish(
        backend, StartMCPServer(issued_by=caller, reason=body.reason, server=server), body, server
    )


@router.post(
    "/admin/mcp/servers/{server:path}/restart",
    response_model=MCPCommandAccepted,
    status_code=202,
    responses={404: {"model": Problem}},
)
def restart(
    server: ServerName, caller: Caller, backend: CurrentBackend, body: LifecycleRequest | None = None
) -> MCPCommandAccepted:
    """Restart the server: a new process (or container); its tools are listed again."""
    body = body or LifecycleRequest()
    return _publish(
        backend, RestartMCPServer(issued_by=caller, reason=body.reason, server=server), body, server
    )


@router.post(
    "/admin/mcp/servers/{server:path}/stop",
    response_model=MCPCommandAccepted,
    status_code=202,
    responses={404: {"model": Problem}},
)
def stop(
    server: ServerName, caller: Caller, body: StopRequest, backend: CurrentBackend
) -> MCPCommandAccepted:
    """Stop the server and keep it stopped (destructive: needs {"confirm": true})."""
    payload = StopMCPServer(issued_by=caller, reason=body.reason, server=server, confirm=True)
    return _publish(backend, payload, body, server)


@router.get("/admin/mcp/servers/{server:path}", response_model=Rows, responses={404: {"model": Problem}})
def status(server: ServerName, caller: Caller, backend: CurrentBackend) -> Rows:
    """One server's state."""
    rows = _rows(backend, "mcp-servers", {"server": server})
    if not rows.rows:
        raise HTTPException(404, f"no MCP server {server!r} in the graph")
    return rows
