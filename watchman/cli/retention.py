"""`watchman retention policies|preview|purge|exempt` and `watchman archive restore`: the retention
domain's commands. They talk to the running daemon (the admin API): it owns the graph the policies read."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from watchman.cli.common import EXIT_OK, err, get_settings, out

app = typer.Typer(
    help="Retention: the policies, a preview that explains, purges and exemptions.\n\n"
    "\b\nExamples:\n"
    "  watchman retention policies\n"
    "  watchman retention preview --policy LogEvent     # what would go, and why the rest stays\n"
    "  watchman retention purge --confirm purge         # apply every policy now\n"
    "  watchman retention exempt --label LogEvent --key 3f2a... --reason 'legal hold'",
    no_args_is_help=True,
    rich_markup_mode=None,
)
archive_app = typer.Typer(
    help="Retention archives.\n\n\b\nExample:\n"
    "  watchman archive restore retention/LogEvent/20260101T033000Z-logs-1a2b3c4d.jsonl.gz --confirm restore",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _api() -> Any:
    from watchman.api_client import ApiClient

    return ApiClient.connect(get_settings())


def _await(api: Any, accepted: dict[str, Any]) -> int:
    while (state := api.get(accepted["status_url"]))["status"] == "pending":
        time.sleep(0.5)
    line = f"{state['status']}: {state.get('detail') or ''}"
    (out if state["status"] == "succeeded" else err).print(line, highlight=False)
    return EXIT_OK if state["status"] == "succeeded" else 1


def _show(data: Any) -> None:
    out.print(json.dumps(data, indent=2, default=str), highlight=False)


@app.command("policies")
def policies() -> None:
    """The retention policies in force (defaults filled in).  Example: watchman retention policies"""
    _show(_api().get("/admin/retention/policies"))


@app.command("preview")
def preview(policy: Annotated[str, typer.Option(help="one policy ('' = all)")] = "") -> None:
    """Per policy: records and bytes it would remove, oldest/newest, and what each rule keeps.
    Example: watchman retention preview --policy LogEvent"""
    from urllib.parse import quote

    _show(_api().get(f"/admin/retention/preview?policy={quote(policy)}&dry_run=true"))


@app.command("purge")
def purge(
    policy: Annotated[str, typer.Option(help="one policy ('' = all)")] = "",
    dry_run: Annotated[bool, typer.Option(help="record a preview only")] = False,
    confirm: Annotated[str, typer.Option(help='"purge": records are removed')] = "",
) -> None:
    """Apply the policies now.  Example: watchman retention purge --policy LogEvent --confirm purge"""
    api = _api()
    body = {"policy": policy, "dry_run": dry_run, "confirm": confirm}
    raise typer.Exit(_await(api, api.post("/admin/retention/purge", body)))


@app.command("exempt")
def exempt(
    reason: Annotated[str, typer.Option(help="why (required)")],
    label: Annotated[str, typer.Option()] = "",
    key: Annotated[str, typer.Option(help="the record's key")] = "",
    tag: Annotated[str, typer.Option(help="tag the record (policies with exempt_tagged keep it)")] = "",
    from_ts: Annotated[str, typer.Option("--from", help="date range start (ISO)")] = "",
    to_ts: Annotated[str, typer.Option("--to", help="date range end (ISO)")] = "",
) -> None:
    """Exempt a record, a tagged record or a date range from retention.
    Example: watchman retention exempt --label LogEvent --from 2026-03-01 --to 2026-03-08 --reason incident"""
    api = _api()
    body = {
        "label": label,
        "key": key,
        "tag": tag,
        "exemption_reason": reason,
        "from_ts": from_ts or None,
        "to_ts": to_ts or None,
    }
    raise typer.Exit(_await(api, api.post("/admin/retention/exempt", body)))


@archive_app.command("restore")
def restore(
    archive: Annotated[str, typer.Argument(help="the archive's object key (RetentionEvent.archive)")],
    confirm: Annotated[str, typer.Option(help='"restore"')] = "",
) -> None:
    """Bring an archive's records back into the graph.
    Example: watchman archive restore retention/LogEvent/...jsonl.gz --confirm restore"""
    api = _api()
    raise typer.Exit(
        _await(api, api.post("/admin/retention/restore", {"archive": archive, "confirm": confirm}))
    )
