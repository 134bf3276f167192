"""The MCP questions give the same answers on both graph stores (LadybugDB and the infra/ Neo4j), from the
events the processor decides for one sequence of supervisor observations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from processors.mcp import ROUTES
from processors.tables import MemoryTable
from producers.mcp.supervisor import raw_envelope
from projections.catalog import resolve
from projections.graph_ops import GraphOp
from projections.mcp import project
from projections.stores.ladybug import LadybugStore
from projections.stores.neo4j import Neo4jStore
from schemas.events.base import EventPayload
from schemas.events.mcp import (
    MCPInventoryObserved,
    MCPProbeObserved,
    MCPProcessObserved,
    MCPServerDeclared,
    ToolInfo,
)

# Wipes the infra/ Neo4j: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

URI = os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687")
USER = os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j")
PASSWORD = os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password")
NOW = datetime.now(UTC).replace(microsecond=0)


def at(s: float) -> datetime:
    return NOW - timedelta(hours=1) + timedelta(seconds=s)


def tool(name: str, h: str) -> ToolInfo:
    return ToolInfo(name=name, description=name.title(), input_schema_hash=h * 64)


def observations() -> list[EventPayload]:
    def decl(name: str, transport: Any, deployment: Any) -> MCPServerDeclared:
        return MCPServerDeclared(
            ts=at(0), server=name, version="1.0.0", transport=transport, deployment=deployment
        )

    return [
        decl("a", "stdio", "local"),
        decl("b", "streamable-http", "local"),
        decl("c", "streamable-http", "remote"),
        MCPProcessObserved(ts=at(1), server="a", action="started", pid=10),
        MCPProbeObserved(
            ts=at(2), server="a", ok=True, method="initialize", latency_ms=3.0, server_version="1.0.0"
        ),
        MCPInventoryObserved(
            ts=at(2), server="a", server_version="1.0.0", tools=(tool("echo", "a"),), digest="a1"
        ),
        MCPProcessObserved(ts=at(1), server="b", action="started", pid=11),
        MCPProbeObserved(
            ts=at(2), server="b", ok=True, method="initialize", latency_ms=9.0, server_version="1.0.0"
        ),
        MCPInventoryObserved(
            ts=at(2),
            server="b",
            server_version="1.0.0",
            tools=(tool("echo", "b"), tool("add", "c")),
            digest="b1",
        ),
        MCPProbeObserved(ts=at(3), server="c", ok=False, method="initialize", detail="ConnectError"),
        MCPProcessObserved(ts=at(20), server="b", action="exited", pid=11, exit_code=-9),
        MCPProcessObserved(ts=at(22), server="b", action="started", pid=12),
        MCPInventoryObserved(
            ts=at(23),
            server="b",
            server_version="2.0.0",
            tools=(tool("add", "d"), tool("shout", "e")),
            digest="b2",
        ),
    ]


def ops() -> list[GraphOp]:
    table, route, out = MemoryTable(), ROUTES[0], []
    for obs in observations():
        for event in route.handle(raw_envelope("h1", obs, NOW).to_json(), table):
            out += project(event, route_payload(event))
    return out


def route_payload(event: Any) -> EventPayload:
    from schemas.events import decode_payload

    return decode_payload(event.type, event.schema_version, event.payload)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[LadybugStore, Neo4jStore]]:
    neo = Neo4jStore(URI, USER, PASSWORD)
    neo.wipe(confirm=True)
    neo.ensure_schema()
    with LadybugStore(tmp_path / "graph") as lb:
        lb.ensure_schema()
        yield lb, neo
    neo.close()


def test_the_four_questions_answer_alike_on_both_stores(stores: tuple[LadybugStore, Neo4jStore]) -> None:
    lb, neo = stores
    batch = ops()
    for store in stores:
        store.apply(batch, {"t/0": 1})
    answers: dict[str, Any] = {}
    for name, params in (
        ("mcp-servers-running", {}),
        ("mcp-servers-unhealthy", {}),
        ("mcp-tool-provider", {"tool": "echo"}),
        ("mcp-tool-changes", {"server": "b", "days": 1}),
        ("mcp-servers", {}),
        ("mcp-server-tools", {"server": "b"}),
    ):
        cypher, bound = resolve(name, params, NOW)
        rows = lb.query(cypher, bound).rows
        assert neo.query(cypher, bound).rows == rows, name
        answers[name] = rows
    assert [r[1] for r in answers["mcp-servers-running"]] == ["a", "b"]
    assert [r[1] for r in answers["mcp-servers-unhealthy"]] == ["c"]
    assert [r[1] for r in answers["mcp-tool-provider"]] == ["a"]  # b's 2.0.0 no longer has echo
    changes = answers["mcp-tool-changes"]
    assert [(r[3], r[4], r[5]) for r in changes] == [
        ("1.0.0", "2.0.0", "tools-changed b 2.0.0: +shout -echo ~add"),
        (None, "1.0.0", "tools-changed b 1.0.0: +add +echo"),
    ]
    assert [r[1] for r in answers["mcp-server-tools"]] == ["add", "shout"]
