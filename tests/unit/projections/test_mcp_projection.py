"""The MCP projection (pure): the server's node, its tools, the Event nodes; and its questions' parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from projections.catalog import CatalogError, resolve
from projections.graph_ops import UpsertRel, fold
from projections.mcp import project, server_key, tool_key
from projections.registry import PROJECTORS
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.mcp import (
    MCP_EVENTS,
    MCPServerStarted,
    MCPServerStopped,
    MCPServerUnhealthy,
    MCPToolsChanged,
    ToolInfo,
)

T = datetime(2026, 12, 4, 12, tzinfo=UTC)


def env(payload: EventPayload, eid: str) -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host="h1",
        source="processors.mcp",
        ts=T,
        observed_at=T,
        subject="x",
        payload=payload.model_dump(mode="json"),
    )


def test_every_domain_type_has_a_projector() -> None:
    for cls in MCP_EVENTS:
        assert PROJECTORS[cls.TYPE] is project


def test_a_restart_sets_status_pid_and_restarts() -> None:
    p = MCPServerStarted(server="x", version="1", pid=42, restart=True, outage_seconds=2.5, restarts=3)
    batch = fold(project(env(p, "e1"), p))
    node = batch.nodes["MCPServer"][server_key("h1", "x")].props
    assert (node["status"], node["pid"], node["restarts"], node["version"]) == ("running", 42, 3, "1")
    event = batch.nodes["Event"]["e1"].props
    assert event["summary"] == "start x 1 after 2.5 s down" and event["subject"] == "h1/x"


def test_tools_are_provided_and_removed_ones_marked() -> None:
    p = MCPToolsChanged(
        server="x",
        version="2",
        previous_version="1",
        tools=(ToolInfo(name="add", description="Add", input_schema_hash="a" * 64),),
        added=(),
        removed=("echo",),
        changed=("add",),
    )
    ops = project(env(p, "e2"), p)
    batch = fold(ops)
    tools = batch.nodes["MCPTool"]
    assert tools[tool_key("h1", "x", "add")].props["state"] == "present"
    assert tools[tool_key("h1", "x", "echo")].props["state"] == "removed"
    rels = {(o.from_key, o.to_key) for o in ops if isinstance(o, UpsertRel) and o.type == "PROVIDES"}
    assert (server_key("h1", "x"), tool_key("h1", "x", "add")) in rels
    assert batch.nodes["Event"]["e2"].props["summary"] == "tools-changed x 2: -echo ~add"
    assert batch.nodes["Event"]["e2"].props["old_version"] == "1"


def test_health_and_stop() -> None:
    bad = MCPServerUnhealthy(server="x", detail="ConnectError")
    node = fold(project(env(bad, "e3"), bad)).nodes["MCPServer"][server_key("h1", "x")].props
    assert (node["health"], node["health_detail"]) == ("unhealthy", "ConnectError")
    stop = MCPServerStopped(server="x")
    node = fold(project(env(stop, "e4"), stop)).nodes["MCPServer"][server_key("h1", "x")].props
    assert (node["status"], node["health"]) == ("stopped", "stopped")


def test_the_questions_take_their_parameters() -> None:
    cypher, params = resolve("mcp-tool-provider", {"tool": "echo"}, T)
    assert params == {"tool": "echo", "present": "present"} and "$tool" in cypher
    _, params = resolve("mcp-tool-changes", {"server": "x", "days": 2}, T)
    assert params["since"] == datetime(2026, 12, 2, 12, tzinfo=UTC) and params["type"] == "MCPToolsChanged"
    with pytest.raises(CatalogError):
        resolve("mcp-tool-provider", {}, T)
