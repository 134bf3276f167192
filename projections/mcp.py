"""Project MCP server events into graph operations (pure): the MCPServer's current state, its tools
(MCPServer)-[:PROVIDES]->(MCPTool), and an Event node per event for the history questions."""

from __future__ import annotations

import json
from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.mcp import (
    MCP_EVENTS,
    MCPServerEvent,
    MCPServerExited,
    MCPServerHealthy,
    MCPServerLatencySampled,
    MCPServerRegistered,
    MCPServerStarted,
    MCPServerStartFailed,
    MCPServerStopped,
    MCPServerUnhealthy,
    MCPToolsChanged,
)

ACTION: dict[str, str] = {
    "MCPServerRegistered": "register",
    "MCPServerStarted": "start",
    "MCPServerExited": "exit",
    "MCPServerStopped": "stop",
    "MCPServerStartFailed": "start-failed",
    "MCPServerHealthy": "healthy",
    "MCPServerUnhealthy": "unhealthy",
    "MCPServerLatencySampled": "latency",
    "MCPToolsChanged": "tools-changed",
}


def server_key(host: str, server: str) -> str:
    return f"{host}/{server}"


def tool_key(host: str, server: str, tool: str) -> str:
    return f"{host}/{server}/{tool}"


def summary(event_type: str, p: MCPServerEvent) -> str:
    line = f"{ACTION.get(event_type, event_type)} {p.server}" + (f" {p.version}" if p.version else "")
    if isinstance(p, MCPToolsChanged):
        bits = [f"+{n}" for n in p.added] + [f"-{n}" for n in p.removed] + [f"~{n}" for n in p.changed]
        return f"{line}: {' '.join(bits) or 'resources/prompts'}"[:500]
    if isinstance(p, MCPServerStarted) and p.outage_seconds is not None:
        return f"{line} after {p.outage_seconds:.1f} s down"
    if isinstance(p, MCPServerExited) and p.exit_code is not None:
        return f"{line} exit {p.exit_code}"
    if isinstance(p, MCPServerHealthy) and p.latency_ms is not None:
        return f"{line} ({p.latency_ms:.1f} ms)"
    if isinstance(p, MCPServerLatencySampled):
        return f"{line}: {p.probes} probes, mean {p.mean_ms} ms, max {p.max_ms} ms"
    if p.detail:
        return f"{line}: {p.detail}"[:500]
    return line


def server_props(event_type: str, p: MCPServerEvent) -> dict[str, Any]:
    """What the event says the server's node is now."""
    props: dict[str, Any] = {}
    if p.version:
        props["version"] = p.version
    if isinstance(p, MCPServerRegistered):
        props.update(
            transport=p.transport,
            deployment=p.deployment,
            description=p.description,
            url=p.url,
            image=p.image,
            program=p.program,
        )
    elif isinstance(p, MCPServerStarted):
        props.update(status="running", pid=p.pid, container_id=p.container_id, restarts=p.restarts)
    elif isinstance(p, MCPServerExited):
        props.update(status="exited")
    elif isinstance(p, MCPServerStopped):
        props.update(status="stopped", health="stopped", health_detail="stopped on request")
    elif isinstance(p, MCPServerStartFailed):
        props.update(status="failed")
    elif isinstance(p, MCPServerHealthy):
        props.update(health="healthy", health_detail=p.detail, latency_ms=p.latency_ms)
    elif isinstance(p, MCPServerUnhealthy):
        props.update(health="unhealthy", health_detail=p.detail)
    elif isinstance(p, MCPServerLatencySampled):
        if p.mean_ms is not None:
            props["latency_ms"] = p.mean_ms
    elif isinstance(p, MCPToolsChanged):
        props.update(
            tools=len(p.tools), resources=json.dumps(list(p.resources)), prompts=json.dumps(list(p.prompts))
        )
    return {k: v for k, v in props.items() if v is not None}


def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if not isinstance(payload, MCPServerEvent):
        raise TypeError(f"mcp projection got {type(payload).__name__}")
    ts, host = event.ts, event.host
    key = server_key(host, payload.server)
    seen = {"first_seen": ts, "last_seen": ts, "updated_at": ts}
    node = {"host": host, "name": payload.server, **server_props(event.type, payload), **seen}
    ops: list[GraphOp] = [
        UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts}),
        UpsertNode("MCPServer", key, node, ts=ts),
        UpsertRel("RUNS_ON", "MCPServer", key, "Host", host),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": host,
                "action": ACTION.get(event.type, event.type),
                "subject": key,
                "summary": summary(event.type, payload),
                "version": payload.version,
                "old_version": getattr(payload, "previous_version", None),
                "exit_code": getattr(payload, "exit_code", None),
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
        UpsertRel("ACTED_ON", "Event", event.id, "MCPServer", key),
    ]
    if isinstance(payload, MCPToolsChanged):
        for t in payload.tools:
            tk = tool_key(host, payload.server, t.name)
            ops += [
                UpsertNode(
                    "MCPTool",
                    tk,
                    {
                        "host": host,
                        "server": payload.server,
                        "name": t.name,
                        "description": t.description,
                        "input_schema_hash": t.input_schema_hash,
                        "state": "present",
                        **seen,
                    },
                    ts=ts,
                ),
                UpsertRel("PROVIDES", "MCPServer", key, "MCPTool", tk),
            ]
        for name in payload.removed:
            tk = tool_key(host, payload.server, name)
            ops += [
                UpsertNode(
                    "MCPTool",
                    tk,
                    {"host": host, "server": payload.server, "name": name, "state": "removed", **seen},
                    ts=ts,
                ),
                UpsertRel("PROVIDES", "MCPServer", key, "MCPTool", tk),
            ]
    return ops


# Which domain event types this projection handles (projections/registry.py collects it).
PROJECTORS: dict[str, Project] = {cls.TYPE: project for cls in MCP_EVENTS}
