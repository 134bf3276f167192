"""MCP servers end to end: real servers written with the `mcp` SDK (tests/support/mcp_server.py), one over
stdio (declared by a server.json in the official registry's format, its API key from a secret) and one
over streamable HTTP on 127.0.0.1, supervised by `watchman run`; then the graph and the admin API/CLI.

One daemon for the module (the servers take a few seconds to start on a busy machine); the tests run
in order: healthy and listed, killed and restarted, a new version's tools, stop and start, an
unreachable remote, and the secret nowhere but in the server's own file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.instance import Instance

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_server.py"
SECRET = "mcp-test-secret-7c1e5f0a9b"  # a value no other test uses: searched for after the run
TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mcp_instance(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Instance, subprocess.Popen[bytes], dict[str, Any]]]:
    root = tmp_path_factory.mktemp("mcp")
    inst = Instance(root)
    inst.write_config()
    port, dead_port = _free_port(), _free_port()
    spec_file = root / "http-spec.json"
    spec_file.write_text(json.dumps({"version": "1.0.0", "tools": ["add", "echo"]}))
    env_file = root / "seen-key"
    server_json = root / "stdio.server.json"
    # The official registry's format (modelcontextprotocol/registry, docs/reference/server-json).
    server_json.write_text(
        json.dumps(
            {
                "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
                "name": "io.github.watchman/stdio-demo",
                "description": "A test MCP server over stdio.",
                "version": "0.3.0",
                "packages": [
                    {
                        "registryType": "pypi",
                        "identifier": "watchman-stdio-demo",
                        "version": "0.3.0",
                        "transport": {"type": "stdio"},
                        "environmentVariables": [{"name": "API_KEY", "isSecret": True, "isRequired": True}],
                    }
                ],
            }
        )
    )
    secrets_dir = inst.data_dir / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "api_key").write_text(SECRET)
    (secrets_dir / "api_key").chmod(0o600)
    with inst.config.open("a") as f:
        f.write(
            "[mcp]\n"
            "interval = 0.5\n"
            "timeout = 10\n"
            "start_timeout = 60\n"
            "backoff_initial = 0.2\n"
            "backoff_max = 1.0\n"
            "stable_seconds = 30\n"
            "[[mcp.servers]]\n"
            'name = "io.github.watchman/stdio-demo"\n'
            f'server_json = "{server_json}"\n'
            # The package is not on PyPI: the test runs the same server from its file.
            f'command = "{sys.executable}"\n'
            f'args = ["{SERVER}", "--env-file", "{env_file}", "--env-var", "API_KEY"]\n'
            "[[mcp.servers]]\n"
            'name = "http-demo"\n'
            'transport = "streamable-http"\n'
            f'command = "{sys.executable}"\n'
            f'args = ["{SERVER}", "--transport", "streamable-http", "--port", "{port}", '
            f'"--spec-file", "{spec_file}"]\n'
            f'url = "http://127.0.0.1:{port}/mcp"\n'
            'version = "1.0.0"\n'
            "[[mcp.servers]]\n"
            'name = "nobody-home"\n'
            f'url = "http://127.0.0.1:{dead_port}/mcp"\n'
        )
    proc = inst.start("run")
    try:
        inst.wait_ready(proc, timeout=60)
        yield inst, proc, {"spec_file": spec_file, "env_file": env_file}
    finally:
        if proc.poll() is None:
            inst.stop(proc)


def _wait(inst: Instance, what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError):
            last = check()
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last})\n{inst.daemon_log('run')}")


def _api(inst: Instance, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The daemon's admin API: a query through it costs no new interpreter (the CLI's do)."""
    url = (inst.data_dir / "api.url").read_text().strip()
    token = (inst.data_dir / "api.token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def ask(inst: Instance, name_or_cypher: str, **params: Any) -> list[dict[str, Any]]:
    named = not name_or_cypher.startswith("MATCH")
    body = {"name": name_or_cypher} if named else {"cypher": name_or_cypher, "read_only": True}
    rows: list[dict[str, Any]] = _api(inst, "POST", "/query", {**body, "params": params})["rows"]
    return rows


def _command(inst: Instance, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a lifecycle command through the API and wait for its outcome."""
    accepted = _api(inst, "POST", path, body or {})
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        state: dict[str, Any] = _api(inst, "GET", accepted["status_url"])
        if state["status"] != "pending":
            return state
        time.sleep(0.3)
    raise AssertionError(f"no outcome of {accepted}")


def _server(inst: Instance, name: str) -> dict[str, Any]:
    rows = ask(inst, "mcp-servers", server=name)
    return rows[0] if rows else {}


def _events(inst: Instance, server: str, *types: str) -> list[dict[str, Any]]:
    return ask(
        inst,
        "MATCH (e:Event)-[:ACTED_ON]->(s:MCPServer) WHERE s.name = $n AND e.type IN $t "
        "RETURN e.type AS type, e.summary AS summary, e.exit_code AS code ORDER BY e.ts",
        n=server,
        t=list(types),
    )


def test_declared_servers_run_healthy_with_their_tools(mcp_instance: Any) -> None:
    inst, _, _ = mcp_instance

    def both() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = _api(inst, "GET", "/admin/mcp/running")["rows"]
        ok = [r for r in rows if r["health"] == "healthy" and r["tools"] == 2]
        return rows if len(ok) == 2 else []

    rows = {r["server"]: r for r in _wait(inst, "both servers running and healthy", both)}
    stdio, http = rows["io.github.watchman/stdio-demo"], rows["http-demo"]
    assert (stdio["transport"], stdio["deployment"], stdio["version"]) == ("stdio", "local", "1.0.0")
    assert (http["transport"], http["deployment"]) == ("streamable-http", "local")
    assert stdio["latency_ms"] is not None and stdio["pid"] > 0
    providers = {r["server"] for r in inst.query("mcp-tool-provider", "-p", "tool=echo")}  # the CLI too
    assert providers == {"io.github.watchman/stdio-demo", "http-demo"}
    full = _api(inst, "GET", "/admin/mcp/servers/io.github.watchman/stdio-demo")["rows"][0]
    assert json.loads(full["resources"]) == ["config://version"] and json.loads(full["prompts"]) == ["greet"]
    assert full["program"] == Path(sys.executable).name  # the executable's name; never its arguments
    url = (inst.data_dir / "api.url").read_text().strip()
    for method, path in (("GET", "/admin/mcp/servers"), ("POST", "/admin/mcp/servers/http-demo/restart")):
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(urllib.request.Request(url + path, data=b"{}", method=method), timeout=30)
        assert anonymous.value.code == 401  # the admin token, as every admin endpoint


def test_a_killed_server_is_restarted_and_the_outage_recorded(mcp_instance: Any) -> None:
    inst, _, _ = mcp_instance
    for name in ("io.github.watchman/stdio-demo", "http-demo"):
        before = _wait(
            inst, f"{name} running", lambda n=name: (s := _server(inst, n)).get("status") == "running" and s
        )
        os.kill(int(before["pid"]), signal.SIGKILL)

        def restarted(n: str = name, old: int = int(before["pid"])) -> dict[str, Any]:
            s = _server(inst, n)
            return s if s.get("status") == "running" and s.get("pid") not in (None, old) else {}

        after = _wait(inst, f"{name} restarted", restarted)
        assert after["restarts"] >= 1
        rows = _events(inst, name, "MCPServerExited", "MCPServerStarted")
        kinds = [r["type"] for r in rows]
        assert "MCPServerExited" in kinds and kinds[-1] == "MCPServerStarted"
        assert "down" in rows[-1]["summary"]  # "start NAME after N s down": the outage's length
    http_exit = _events(inst, "http-demo", "MCPServerExited")
    assert {r["code"] for r in http_exit} == {-signal.SIGKILL}


def test_a_new_version_with_other_tools_is_a_tools_change(mcp_instance: Any) -> None:
    inst, _, paths = mcp_instance
    paths["spec_file"].write_text(json.dumps({"version": "2.0.0", "tools": ["add-v2", "shout"]}))
    answer = json.loads(inst.cli("mcp", "restart", "http-demo", "--wait").stdout)
    assert answer["status"] == "succeeded", answer

    def changed() -> list[dict[str, Any]]:
        rows = ask(inst, "mcp-tool-changes", server="http-demo")
        return rows if rows and rows[0]["to_version"] == "2.0.0" else []

    rows = _wait(inst, "the tools change of 2.0.0", changed)
    assert rows[0]["from_version"] == "1.0.0"
    assert rows[0]["change"] == "tools-changed http-demo 2.0.0: +shout -echo ~add"
    lines = inst.cli("mcp", "tools", "http-demo").stdout.splitlines()
    tools = {json.loads(line)["tool"] for line in lines if line.strip()}
    assert tools == {"add", "shout"}
    providers = _api(inst, "GET", "/admin/mcp/tools/echo")["rows"]
    assert {r["server"] for r in providers} == {"io.github.watchman/stdio-demo"}


def test_stop_needs_confirmation_then_stops_and_starts(mcp_instance: Any) -> None:
    inst, _, _ = mcp_instance
    refused = inst.cli("mcp", "stop", "http-demo", check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    with pytest.raises(urllib.error.HTTPError) as no_confirm:
        _api(inst, "POST", "/admin/mcp/servers/http-demo/stop", {})
    assert no_confirm.value.code == 422
    answer = json.loads(inst.cli("mcp", "stop", "http-demo", "--yes", "--wait").stdout)
    assert answer["status"] == "succeeded", answer
    stopped = _wait(
        inst, "http-demo stopped", lambda: (s := _server(inst, "http-demo")).get("status") == "stopped" and s
    )
    assert stopped["health"] == "stopped"
    assert "http-demo" not in {r["server"] for r in _api(inst, "GET", "/admin/mcp/unhealthy")["rows"]}
    again = _command(inst, "/admin/mcp/servers/http-demo/stop", {"confirm": True})
    assert again["status"] == "succeeded" and "already stopped" in again["detail"]
    answer = _command(inst, "/admin/mcp/servers/http-demo/start")
    assert answer["status"] == "succeeded", answer
    _wait(inst, "http-demo running again", lambda: _server(inst, "http-demo").get("status") == "running")
    unknown = _command(inst, "/admin/mcp/servers/no-such-server/start")
    assert unknown["status"] == "rejected"


def test_an_unreachable_server_is_unhealthy(mcp_instance: Any) -> None:
    inst, _, _ = mcp_instance
    rows = _wait(
        inst,
        "nobody-home unhealthy",
        lambda: [r for r in inst.query("mcp-servers-unhealthy") if r["server"] == "nobody-home"],  # the CLI
    )
    assert rows[0]["health"] == "unhealthy" and "Connect" in rows[0]["detail"]
    # told once, not at every failed probe
    assert len(_events(inst, "nobody-home", "MCPServerUnhealthy")) == 1


def test_the_secret_reached_the_server_and_nothing_else(mcp_instance: Any) -> None:
    inst, proc, paths = mcp_instance
    assert paths["env_file"].read_text() == SECRET
    registered = ask(
        inst,
        "MATCH (e:Event)-[:ACTED_ON]->(s:MCPServer) WHERE s.name = $n AND e.type = $t RETURN e.summary AS s",
        n="io.github.watchman/stdio-demo",
        t="MCPServerRegistered",
    )
    assert registered
    inst.stop(proc)
    leaks = []
    for path in inst.root.rglob("*"):
        ours = path == paths["env_file"] or path.parent.name == "secrets"
        if path.is_file() and not ours and SECRET.encode() in path.read_bytes():
            leaks.append(str(path))
    assert leaks == []
