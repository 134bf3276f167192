"""`watchman runners`: the CI runners of this host, their jobs, registering and removing one."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from watchman.cli.common import EXIT_USAGE, err, fail, get_settings

app = typer.Typer(
    help="CI runners (GitHub Actions, GitLab Runner): what is installed here, their jobs, and registering "
    "or removing one with a provider configured in [[git_runners.providers]].",
    no_args_is_help=True,
)


def _rows(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A named question, through the running daemon when there is one, else on the graph directly."""
    from projections.catalog import CatalogError, resolve
    from watchman.api_client import ApiClient, ApiError
    from watchman.cli.query import _run_query

    api = ApiClient.connect(get_settings())
    if api is not None:
        try:
            answer = api.post("/query", {"name": name, "params": params})
        except (ApiError, OSError) as exc:
            raise fail(str(exc)) from None
        rows: list[dict[str, Any]] = answer["rows"]
        return rows
    try:
        cypher, p = resolve(name, params, datetime.now(UTC))
    except CatalogError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    columns, values = _run_query(cypher, p, read_only=True)
    return [dict(zip(columns, row, strict=True)) for row in values]


def _print(rows: list[dict[str, Any]]) -> None:
    if not rows:
        err.print("no rows")
    for row in rows:
        sys.stdout.buffer.write(orjson.dumps(row) + b"\n")


@app.command("list")
def list_runners() -> None:
    """The runners known (JSON lines): provider, repository, status, version, jobs completed.

    \b
    Example:
      watchman runners list | jq -r 'select(.status == "offline") | .runner'
    """
    _print(_rows("runners", {}))


@app.command("jobs")
def jobs(
    days: Annotated[int, typer.Option("--days", help="look back this many days")] = 7,
    failed: Annotated[bool, typer.Option("--failed", help="only jobs that did not succeed")] = False,
) -> None:
    """The CI jobs of the last N days (JSON lines), newest first.

    \b
    Examples:
      watchman runners jobs --days 1
      watchman runners jobs --failed
    """
    if failed:
        _print(_rows("ci-jobs-failed", {"days": days}))
    else:
        _print(_rows("ci-jobs", {"days": days}))


def _command(path: str, body: dict[str, Any]) -> None:
    from watchman.api_client import ApiClient, ApiError

    api = ApiClient.connect(get_settings())
    if api is None:
        raise fail("no running `watchman run` to act: start it, the command runs on its host")
    try:
        answer = api.post(path, body)
    except ApiError as exc:
        raise fail(str(exc), EXIT_USAGE if exc.status in (400, 422) else 1) from None
    sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")


@app.command("register")
def register(
    provider: Annotated[str, typer.Option("--provider", help="a [[git_runners.providers]] name")],
    name: Annotated[str, typer.Option("--name", help="the new runner's name")],
    label: Annotated[list[str] | None, typer.Option("--label", help="a runner label, repeatable")] = None,
    ephemeral: Annotated[bool, typer.Option("--ephemeral", help="GitHub: a just-in-time runner")] = False,
) -> None:
    """Register a runner on this host (a RegisterRunner command; prints its id and status URL).

    The provider's API token comes from the secrets store (the provider's `token = "secret:NAME"`).

    \b
    Example:
      watchman runners register --provider octo --name runner-02 --label gpu
      watchman query "MATCH (c:Command) WHERE c.type = 'RegisterRunner' RETURN c.status, c.detail"
    """
    body = {"provider": provider, "name": name, "labels": label or [], "ephemeral": ephemeral}
    _command("/admin/runners/register", body)


@app.command("remove")
def remove(
    provider: Annotated[str, typer.Option("--provider", help="the provider the runner is registered with")],
    name: Annotated[str, typer.Option("--name", help="the runner's name")],
    yes: Annotated[bool, typer.Option("--yes", help="confirm: the runner is unregistered")] = False,
) -> None:
    """Unregister a runner and remove it from this host (destructive: needs --yes).

    \b
    Example:
      watchman runners remove --provider octo --name runner-02 --yes
    """
    if not yes:
        raise fail("removing a runner unregisters it from its provider: pass --yes", EXIT_USAGE)
    _command("/admin/runners/remove", {"provider": provider, "name": name, "confirm": True})
