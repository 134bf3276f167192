"""`watchman mcp ...`: the declared MCP servers, their state and tools, and start / stop / restart,
through the running daemon's admin API (/admin/mcp/*)."""

from __future__ import annotations

import sys
import time
import urllib.parse
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from watchman.cli.common import err, fail, get_settings, out

if TYPE_CHECKING:
    from watchman.api_client import ApiClient

app = typer.Typer(
    help="""MCP servers: which are declared and running, their health and tools; start, stop, restart.

\b
Examples:
  watchman mcp list
  watchman mcp tools io.github.me/weather
  watchman mcp restart files --wait
  watchman mcp stop files --yes
""",
    no_args_is_help=True,
)

Server = Annotated[str, typer.Argument(help="the server's name as declared in watchman.toml")]
AsTable = Annotated[bool, typer.Option("--table", help="print a table instead of JSON lines")]
Wait = Annotated[bool, typer.Option("--wait", help="wait for the command's outcome and print it")]


def _api() -> ApiClient:
    from watchman.api_client import ApiClient

    api = ApiClient.connect(get_settings())
    if api is None:
        raise fail("no running daemon answers (start `watchman run`): MCP servers are managed by it")
    return api


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    from watchman.api_client import ApiError

    api = _api()
    try:
        return api.get(path) if method == "GET" else api.post(path, body or {})
    except ApiError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"the daemon's API at {api.url} did not answer: {exc}") from None


def _print(answer: dict[str, Any], table: bool) -> None:
    rows = answer.get("rows") or []
    if not rows:
        err.print("no rows")
    elif table:
        t = Table(*answer["columns"])
        for row in rows:
            t.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in answer["columns"]))
        out.print(t)
    else:
        for row in rows:
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")


def _quoted(server: str) -> str:
    return urllib.parse.quote(server, safe="/")


@app.command("list")
def list_(table: AsTable = False) -> None:
    """Every declared MCP server: status, health, latency, tools.  Example: watchman mcp list --table"""
    _print(_call("GET", "/admin/mcp/servers"), table)


@app.command()
def status(server: Server, table: AsTable = False) -> None:
    """One server's state.  Example: watchman mcp status files"""
    _print(_call("GET", f"/admin/mcp/servers/{_quoted(server)}"), table)


@app.command()
def tools(server: Server, table: AsTable = False) -> None:
    """The tools a server offers now.  Example: watchman mcp tools files --table"""
    _print(_call("GET", f"/admin/mcp/servers/{_quoted(server)}/tools"), table)


@app.command()
def changes(server: Server, days: int = 30, table: AsTable = False) -> None:
    """What changed in a server's tools.  Example: watchman mcp changes files --days 7"""
    _print(_call("GET", f"/admin/mcp/servers/{_quoted(server)}/changes?days={int(days)}"), table)


def _lifecycle(server: str, action: str, body: dict[str, Any], wait: bool) -> None:
    accepted = _call("POST", f"/admin/mcp/servers/{_quoted(server)}/{action}", body)
    if not wait:
        sys.stdout.buffer.write(orjson.dumps(accepted) + b"\n")
        return
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = _call("GET", accepted["status_url"])
        if state.get("status") != "pending":
            sys.stdout.buffer.write(orjson.dumps(state) + b"\n")
            if state.get("status") != "succeeded":
                raise typer.Exit(1)
            return
        time.sleep(0.5)
    raise fail(f"no outcome of {accepted['command_id']} after 180 s (see {accepted['status_url']})")


@app.command()
def start(server: Server, wait: Wait = False) -> None:
    """Start a server.  Example: watchman mcp start files --wait"""
    _lifecycle(server, "start", {}, wait)


@app.command()
def restart(server: Server, wait: Wait = False) -> None:
    """Restart a server (a new process; its tools are listed again).  Example: watchman mcp restart files"""
    _lifecycle(server, "restart", {}, wait)


@app.command()
def stop(
    server: Server,
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm: the server's clients lose it until started")
    ] = False,
    wait: Wait = False,
) -> None:
    """Stop a server and keep it stopped (needs --yes).  Example: watchman mcp stop files --yes --wait"""
    if not yes:
        raise fail(f"stopping {server} takes it away from its clients: pass --yes to confirm", 2)
    _lifecycle(server, "stop", {"confirm": True}, wait)
