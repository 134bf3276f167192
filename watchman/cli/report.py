"""`watchman report`: documents assembled from the named questions (today: the security report)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from watchman.cli.common import EXIT_USAGE, fail, get_settings

if TYPE_CHECKING:
    from watchman.reports.security import Format

app = typer.Typer(help="Reports assembled from the graph's named questions.", no_args_is_help=True)


@app.command("security")
def report_security(
    format_: Annotated[str, typer.Option("--format", "-f", help="md, html or json")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """The security and compliance report: failed logins, sudo use, exposed services, vulnerabilities by
    severity with their fixed versions, pending and installed security updates, permission changes and
    backup status (a part not observed on this installation says so).

    \b
    Examples:
      watchman report security                       # Markdown on stdout
      watchman report security --format html -o security.html
      watchman report security --format json | jq '.vulnerabilities_by_severity'
    """
    from projections.catalog import QUERIES, CatalogError, resolve
    from watchman.api_client import ApiClient
    from watchman.cli.query import _api_query, _run_query
    from watchman.reports.security import collect, render

    if format_ not in ("md", "html", "json"):
        raise fail("--format is md, html or json", EXIT_USAGE)
    settings = get_settings()
    api = ApiClient.connect(settings)

    def ask(name: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        if api is not None:
            return _api_query(api, name, params)
        try:
            cypher, p = resolve(name, params, datetime.now(UTC))
        except CatalogError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        return _run_query(cypher, p, read_only=True)

    fmt = cast("Format", format_)
    text = render(collect(ask, list(QUERIES)), fmt, host=settings.host, now=datetime.now(UTC))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
