"""`watchman config history|diff|validate|rollback|apply|baseline`: the tracked config files.

They join the existing `watchman config` group (`show|check`: the product's own settings) instead of a
second group with a near-identical name: `watchman config history /etc/nginx/nginx.conf` reads as what it
does. History and diff read the versions repository under the data directory directly; the commands
that act go through the running daemon's admin API (an executor acts, the outcome is audited) and wait
for the outcome.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from watchman.cli.common import EXIT_USAGE, fail, get_settings, out


def _client() -> Any:
    from watchman.api_client import ApiClient

    client = ApiClient.connect(get_settings())
    if client is None:
        raise fail("no running daemon answers (start `watchman run`): commands act through its executor")
    return client


def _act(path: str, body: dict[str, Any], wait: bool) -> None:
    from watchman.api_client import ApiError

    client = _client()
    try:
        accepted = client.post(path, body)
    except ApiError as exc:
        raise fail(f"{exc.status}: {exc}") from None
    out.print(f"command {accepted['command_id']} ({accepted['type']}) accepted", highlight=False)
    if not wait:
        return
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = client.get(accepted["status_url"])
        if state["status"] != "pending":
            out.print(f"{state['status']}: {state.get('detail') or ''}", highlight=False)
            if state["status"] != "succeeded":
                raise typer.Exit(1)
            return
        time.sleep(0.5)
    raise fail("no outcome within 5 minutes; ask again with `watchman query command-status -p id=...`")


def history(
    path: Annotated[str, typer.Argument(help="the file's path on the host")],
    limit: Annotated[int, typer.Option(help="at most this many versions")] = 50,
) -> None:
    """The recorded versions of a config file, newest first (commit, time, what recorded it).

    \b
    Example:
      watchman config history /etc/nginx/nginx.conf
    """
    from watchman.domains.configfiles import history as versions

    rows = versions(get_settings(), path, limit)
    if not rows:
        raise fail(f"no recorded version of {path}")
    for rev, ts, message in rows:
        out.print(f"{rev[:12]}  {ts}  {message}", highlight=False)


def diff(
    path: Annotated[str, typer.Argument(help="the file's path on the host")],
    rev: Annotated[
        str | None, typer.Argument(help="a commit from `history`: diff from it to the file now")
    ] = None,
) -> None:
    """The diff of a config file: from REV to the file now, or, without REV, the change its last version
    made. Secret files have none (tracked by hash only).

    \b
    Examples:
      watchman config diff /etc/nginx/nginx.conf
      watchman config diff /etc/nginx/nginx.conf 3f2a9c1b
    """
    from watchman.domains.configfiles import DiffUnavailable, file_diff

    try:
        _from, _to, text = file_diff(get_settings(), path, rev)
    except DiffUnavailable as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(text + ("\n" if text else ""))


def validate(
    paths: Annotated[
        list[str] | None, typer.Argument(help="files to check (none: every tracked file)")
    ] = None,
    wait: Annotated[bool, typer.Option(help="wait for the outcome")] = True,
) -> None:
    """Run the applications' own checkers now (nginx -t, sshd -t, visudo -c, ...; JSON/YAML/TOML/INI).

    \b
    Example:
      watchman config validate /etc/nginx/nginx.conf
    """
    _act("/admin/config/validate", {"paths": list(paths or [])}, wait)


def rollback(
    path: Annotated[str, typer.Argument(help="the file's path on the host")],
    rev: Annotated[str, typer.Argument(help="the version to put back (a commit from `history`)")],
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm: the file is rewritten, its service reloaded")
    ] = False,
    wait: Annotated[bool, typer.Option(help="wait for the outcome")] = True,
) -> None:
    """Put back a recorded version: validated first, written atomically (owner and mode kept), the owning
    service reloaded and health-checked, reverted automatically when it does not come back healthy.

    \b
    Example:
      watchman config rollback /etc/nginx/nginx.conf 3f2a9c1b --yes
    """
    if not yes:
        raise fail("a rollback rewrites the file and reloads its service: pass --yes", EXIT_USAGE)
    _act("/admin/config/rollback", {"path": path, "rev": rev, "confirm": True}, wait)


def apply(
    path: Annotated[str, typer.Argument(help="the file's path on the host")],
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm: the file is rewritten to its desired state")
    ] = False,
    wait: Annotated[bool, typer.Option(help="wait for the outcome")] = True,
) -> None:
    """Resolve drift: write the desired state of a file (same checks and automatic revert as a rollback).

    \b
    Example:
      watchman config apply /etc/nginx/nginx.conf --yes
    """
    if not yes:
        raise fail("applying rewrites the file and reloads its service: pass --yes", EXIT_USAGE)
    _act("/admin/config/apply", {"path": path, "confirm": True}, wait)


def baseline(wait: Annotated[bool, typer.Option(help="wait for the outcome")] = True) -> None:
    """Pin the tracked files as they are now as the desired state; later changes are drift.

    \b
    Example:
      watchman config baseline && curl ... /admin/config/drift
    """
    _act("/admin/config/baseline", {}, wait)


def extend(app: typer.Typer) -> None:
    """Add these commands to the `watchman config` group."""
    app.command("history")(history)
    app.command("diff")(diff)
    app.command("validate")(validate)
    app.command("rollback")(rollback)
    app.command("apply")(apply)
    app.command("baseline")(baseline)
