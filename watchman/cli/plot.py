"""`watchman plot`: a time-series question drawn in the terminal or to a PNG/SVG file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from watchman.cli.common import EXIT_USAGE, err, fail, get_settings


def plot(
    name: Annotated[str, typer.Argument(help="a time-series named query (see --list)")] = "",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE, repeatable")] = None,
    since: Annotated[str, typer.Option("--since", help="look back: 90m, 24h, 30d, 2w, 1y")] = "24h",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write FILE.png or FILE.svg instead")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the time-series queries and exit")] = False,
) -> None:
    """Draw a time series: CPU, memory, disk use, a service's memory, ... (any named query that returns
    ts and value and takes since). In the terminal, or to an image with --out.

    \b
    Examples:
      watchman plot metric-series -p series=memory.used_percent --since 24h
      watchman plot disk-use -p mount=/ --since 30d --out disk.png
      watchman plot service-memory-series -p service=postgresql --since 24h --out pg.svg
      watchman plot cpu-per-core --since 6h
    """
    from watchman.cli.query import _api_query, _param_value, _run_query
    from watchman.plotting import (
        NotASeries,
        check_series_query,
        draw_image,
        draw_terminal,
        series_of,
        time_series_queries,
        window_title,
    )

    if list_ or not name:
        from projections.catalog import QUERIES

        for q in time_series_queries():
            typer.echo(f"{q}  {QUERIES[q].question}")
        return
    try:
        check_series_query(name)
    except NotASeries as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    params: dict[str, Any] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--param wants KEY=VALUE, got {item!r}", EXIT_USAGE)
        params[key] = _param_value(value)
    params["since"] = since
    columns, rows = _query(name, params, _api_query, _run_query)
    try:
        series = series_of(columns, rows)
    except NotASeries as exc:
        raise fail(str(exc)) from None
    if not series:
        err.print("no points in that window")
        raise typer.Exit(1)
    title = window_title(name, params)
    if out is not None:
        try:
            draw_image(series, title, out)
        except ValueError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        err.print(f"wrote {out} ({sum(len(p) for p in series.values())} points)")
    else:
        typer.echo(draw_terminal(series, title))


def _query(
    name: str, params: dict[str, Any], api_query: Any, run_query: Any
) -> tuple[list[str], list[list[Any]]]:
    """Through the running daemon's API when there is one, else on the graph (as `watchman query`)."""
    from datetime import UTC, datetime

    from projections.catalog import CatalogError, resolve
    from watchman.api_client import ApiClient

    api = ApiClient.connect(get_settings())
    if api is not None:
        columns, rows = api_query(api, name, params)
        return columns, rows
    try:
        cypher, p = resolve(name, params, datetime.now(UTC))
    except CatalogError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    columns, rows = run_query(cypher, p, read_only=True)
    return columns, rows
