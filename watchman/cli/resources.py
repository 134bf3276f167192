"""`watchman resources`: the host's CPU, memory, filesystems and top processes now, from the graph."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from watchman.cli.common import out

app = typer.Typer(
    help="Host resources now (watchman plot draws them over time).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
def now(host: Annotated[str, typer.Option(help="only this host ('' = every host)")] = "") -> None:
    """CPU, load, memory and swap; every filesystem (fullest first); the top processes.

    \b
    Examples:
      watchman resources now
      watchman resources now --host web-1
    """
    from rich.console import Console

    from projections.catalog import resolve
    from watchman.cli.query import _run_query, table_width

    for name, title in (
        ("host-metrics", "host"),
        ("disk-usage", "filesystems"),
        ("top-processes", "processes"),
    ):
        cypher, params = resolve(name, {"host": host}, datetime.now(UTC))
        columns, rows = _run_query(cypher, params, read_only=True)
        t = Table(*columns, title=title)
        for row in rows:
            t.add_row(*("" if v is None else str(v) for v in row))
        # Piped: as wide as the cells, never cut to 80 columns (as `watchman query --table`).
        wide = out if out.is_terminal else Console(width=table_width(columns, rows), soft_wrap=True)
        wide.print(t)
