"""`watchman obsidian`: sync a vault now (through the running daemon's command path) and show the vaults."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import orjson
import typer

from watchman.cli.common import EXIT_USAGE, err, fail, get_settings, out

app = typer.Typer(
    help="Obsidian vaults kept in sync by git ([[obsidian.vaults]] in watchman.toml): sync now, status.",
    no_args_is_help=True,
)


def _api() -> Any:
    from watchman.api_client import ApiClient

    return ApiClient.connect(get_settings())


@app.command("sync")
def sync(
    name: Annotated[str, typer.Argument(help="the vault's name ([[obsidian.vaults]] name = ...)")],
    wait: Annotated[
        float, typer.Option("--wait", help="seconds to wait for the outcome (0: do not wait)")
    ] = 120.0,
    here: Annotated[
        bool,
        typer.Option(
            "--here",
            help="no daemon: sync in this process (the steps are printed, not recorded in the event log)",
        ),
    ] = False,
) -> None:
    """Sync a vault now: commit what changed, pull, push when ahead, send media by rsync.

    With a running daemon this publishes a SyncObsidianVault command (as POST /admin/obsidian/sync/NAME
    does), waits for its outcome and prints it; the steps land in the graph like automatic ones.

    \b
    Examples:
      watchman obsidian sync notes
      watchman obsidian sync notes --wait 0        # print the command id and return
      watchman obsidian sync notes --here          # no daemon running: sync from this process
    """
    s = get_settings()
    vaults = {v.name: v for v in s.obsidian.vaults}
    if name not in vaults:
        known = ", ".join(sorted(vaults)) or "none configured"
        raise fail(f"no vault {name!r} in [[obsidian.vaults]] ({known})", EXIT_USAGE)
    if here:
        from producers.obsidian.git_sync import VaultSyncer
        from watchman.domains.obsidian import vault_config

        syncer = VaultSyncer(vault_config(s, vaults[name]), s.host)
        try:
            result = syncer.sync("command")
        finally:
            syncer.close()
        out.print(result.summary(), highlight=False)
        if result.status.sync_status == "error":
            raise typer.Exit(1)
        return
    from watchman.api_client import ApiError

    api = _api()
    if api is None:
        raise fail("no running daemon answers (watchman run); pass --here to sync from this process")
    try:
        accepted = api.post(f"/admin/obsidian/sync/{name}", {})
    except ApiError as exc:
        raise fail(str(exc)) from None
    if wait <= 0:
        sys.stdout.buffer.write(orjson.dumps(accepted) + b"\n")
        return
    deadline = time.monotonic() + wait
    while True:
        state = api.get(accepted["status_url"])
        if state["status"] != "pending":
            out.print(f"{state['status']}: {state.get('detail') or ''}", highlight=False)
            if state["status"] != "succeeded":
                raise typer.Exit(1)
            return
        if time.monotonic() > deadline:
            raise fail(f"no outcome within {wait:g}s; see {accepted['status_url']}")
        time.sleep(0.3)


@app.command("status")
def status() -> None:
    """Each vault's last sync, status, open conflicts and size, as JSON lines (from the running daemon).

    \b
    Examples:
      watchman obsidian status
      watchman query obsidian-last-sync --table    # the same question, also without a daemon
    """
    from watchman.api_client import ApiError

    api = _api()
    if api is None:
        raise fail("no running daemon answers; ask the graph with: watchman query obsidian-last-sync")
    try:
        rows = api.get("/admin/obsidian/status")["rows"]
    except ApiError as exc:
        raise fail(str(exc)) from None
    if not rows:
        err.print("no vaults synced yet")
    for row in rows:
        sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
