"""`watchman config`: the effective settings and which sources exist."""

from __future__ import annotations

import sys
from pathlib import Path
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
    for kind, path in s.packages.logs():
        out.print(f"  {kind:8} {path}  {'found' if path.exists() else 'not present (watched)'}")
    for prefix in s.packages.brew:
        out.print(f"  {'brew':8} {prefix}  {'found' if prefix.exists() else 'not present (watched)'}")
    j = s.journald
    if not j.enabled:
        out.print(f"  {'journald':8} off")
    elif j.files or j.directories:
        for p in (*j.files, *j.directories):
            out.print(f"  {'journald':8} {p}  {'found' if p.exists() else 'not present'}")
    else:
        system = [p for p in (Path("/var/log/journal"), Path("/run/log/journal")) if p.exists()]
        where = ", ".join(map(str, system)) if system else "no journal directory found"
        out.print(f"  {'journald':8} the system journal ({where})")
    checks = len(s.services.health_checks)
    metrics = "on" if s.services.metrics_enabled else "off"
    restart = "allowed" if s.services.auto_restart.allowed else "refused"
    out.print(f"  {'services':8} metrics {metrics}; {checks} health check(s); auto-restart {restart}")
    n = s.network
    if n.enabled:
        scope = f"namespace {n.netns}" if n.netns else "this host's namespace"
        lookup = n.external_ip_url or "off"
        out.print(
            f"  {'network':8} netlink in {scope}; scans every {n.scan_interval:g} s; external IP {lookup}"
        )
    else:
        out.print(f"  {'network':8} off")
    sock = s.docker.socket()
    state = "on" if s.docker.active() else "off"
    found = "" if sock is None else f"  ({'found' if sock.exists() else 'not present'})"
    out.print(f"  {'docker':8} {state}: {s.docker.base_url}{found}")
    api = s.api_listen or "off"
    token = "exists" if s.api_token_path.exists() else "created on first start"
    out.print(f"  {'api':8} {api}; token {s.api_token_path} ({token})")
    token = "exists" if s.api_metrics_token_path.exists() else "created on first start"
    out.print(f"  {'':8} metrics-only token {s.api_metrics_token_path} ({token})")


def main() -> None:
    app(prog_name="watchman")
