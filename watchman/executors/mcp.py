"""StartMCPServer, StopMCPServer, RestartMCPServer: the MCP supervisor on this host carries them out.

The supervisor (producers/mcp/supervisor.py) is one of this host's sources; the executor finds it in
ExecContext.sources, asks it to act and waits until the server runs (or is stopped). Idempotent:
starting a running server or stopping a stopped one succeeds without acting. A stop needs
confirm=true (it takes a server away from its clients).
"""

from __future__ import annotations

from typing import Any

from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded
from schemas.events.mcp import RestartMCPServer, StartMCPServer, StopMCPServer
from watchman.executors import ExecContext, Outcome, executor

WAIT = 90.0


def _supervisor(ctx: ExecContext) -> Any | None:
    for src in ctx.sources:
        if callable(getattr(src, "control", None)) and src.name == "mcp:supervisor":
            return src
    return None


def _act(payload: CommandPayload, ctx: ExecContext, action: str) -> Outcome:
    server = str(getattr(payload, "server", ""))
    sup = _supervisor(ctx)
    if sup is None:
        return (
            CommandRejected,
            f"no MCP servers are declared on {ctx.host} ([[mcp.servers]] in watchman.toml)",
        )
    if server not in sup.servers():
        return (
            CommandRejected,
            f"no MCP server {server!r} declared on {ctx.host} (known: {', '.join(sup.servers())})",
        )
    ok, detail = sup.control(server, action, wait=WAIT)
    return (CommandSucceeded if ok else CommandFailed), detail


@executor(StartMCPServer.TYPE)
def start_mcp_server(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, StartMCPServer)
    return _act(payload, ctx, "start")


@executor(StopMCPServer.TYPE)
def stop_mcp_server(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, StopMCPServer)
    if not payload.confirm:
        return CommandRejected, f"stopping {payload.server} needs confirm=true"
    return _act(payload, ctx, "stop")


@executor(RestartMCPServer.TYPE)
def restart_mcp_server(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, RestartMCPServer)
    return _act(payload, ctx, "restart")
