"""processors.mcp: the decisions over sequences of supervisor observations, and their ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors.mcp import ROUTES
from processors.tables import MemoryTable
from producers.mcp.supervisor import raw_envelope
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.mcp import (
    MCPInventoryObserved,
    MCPProbeObserved,
    MCPProcessObserved,
    MCPServerDeclared,
    ToolInfo,
)

T = datetime(2026, 12, 4, 12, 0, 1, tzinfo=UTC)
ROUTE = ROUTES[0]


def run(observations: list[EventPayload], table: MemoryTable | None = None) -> list[Envelope]:
    table = table if table is not None else MemoryTable()
    out: list[Envelope] = []
    for obs in observations:
        out += ROUTE.handle(raw_envelope("h1", obs, T).to_json(), table)
    return out


def types(envs: list[Envelope]) -> list[str]:
    return [e.type for e in envs]


def proc(action: Any, s: float, **kw: Any) -> MCPProcessObserved:
    return MCPProcessObserved(ts=T + timedelta(seconds=s), server="x", action=action, **kw)


def probe(ok: bool, s: float, ms: float | None = 2.0, **kw: Any) -> MCPProbeObserved:
    return MCPProbeObserved(
        ts=T + timedelta(seconds=s), server="x", ok=ok, method="ping", latency_ms=ms if ok else None, **kw
    )


def tools(s: float, version: str, *items: tuple[str, str, str]) -> MCPInventoryObserved:
    listed = tuple(ToolInfo(name=n, description=d, input_schema_hash=h) for n, d, h in items)
    return MCPInventoryObserved(
        ts=T + timedelta(seconds=s),
        server="x",
        server_version=version,
        tools=listed,
        digest=f"{version}{items}",
    )


def test_a_declaration_registers_once_and_again_when_it_changes() -> None:
    decl = MCPServerDeclared(
        ts=T, server="x", version="1", transport="stdio", deployment="local", program="p"
    )
    table = MemoryTable()
    first = run([decl], table)
    same = run([decl.model_copy(update={"ts": T + timedelta(seconds=5)})], table)
    newer = run([decl.model_copy(update={"ts": T + timedelta(seconds=9), "version": "2"})], table)
    assert types(first) == ["MCPServerRegistered"] and same == []
    assert newer[0].payload["previous_version"] == "1" and newer[0].payload["version"] == "2"


def test_an_exit_then_a_start_is_a_restart_with_its_outage() -> None:
    out = run(
        [
            proc("started", 0, pid=10, attempt=1),
            proc("exited", 10, pid=10, detail="connection closed"),
            proc("start_failed", 11, attempt=2, backoff_seconds=0.2),
            proc("started", 12.5, pid=11, attempt=3),
        ]
    )
    assert types(out) == ["MCPServerStarted", "MCPServerExited", "MCPServerStartFailed", "MCPServerStarted"]
    first, last = out[0].payload, out[-1].payload
    assert (first["restart"], first["restarts"]) == (False, 0)
    assert (last["restart"], last["outage_seconds"], last["restarts"], last["pid"]) == (True, 2.5, 1, 11)


def test_a_requested_stop_is_no_outage() -> None:
    out = run([proc("started", 0, pid=1), proc("stopped", 5, requested=True), proc("started", 9, pid=2)])
    assert types(out) == ["MCPServerStarted", "MCPServerStopped", "MCPServerStarted"]
    assert out[-1].payload["restart"] is False and out[-1].payload["restarts"] == 0


def test_health_is_told_on_change_only() -> None:
    out = run(
        [probe(True, 0), probe(True, 1), probe(False, 2, detail="timed out"), probe(False, 3), probe(True, 4)]
    )
    assert types(out) == ["MCPServerHealthy", "MCPServerUnhealthy", "MCPServerHealthy"]
    assert out[1].payload["detail"] == "timed out" and out[2].payload["previous"] == "unhealthy"


def test_latency_is_summed_per_window() -> None:
    # T is 12:00:01: the window 12:00-12:05; a probe at 12:05:01 closes it.
    out = run([probe(True, 0, 2.0), probe(True, 60, 4.0), probe(False, 120), probe(True, 300, 9.0)])
    samples = [e for e in out if e.type == "MCPServerLatencySampled"]
    assert len(samples) == 1
    p = samples[0].payload
    assert (p["probes"], p["failures"], p["min_ms"], p["mean_ms"], p["max_ms"]) == (3, 1, 2.0, 3.0, 4.0)
    assert samples[0].ts == datetime(2026, 12, 4, 12, 5, tzinfo=UTC)


def test_tools_changes_name_what_was_added_removed_and_changed() -> None:
    table = MemoryTable()
    first = run([tools(0, "1.0", ("add", "Add", "h1"), ("echo", "Echo", "h2"))], table)
    again = run([tools(5, "1.0", ("add", "Add", "h1"), ("echo", "Echo", "h2"))], table)
    second = run([tools(9, "2.0", ("add", "Add numbers", "h3"), ("shout", "Shout", "h4"))], table)
    assert first[0].payload["added"] == ["add", "echo"] and first[0].payload["previous_version"] is None
    assert again == []
    p = second[0].payload
    assert (p["added"], p["removed"], p["changed"]) == (["shout"], ["echo"], ["add"])
    assert (p["version"], p["previous_version"]) == ("2.0", "1.0")


def test_a_redelivered_record_repeats_its_decisions_under_the_same_ids() -> None:
    table = MemoryTable()
    obs = [proc("started", 0, pid=1), proc("exited", 3), proc("started", 4, pid=2)]
    once = run(obs, table)
    again = run(obs, table)
    assert [e.id for e in once] == [e.id for e in again]
    assert once[-1].payload["restarts"] == 1 and again[-1].payload["restarts"] == 1
    assert [e.id for e in run(obs)] == [e.id for e in once]  # a fresh table: the same ids
