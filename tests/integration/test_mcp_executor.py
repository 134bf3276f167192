"""watchman/executors/mcp.py: what it refuses before acting, and that it hands the action to the host's
MCP supervisor (a real MCPSupervisor over a real stdio server written with the SDK)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from producers.mcp.registry import from_settings
from producers.mcp.supervisor import MCPSupervisor
from schemas.events import CommandRejected, CommandSucceeded, command_envelope
from schemas.events.mcp import StartMCPServer, StopMCPServer
from watchman.executors import EXECUTORS, ExecContext

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_server.py"
T = datetime(2026, 12, 4, tzinfo=UTC)


def _run(payload: StartMCPServer | StopMCPServer, ctx: ExecContext) -> tuple[type, str]:
    env = command_envelope(payload, host="h1", source="test", issued_at=T, dedup_key="k")
    return EXECUTORS[payload.TYPE](env, payload, ctx)


def test_refused_without_a_supervisor_an_unknown_server_or_a_confirmation(tmp_path: Path) -> None:
    bare = ExecContext(host="h1", sources=[], now=lambda: T)
    status, detail = _run(StartMCPServer(issued_by="t", server="x"), bare)
    assert status is CommandRejected and "no MCP servers are declared" in detail
    spec = from_settings(
        {"name": "demo", "command": sys.executable, "args": [str(SERVER)], "autostart": False}
    )
    sup = MCPSupervisor("h1", [spec], resolve=lambda v: v, log_dir=tmp_path, interval=0.5)
    try:
        ctx = ExecContext(host="h1", sources=[sup], now=lambda: T)
        status, detail = _run(StartMCPServer(issued_by="t", server="other"), ctx)
        assert status is CommandRejected and "known: demo" in detail
        status, detail = _run(StopMCPServer(issued_by="t", server="demo"), ctx)
        assert status is CommandRejected and "confirm" in detail
        status, detail = _run(StopMCPServer(issued_by="t", server="demo", confirm=True), ctx)
        assert (status, detail) == (CommandSucceeded, "demo is already stopped")  # autostart off: never ran
        status, detail = _run(StartMCPServer(issued_by="t", server="demo"), ctx)
        assert status is CommandSucceeded and "running (pid" in detail
        assert sup.status()["demo"]["state"] == "running"
        status, detail = _run(StartMCPServer(issued_by="t", server="demo"), ctx)
        assert status is CommandSucceeded and "already running" in detail  # idempotent
    finally:
        sup.close()
