"""`watchman query`: a named question from the catalog, or Cypher, through the daemon or on the graph."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from projections.catalog import QUERIES, CatalogError, resolve
from projections.stores.base import QueryRefused, ReadOnlyViolation
from watchman.wiring import (
    graph_path,
    open_settings_graph,
)

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    from watchman.api_client import ApiClient
from watchman.cli.common import EXIT_BUSY, EXIT_USAGE, err, fail, get_settings, out


def _param_value(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def query(
    text: Annotated[str | None, typer.Argument(help="a named query (see --list) or Cypher text")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE, repeatable")] = None,
    table: Annotated[bool, typer.Option("--table", help="print a table instead of JSON lines")] = False,
    write: Annotated[
        bool, typer.Option("--write", help="allow Cypher that writes (default: read-only)")
    ] = False,
    list_: Annotated[bool, typer.Option("--list", help="list the named queries and exit")] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="as the graph was at this time (ISO 8601, epoch s, or 2h = 2 h ago)"),
    ] = None,
) -> None:
    """Ask the graph: a named question from the catalog, or your own Cypher (parameterised with -p).

    Runs through the running daemon when there is one, else opens the graph directly.

    \b
    Examples:
      watchman query installed-this-week -p days=3 --table
      watchman query 'MATCH (e:Event) WHERE e.package_name = $p RETURN e.ts, e.action' -p p=bash
      watchman query installed-this-week --at 2026-12-01T10:00:00Z   # as the graph was then
    """
    if list_:
        for q in QUERIES.values():
            takes = " ".join(f"{p.name}={p.default if p.default is not None else '…'}" for p in q.params)
            out.print(f"[bold]{q.name}[/bold]  {q.question}" + (f"  [dim]({takes})[/dim]" if takes else ""))
        return
    if not text:
        raise fail("give a named query or Cypher text (see watchman query --list)", EXIT_USAGE)
    from watchman.api_client import ApiClient

    params: dict[str, Any] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--param wants KEY=VALUE, got {item!r}", EXIT_USAGE)
        params[key] = _param_value(value)
    if at is not None and write:
        raise fail("--at answers from a replay of the past: it never writes (drop --write)", EXIT_USAGE)
    api = None if write or at is not None else ApiClient.connect(get_settings())
    if at is not None:
        columns, rows = _query_at(text, params, at)
    elif api is not None:
        columns, rows = _api_query(api, text, params)
    else:
        if text in QUERIES:
            try:
                cypher, params = resolve(text, params, datetime.now(UTC))
            except CatalogError as exc:
                raise fail(str(exc), EXIT_USAGE) from None
        else:
            cypher = text
        columns, rows = _run_query(cypher, params, read_only=not write)
    if not rows:
        err.print("no rows")  # on stderr: JSON-lines output stays clean for scripts
    elif table:
        t = Table(*columns)
        for row in rows:
            t.add_row(*("" if v is None else str(v) for v in row))
        # Piped (no terminal width to fit): as wide as the rows need, never cut to 80 columns.
        wide = out if out.is_terminal else Console(width=table_width(columns, rows), soft_wrap=True)
        wide.print(t)
    else:
        for row in rows:
            sys.stdout.buffer.write(orjson.dumps(dict(zip(columns, row, strict=True))) + b"\n")


def _query_at(text: str, params: dict[str, Any], at: str) -> tuple[list[str], list[list[Any]]]:
    """The graph as it was at `at`: a replay of the log cut there (watchman/timetravel/cut.py)."""
    from watchman.timetravel.service import query_at
    from watchman.timetravel.times import BadTime, parse_time
    from watchman.values import jsonable

    try:
        when = parse_time(at, datetime.now(UTC))
    except BadTime as exc:
        raise fail(f"--at: {exc}", EXIT_USAGE) from None
    if text in QUERIES:
        try:
            cypher, params = resolve(text, params, when)  # "this week" means the week before --at
        except CatalogError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    else:
        cypher = text
    try:
        columns, rows, cut = query_at(get_settings(), cypher, params, when)
    except (ReadOnlyViolation, QueryRefused, FileNotFoundError) as exc:  # FileNotFoundError: no log yet
        raise fail(str(exc)) from None
    except RuntimeError as exc:  # LadybugDB reports Cypher errors as RuntimeError
        raise fail(f"query failed: {exc}") from None
    err.print(f"as of {when.isoformat()}: {cut.total:,} events ({cut.applied:,} replayed)", highlight=False)
    return columns, jsonable(rows)


def table_width(columns: list[str], rows: list[list[Any]]) -> int:
    """The width a table needs to show every cell whole: widest cell per column, plus borders."""
    widths = [len(c) for c in columns]
    for row in rows:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len("" if v is None else str(v)))
    return sum(widths) + 3 * len(widths) + 1


def _api_query(api: ApiClient, text: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Through the running daemon's admin API (read-only; --write goes through its local socket)."""
    from watchman.api_client import ApiError

    named = text in QUERIES
    body = (
        {"name": text, "params": params} if named else {"cypher": text, "params": params, "read_only": True}
    )
    try:
        answer = api.post("/query", body)
    except ApiError as exc:
        if exc.status == 400 and named:
            raise fail(str(exc), EXIT_USAGE) from None
        hint = " (pass --write to allow writing Cypher)" if "tried to write" in str(exc) else ""
        raise fail(f"{exc}{hint}") from None
    except OSError as exc:
        raise fail(f"the daemon's API at {api.url} did not answer: {exc}") from None
    columns: list[str] = answer["columns"]
    return columns, [[row[c] for c in columns] for row in answer["rows"]]


def _run_query(cypher: str, params: dict[str, Any], *, read_only: bool) -> tuple[list[str], list[list[Any]]]:
    from projections.stores.ladybug import GraphCorrupted, GraphLocked
    from watchman.daemon_client import DaemonClient
    from watchman.values import encode_params, jsonable

    s = get_settings()
    client = DaemonClient.connect(s)
    if client is not None:
        request = {"op": "query", "cypher": cypher, "params": encode_params(params), "read_only": read_only}
        answer = next(client.request(request))
        if "error" in answer:
            hint = " (pass --write to allow writing Cypher)" if answer.get("kind") == "read_only" else ""
            raise fail(answer["error"] + hint)
        return answer["columns"], answer["rows"]
    if s.graph_url.startswith("ladybug://") and not graph_path(s.graph_url).exists():
        raise fail(
            f"no graph yet at {graph_path(s.graph_url)}: start `watchman run` (or `watchman run --once`)"
        )
    try:
        with open_settings_graph(s) as store:
            result = store.query(cypher, params, read_only=read_only)
    except ReadOnlyViolation as exc:
        raise fail(f"{exc} (pass --write to allow writing Cypher)") from None
    except QueryRefused as exc:
        raise fail(str(exc)) from None
    except GraphLocked as exc:
        raise fail(f"{exc}; is a `watchman run` starting up?", EXIT_BUSY) from None
    except GraphCorrupted as exc:
        raise fail(f"{exc}; `watchman run` (or `watchman replay`) rebuilds it from the event log") from None
    except RuntimeError as exc:  # LadybugDB reports Cypher errors as RuntimeError
        raise fail(f"query failed: {exc}") from None
    return result.columns, jsonable(result.rows)
