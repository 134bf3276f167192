"""`watchman retention policies|preview|purge|exempt` and `watchman archive restore`: the retention
domain's commands. They talk to the running daemon (the admin API): it owns the graph the policies read."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from watchman.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, err, get_settings, out

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


def _api(required: bool = True) -> Any:
    """The running daemon's admin API; without one, a clear error (purges, exemptions and restores are
    commands the daemon executes), or None when the caller can do without it."""
    from watchman.api_client import ApiClient

    api = ApiClient.connect(get_settings())
    if api is None and required:
        err.print(
            "error: no running daemon answers (its api.url): purges, exemptions and restores are carried out "
            "by `watchman run`; start it first",
            highlight=False,
        )
        raise typer.Exit(EXIT_ERROR)
    return api


def _offline_preview(policy: str) -> dict[str, Any]:
    """The preview without a daemon: the same plan, read from the graph directly (read-only)."""
    from datetime import UTC, datetime

    from watchman.retention import engine
    from watchman.wiring import open_settings_graph

    s = get_settings()
    settings = s.retention
    with open_settings_graph(s) as store:

        def query(cypher: str, params: Any) -> list[dict[str, Any]]:
            return store.query(cypher, dict(params), read_only=True).dicts()

        now = datetime.now(UTC)
        try:
            exempt = engine.exemptions(query, settings)
            plans = [
                engine.plan(query, settings, n, p, now, exempt).as_dict()
                for n, p in engine.policies(settings, policy)
            ]
        except engine.RetentionError as exc:
            err.print(f"error: {exc}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
    return {"now": now.isoformat(), "policies": plans}


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
    from watchman.retention import engine

    api = _api(required=False)
    _show(
        api.get("/admin/retention/policies") if api is not None else engine.describe(get_settings().retention)
    )


@app.command("preview")
def preview(policy: Annotated[str, typer.Option(help="one policy ('' = all)")] = "") -> None:
    """Per policy: records and bytes it would remove, oldest/newest, and what each rule keeps.
    Example: watchman retention preview --policy LogEvent"""
    from urllib.parse import quote

    api = _api(required=False)
    if api is None:
        _show(_offline_preview(policy))
        return
    _show(api.get(f"/admin/retention/preview?policy={quote(policy)}&dry_run=true"))


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
