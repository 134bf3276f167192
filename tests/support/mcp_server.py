"""A real MCP server written with the official `mcp` SDK (MCPServer), for the MCP domain's tests.

Run as a script: `python tests/support/mcp_server.py --transport stdio|streamable-http [--port P]
[--version V] [--tools add,echo] [--spec-file PATH] [--env-file PATH --env-var NAME]`. The tools it
offers are chosen on the command line (or in the spec file, read at start), so two "versions" of one
server list different tools. With --env-file it writes the value of the environment variable
--env-var to that file (0600) at start: the test reads it to see that a secret reached the server,
without the value ever passing through an MCP message.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer


def build(version: str, tools: list[str]) -> MCPServer:
    server = MCPServer("watchman-test", version=version)

    if "add" in tools:

        @server.tool()
        def add(a: int, b: int) -> int:
            """Add two integers."""
            return a + b

    if "echo" in tools:

        @server.tool()
        def echo(text: str) -> str:
            """Echo the text back."""
            return text

    if "shout" in tools:

        @server.tool()
        def shout(text: str, times: int = 1) -> str:
            """Echo the text in capitals."""
            return text.upper() * times

    if "add-v2" in tools:

        @server.tool(name="add")
        def add_v2(a: float, b: float) -> float:
            """Add two numbers (floats too)."""
            return a + b

    @server.resource("config://version")
    def config() -> str:
        return version

    @server.prompt()
    def greet(name: str) -> str:
        return f"Say hello to {name}"

    return server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transport", default="stdio", choices=["stdio", "streamable-http"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1", help="listen address of streamable-http")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--tools", default="add,echo")
    ap.add_argument("--env-file", default="")
    ap.add_argument("--env-var", default="")
    ap.add_argument("--spec-file", default="", help='JSON {"version": V, "tools": [...]}, read at start')
    args = ap.parse_args()
    if args.spec_file:
        spec = json.loads(Path(args.spec_file).read_text())
        args.version, args.tools = spec["version"], ",".join(spec["tools"])
    if args.env_file:
        path = Path(args.env_file)
        path.write_text(os.environ.get(args.env_var, ""))
        path.chmod(0o600)
    server = build(args.version, [t for t in args.tools.split(",") if t])
    if args.transport == "stdio":
        server.run()
    else:
        server.run("streamable-http", host=args.host, port=args.port)


if __name__ == "__main__":
    main()
