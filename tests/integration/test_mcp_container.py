"""An MCP server in a container, run through the Docker API by the MCP supervisor: started, probed over
streamable HTTP with the SDK client, killed and restarted (the outage decided), stopped and removed.

The engine is Debian's dockerd in its own network namespace (tests/support/dockerd.py). The container
shares that namespace (network_mode host) and serves on 0.0.0.0:PORT; a veth pair made here joins the
namespace to this one (10.251.x.1 here, .2 there), so the supervisor probes http://10.251.x.2:PORT/mcp.
The image is the busybox one; Python comes from this host, bind-mounted read-only (/usr, the Python
installation, the worktree with its virtualenv and the test server): a rootfs with Python, no registry.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from processors.mcp import ROUTES
from processors.tables import MemoryTable
from producers.mcp.registry import from_settings
from producers.mcp.supervisor import MCPSupervisor
from schemas.envelope import Envelope
from tests.support.dockerd import Dockerd, running_dockerd

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "tests" / "support" / "mcp_server.py"
PORT = 18631
TIMEOUT = 90.0


def _mounts() -> dict[str, dict[str, str]]:
    """What the container needs of this host to run Python: read-only binds."""
    python_home = Path(sys.base_prefix)
    paths = {"/usr": "/usr", "/usr/lib": "/lib", "/usr/lib64": "/lib64", str(python_home): str(python_home)}
    paths[str(REPO)] = str(REPO)
    return {src: {"bind": dst, "mode": "ro"} for src, dst in paths.items() if Path(src).exists()}


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[Dockerd, str]]:
    with running_dockerd() as d:
        d.import_busybox("tiny:1")
        n = random.randrange(1, 250)
        here, there = f"wmh{n}", f"wmc{n}"
        ip = f"10.251.{n}"
        subprocess.run(["ip", "link", "add", here, "type", "veth", "peer", "name", there], check=True)
        try:
            subprocess.run(["ip", "link", "set", there, "netns", d.netns], check=True)
            subprocess.run(["ip", "addr", "add", f"{ip}.1/30", "dev", here], check=True)
            subprocess.run(["ip", "link", "set", here, "up"], check=True)
            subprocess.run(["ip", "-n", d.netns, "addr", "add", f"{ip}.2/30", "dev", there], check=True)
            subprocess.run(["ip", "-n", d.netns, "link", "set", there, "up"], check=True)
            yield d, f"{ip}.2"
        finally:
            subprocess.run(["ip", "link", "del", here], check=False, capture_output=True)


def _wait(what: str, check: Callable[[], Any], log: Callable[[], str]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{log()}")


def test_a_container_server_is_run_probed_restarted_and_removed(
    engine: tuple[Dockerd, str], tmp_path: Path
) -> None:
    dockerd, ip = engine
    spec = from_settings(
        {
            "name": "boxed",
            "image": "tiny:1",
            "command": str(REPO / ".venv" / "bin" / "python"),
            "args": [str(SERVER), "--transport", "streamable-http", "--host", "0.0.0.0", "--port", str(PORT)],
            "transport": "streamable-http",
            "url": f"http://{ip}:{PORT}/mcp",
            "env": {"BOX_TOKEN": "secret:box"},
            "container": {"network_mode": "host", "volumes": _mounts()},
        }
    )
    assert spec.deployment == "container"
    sup = MCPSupervisor(
        "h1",
        [spec],
        resolve=lambda v: "s3cr3t-box" if v == "secret:box" else v,
        log_dir=tmp_path / "mcp",
        interval=0.5,
        timeout=5,
        start_timeout=60,
        backoff_initial=0.2,
        backoff_max=1.0,
        docker_url=dockerd.url,
    )
    table, route, decided = MemoryTable(), ROUTES[0], []

    def pump() -> list[Envelope]:
        for raw in sup.poll(100).observations:
            assert "s3cr3t-box" not in raw.to_json().decode()
            decided.extend(route.handle(raw.to_json(), table))
        return decided

    def seen(kind: str, n: int = 1) -> bool:
        return sum(e.type == kind for e in pump()) >= n

    def logs() -> str:
        return dockerd.log_tail() + "\n" + "\n".join(f"{e.type} {e.payload}" for e in decided)

    try:
        _wait("the container answering", lambda: seen("MCPServerHealthy"), logs)
        started = next(e for e in decided if e.type == "MCPServerStarted")
        cid = started.payload["container_id"]
        info = dockerd.inspect(cid)
        assert info["State"]["Running"] and info["Config"]["Labels"]["watchman.mcp.server"] == "boxed"
        assert "BOX_TOKEN=s3cr3t-box" in info["Config"]["Env"]  # the secret reached the container
        tools = next(e for e in decided if e.type == "MCPToolsChanged")
        assert tools.payload["added"] == ["add", "echo"]

        dockerd.cli("kill", cid)
        _wait("the restart", lambda: seen("MCPServerStarted", 2), logs)
        exited = next(e for e in decided if e.type == "MCPServerExited")
        assert exited.payload["exit_code"] == 137  # SIGKILL, as the engine reports it
        restarted = [e for e in decided if e.type == "MCPServerStarted"][-1]
        assert restarted.payload["restart"] is True and restarted.payload["outage_seconds"] > 0
        assert restarted.payload["container_id"] != cid

        ok, detail = sup.control("boxed", "stop", wait=60)
        assert ok, detail
        _wait("the stop", lambda: seen("MCPServerStopped"), logs)
        names = dockerd.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert "watchman-mcp-boxed" not in names
    finally:
        with contextlib.suppress(Exception):
            sup.close()
