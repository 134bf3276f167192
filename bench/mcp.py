"""MCP servers: what a health probe costs and how long a killed server is down.

- ping over an open stdio session (the supervisor's probe of a stdio server), --mcp-probes times;
- a whole handshake over streamable HTTP (a new session: initialize + ping, the probe of an HTTP server);
- a stdio server SIGKILLed under the supervisor (probe interval 0.5 s, back-off 0.2 s): seconds from
  the kill to the next MCPServerStarted, as the processor decides it (outage_seconds), three times.

The servers are tests/support/mcp_server.py, written with the `mcp` SDK, on this machine (127.0.0.1).
Baseline of the HTTP handshake: an HTTP GET of the same server's endpoint (405, no MCP).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import say
from bench.results import Figure, Section

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "tests" / "support" / "mcp_server.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _stdio_pings(n: int) -> list[float]:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    out: list[float] = []
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            for _ in range(n):
                t0 = time.perf_counter()
                await session.send_ping()
                out.append((time.perf_counter() - t0) * 1000)
    return out


async def _handshakes(url: str, n: int) -> list[float]:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with (
            httpx2.AsyncClient(timeout=10) as http,
            streamable_http_client(url, http_client=http) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            await session.send_ping()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _outages(work: Path, kills: int) -> list[float]:
    from processors.mcp import ROUTES
    from processors.tables import MemoryTable
    from producers.mcp.registry import from_settings
    from producers.mcp.supervisor import MCPSupervisor

    spec = from_settings({"name": "bench", "command": sys.executable, "args": [str(SERVER)]})
    sup = MCPSupervisor(
        "bench", [spec], resolve=lambda v: v, log_dir=work / "mcp", interval=0.5, backoff_initial=0.2
    )
    table, route = MemoryTable(), ROUTES[0]
    outages: list[float] = []
    killed: set[int] = set()
    try:
        while len(outages) < kills:
            for raw in sup.poll(100).observations:
                for e in route.handle(raw.to_json(), table):
                    if e.type == "MCPServerStarted" and e.payload["outage_seconds"] is not None:
                        outages.append(float(e.payload["outage_seconds"]))
            st = sup.status()["bench"]
            pid = st["pid"]
            if st["state"] == "running" and pid and pid not in killed and len(outages) == len(killed):
                os.kill(int(pid), signal.SIGKILL)
                killed.add(int(pid))
            time.sleep(0.05)
    finally:
        sup.close()
    return outages


def run(work: Path, *, probes: int = 200) -> Section:
    section = Section("mcp")
    say(f"mcp: {probes} pings over stdio")
    pings = asyncio.run(_stdio_pings(probes))
    port = _port()
    url = f"http://127.0.0.1:{port}/mcp"
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--transport", "streamable-http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        n = max(10, probes // 4)
        say(f"mcp: {n} handshakes over streamable HTTP")
        shakes = asyncio.run(_handshakes(url, n))
        gets = []
        for _ in range(n):
            t0 = time.perf_counter()
            httpx.get(url, timeout=10)
            gets.append((time.perf_counter() - t0) * 1000)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    say("mcp: a stdio server killed 3 times under the supervisor")
    outages = _outages(work, 3)
    get_ms = statistics.median(gets)
    section.figures += [
        Figure("stdio ping round trip, p50", statistics.median(pings), "ms"),
        Figure("stdio ping round trip, p99", _pct(pings, 0.99), "ms"),
        Figure(
            "streamable HTTP handshake (initialize + ping), p50",
            statistics.median(shakes),
            "ms",
            baseline=get_ms,
            baseline_label="an HTTP GET of the endpoint",
        ),
        Figure("streamable HTTP handshake, p99", _pct(shakes, 0.99), "ms"),
        Figure(
            "outage of a SIGKILLed stdio server (kill -> started again), median of 3",
            statistics.median(outages),
            "s",
            note="probe interval 0.5 s, back-off 0.2 s; most of it is the server's Python start",
        ),
    ]
    return section
