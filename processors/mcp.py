"""Decide MCP server events from the supervisor's observations (pure: no I/O, no clock).

The state table keeps, per server (key host/server): its declaration, its process state, its health,
when an unrequested outage began, the restarts counted, the last tool listing and the probe latencies
of the current window. So:

- a declaration is MCPServerRegistered when new or changed (version, transport, deployment, ...);
- `exited` opens an outage (MCPServerExited, once: a start that fails again adds MCPServerStartFailed),
  the next `started` closes it (MCPServerStarted with restart=true and outage_seconds), a requested
  stop is MCPServerStopped and opens none;
- probes decide health on change only (MCPServerHealthy / MCPServerUnhealthy, the alert), and their
  round trips are summed per server and LATENCY_WINDOW: the first probe of a new window sends the
  finished window as MCPServerLatencySampled;
- a listing whose digest differs from the last is MCPToolsChanged (the first: every tool added),
  naming the tools added, removed and changed (description or input schema) and both versions.

A raw record seen before answers with what it decided then (processors.memo), under the same ids.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors.memo import recall, remember
from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.mcp import (
    EVENTS_MCP,
    RAW_MCP,
    MCPInventoryObserved,
    MCPProbeObserved,
    MCPProcessObserved,
    MCPServerDeclared,
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

SOURCE = "processors.mcp"
LATENCY_WINDOW = timedelta(minutes=5)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def server_key(host: str, server: str) -> str:
    return f"{host}/{server}"


def envelope(raw: Envelope, payload: MCPServerEvent, eid: str, *, ts: datetime | None = None) -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=ts or raw.ts,
        observed_at=raw.observed_at,
        subject=payload.server,
        causation_id=raw.id,
        correlation_id=raw.correlation_id,
        payload=payload.model_dump(mode="json"),
    )


def _state(table: Table, key: str) -> dict[str, Any]:
    return dict(table.get(key) or {})


def decide_declared(raw: Envelope, obs: MCPServerDeclared, table: Table) -> list[Envelope]:
    key = server_key(raw.host, obs.server)
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    st = _state(table, key)
    declared = {
        "version": obs.version,
        "transport": obs.transport,
        "deployment": obs.deployment,
        "url": obs.url,
        "image": obs.image,
        "program": obs.program,
        "env_names": list(obs.env_names),
        "secret_env": list(obs.secret_env),
        "description": obs.description,
    }
    out: list[Envelope] = []
    prev = st.get("declared")
    if prev != declared:
        ev = MCPServerRegistered(
            server=obs.server,
            version=obs.version or None,
            previous_version=(prev or {}).get("version") or None,
            transport=obs.transport,
            deployment=obs.deployment,
            description=obs.description,
            url=obs.url,
            image=obs.image,
            program=obs.program,
            env_names=obs.env_names,
            secret_env=obs.secret_env,
            detail=f"declared in {obs.origin}" if obs.origin else "",
        )
        out.append(envelope(raw, ev, event_id("mcp", raw.id, "registered")))
        st["declared"] = declared
        table.set(key, st)
    return remember(table, key, raw.id, out)


def decide_process(raw: Envelope, obs: MCPProcessObserved, table: Table) -> list[Envelope]:
    key = server_key(raw.host, obs.server)
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    st = _state(table, key)
    version = st.get("version") or (st.get("declared") or {}).get("version") or None
    out: list[Envelope] = []
    eid = event_id("mcp", raw.id, obs.action)
    if obs.action == "started":
        down = st.pop("down_since", None)
        outage = (obs.ts - _ts(down)).total_seconds() if down else None
        if down:
            st["restarts"] = int(st.get("restarts", 0)) + 1
        ev: MCPServerEvent = MCPServerStarted(
            server=obs.server,
            version=version,
            pid=obs.pid,
            container_id=obs.container_id,
            restart=down is not None,
            outage_seconds=outage,
            attempt=obs.attempt,
            restarts=int(st.get("restarts", 0)),
            detail=f"restarted after {outage:.1f} s down" if outage is not None else "",
        )
        st["status"] = "running"
        out.append(envelope(raw, ev, eid))
    elif obs.action == "exited":
        if st.get("status") != "exited":
            ev = MCPServerExited(
                server=obs.server, version=version, pid=obs.pid, exit_code=obs.exit_code, detail=obs.detail
            )
            out.append(envelope(raw, ev, eid))
        st.setdefault("down_since", _iso(obs.ts))
        st["status"] = "exited"
    elif obs.action == "start_failed":
        ev = MCPServerStartFailed(
            server=obs.server,
            version=version,
            attempt=obs.attempt,
            backoff_seconds=obs.backoff_seconds,
            detail=obs.detail,
        )
        out.append(envelope(raw, ev, eid))
        if st.get("status") == "running":
            st["down_since"] = _iso(obs.ts)
        st["status"] = "failed"
    else:  # stopped on request: no outage
        st.pop("down_since", None)
        st["status"] = "stopped"
        st.pop("health", None)
        out.append(
            envelope(
                raw, MCPServerStopped(server=obs.server, version=version, pid=obs.pid, detail=obs.detail), eid
            )
        )
    table.set(key, st)
    return remember(table, key, raw.id, out)


def _window_start(ts: datetime) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    n = (ts - epoch) // LATENCY_WINDOW
    return epoch + n * LATENCY_WINDOW


def _latency(raw: Envelope, obs: MCPProbeObserved, st: dict[str, Any], version: str | None) -> list[Envelope]:
    start = _window_start(obs.ts)
    win = st.get("window")
    out: list[Envelope] = []
    if win is not None and win["start"] != _iso(start):
        n = int(win["n"])
        sample = MCPServerLatencySampled(
            server=obs.server,
            version=version,
            window_start=_ts(win["start"]),
            probes=n + int(win["fail"]),
            failures=int(win["fail"]),
            min_ms=win["min"],
            mean_ms=round(win["sum"] / n, 3) if n else None,
            max_ms=win["max"],
        )
        eid = event_id("mcp", "latency", raw.host, obs.server, win["start"])
        out.append(envelope(raw, sample, eid, ts=_ts(win["start"]) + LATENCY_WINDOW))
        win = None
    if win is None:
        win = {"start": _iso(start), "n": 0, "fail": 0, "min": None, "sum": 0.0, "max": None}
    if obs.ok and obs.latency_ms is not None:
        ms = round(obs.latency_ms, 3)
        win["n"] += 1
        win["sum"] += ms
        win["min"] = ms if win["min"] is None else min(win["min"], ms)
        win["max"] = ms if win["max"] is None else max(win["max"], ms)
    elif not obs.ok:
        win["fail"] += 1
    st["window"] = win
    return out


def decide_probe(raw: Envelope, obs: MCPProbeObserved, table: Table) -> list[Envelope]:
    key = server_key(raw.host, obs.server)
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    st = _state(table, key)
    if obs.server_version:
        st["version"] = obs.server_version
    version = st.get("version") or (st.get("declared") or {}).get("version") or None
    out = _latency(raw, obs, st, version)
    health = "healthy" if obs.ok else "unhealthy"
    prev = st.get("health")
    if prev != health:
        ev: MCPServerEvent
        if obs.ok:
            ev = MCPServerHealthy(
                server=obs.server,
                version=version,
                latency_ms=round(obs.latency_ms, 3) if obs.latency_ms is not None else None,
                method=obs.method,
                previous=prev,
                detail=f"{obs.method} answered",
            )
        else:
            ev = MCPServerUnhealthy(
                server=obs.server, version=version, method=obs.method, previous=prev, detail=obs.detail
            )
        out.append(envelope(raw, ev, event_id("mcp", raw.id, "health")))
        st["health"] = health
    table.set(key, st)
    return remember(table, key, raw.id, out)


def decide_inventory(raw: Envelope, obs: MCPInventoryObserved, table: Table) -> list[Envelope]:
    key = server_key(raw.host, obs.server)
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    st = _state(table, key)
    out: list[Envelope] = []
    if st.get("digest") != obs.digest:
        before: dict[str, list[str]] = st.get("tools") or {}
        now = {t.name: [t.description, t.input_schema_hash] for t in obs.tools}
        added = tuple(sorted(set(now) - set(before)))
        removed = tuple(sorted(set(before) - set(now)))
        changed = tuple(sorted(n for n in set(now) & set(before) if now[n] != before[n]))
        version = obs.server_version or st.get("version") or (st.get("declared") or {}).get("version") or None
        parts = [f"+{len(added)}", f"-{len(removed)}", f"~{len(changed)}"]
        ev = MCPToolsChanged(
            server=obs.server,
            version=version,
            previous_version=st.get("tools_version"),
            tools=obs.tools,
            added=added,
            removed=removed,
            changed=changed,
            resources=obs.resources,
            prompts=obs.prompts,
            detail=f"{len(now)} tools ({' '.join(parts)})",
        )
        out.append(envelope(raw, ev, event_id("mcp", raw.id, "tools")))
        st.update(digest=obs.digest, tools=now, tools_version=version)
        if obs.server_version:
            st["version"] = obs.server_version
        table.set(key, st)
    return remember(table, key, raw.id, out)


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_MCP,
        sink=EVENTS_MCP,
        table="mcp",
        decide={
            MCPServerDeclared.TYPE: typed(MCPServerDeclared, decide_declared),
            MCPProcessObserved.TYPE: typed(MCPProcessObserved, decide_process),
            MCPProbeObserved.TYPE: typed(MCPProbeObserved, decide_probe),
            MCPInventoryObserved.TYPE: typed(MCPInventoryObserved, decide_inventory),
        },
    ),
)
