"""`watchman config`: the effective settings and which sources exist."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import orjson
import typer

from watchman.wiring import (
    ConfigError,
    check_urls,
)

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    pass
from watchman.cli.common import fail, get_settings, out
from watchman.domains import DOMAINS

app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@app.command("show")
def config_show() -> None:
    """Print the effective settings as JSON (defaults, file and environment merged)."""
    s = get_settings()
    data = s.model_dump(mode="json")
    data["bus"], data["graph"] = s.bus_url, s.graph_url
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


@app.command("check")
def config_check() -> None:
    """Validate the settings and say which sources exist on this host."""
    s = get_settings()
    try:
        check_urls(s.bus_url, s.graph_url)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    out.print(f"settings ok ({s.deployment}); data dir {s.data_dir}")
    out.print(f"  bus      {s.bus_url}")
    out.print(f"  graph    {s.graph_url}")
    for domain in DOMAINS:
        for label, text in domain.describe(s):
            out.print(f"  {label:8} {text}")
    token = "exists" if s.api_token_path.exists() else "created on first start"
    if s.deployment == "distributed":
        # Each process serves its own (watchman produce|worker|project --api-listen HOST:PORT).
        from watchman.cli.distributed import DEFAULT_API

        api = ", ".join(f"{role} {where}" for role, where in DEFAULT_API.items()) + " (--api-listen)"
    else:
        api = s.api_listen or "off"
    out.print(f"  {'api':8} {api}; token {s.api_token_path} ({token})")
    token = "exists" if s.api_metrics_token_path.exists() else "created on first start"
    out.print(f"  {'':8} metrics-only token {s.api_metrics_token_path} ({token})")
