"""The MCP domain in the shell: the declared MCP servers ([[mcp.servers]] in watchman.toml, each whole
or pointing at a server.json in the official MCP registry's format), the supervisor's timings, and
the supervisor source that runs, probes and lists them.

Example:

    [mcp]
    interval = 30

    [[mcp.servers]]
    name = "io.github.me/weather"
    server_json = "/etc/watchman/mcp/weather.server.json"   # name, version, packages, env vars
    env = { API_KEY = "secret:weather-key" }                # a secret: never in an event

    [[mcp.servers]]
    name = "files"
    command = "/usr/local/bin/files-mcp"                   # stdio, supervised by The Watchman
    args = ["--root", "/srv/files"]
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.mcp.registry import ServerSpec
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)


class MCPServerSettings(BaseModel):
    """One MCP server. With `server_json`, the file declares it and what is set here wins over it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    server_json: Path | None = None
    # Which of the server.json's packages to run (npm, pypi, oci, ...); default the first.
    registry_type: str = ""
    version: str = ""
    description: str = ""
    transport: Literal["stdio", "streamable-http"] | None = None
    deployment: Literal["local", "container", "remote"] | None = None
    command: str = ""
    args: tuple[str, ...] | None = None
    cwd: str = ""
    url: str = ""
    image: str = ""
    # name -> value, or "secret:NAME" (watchman/secrets.py: $WATCHMAN_SECRET_NAME, systemd credentials,
    # <data_dir>/secrets/NAME at 0600)
    env: dict[str, str] = Field(default_factory=dict)
    autostart: bool = True
    restart: Literal["always", "on-failure", "never"] = "on-failure"
    # Docker options of a container server: network_mode, volumes, working_dir, user.
    container: dict[str, Any] = Field(default_factory=dict)


class MCPSettings(BaseModel):
    """The MCP servers The Watchman runs and watches, and the supervisor's timings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    servers: tuple[MCPServerSettings, ...] = ()
    interval: float = Field(30.0, gt=0, description="seconds between health probes (ping or handshake)")
    timeout: float = Field(10.0, gt=0, description="seconds one MCP request may take")
    start_timeout: float = Field(30.0, gt=0, description="seconds a server has to answer after a start")
    backoff_initial: float = Field(1.0, gt=0, description="first wait before restarting an exited server")
    backoff_max: float = Field(60.0, gt=0, description="longest wait between restarts")
    stable_seconds: float = Field(60.0, ge=0, description="a run this long resets the back-off")
    # The Docker engine for container servers ("" = the docker section's base_url).
    docker_url: str = ""


def _spec(s: MCPServerSettings) -> ServerSpec:
    from producers.mcp.registry import RegistryError, from_server_json, from_settings

    given = {
        k: v
        for k, v in s.model_dump().items()
        if k not in ("server_json", "registry_type") and v not in (None, "", {}, ())
    }
    if s.server_json is None:
        return from_settings(given)
    try:
        doc = json.loads(s.server_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{s.server_json}: cannot read a server.json: {exc}") from None
    return from_server_json(doc, origin=str(s.server_json), registry_type=s.registry_type, overrides=given)


def specs(settings: Settings) -> tuple[list[ServerSpec], list[str]]:
    """The declared servers as the supervisor runs them, and the errors of those that cannot run
    (each names its server and what is wrong): one bad declaration does not stop the others."""
    from producers.mcp.registry import RegistryError

    out: list[ServerSpec] = []
    errors: list[str] = []
    for s in settings.mcp.servers:
        try:
            spec = _spec(s)
        except RegistryError as exc:
            errors.append(str(exc))
            continue
        if any(o.name == spec.name for o in out):
            errors.append(f"MCP server {spec.name} declared twice: the first declaration is used")
            continue
        out.append(spec)
    return out, errors


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    if not settings.mcp.servers:
        return []
    from producers.mcp.supervisor import MCPSupervisor
    from watchman.secrets import Secrets

    m = settings.mcp
    secrets = Secrets(settings.data_dir / "secrets")
    found, errors = specs(settings)
    for error in errors:
        log.error("MCP server not run: %s", error)
    return [
        MCPSupervisor(
            settings.host,
            found,
            resolve=secrets.resolve,
            log_dir=settings.data_dir / "mcp",
            interval=m.interval,
            timeout=m.timeout,
            start_timeout=m.start_timeout,
            backoff_initial=m.backoff_initial,
            backoff_max=m.backoff_max,
            stable_seconds=m.stable_seconds,
            docker_url=m.docker_url or settings.docker.base_url,
        )
    ]


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    return {}


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`."""
    if not settings.mcp.servers:
        return [("mcp", "no MCP servers declared")]
    found, errors = specs(settings)
    lines = [
        (
            "mcp",
            f"{s.name} {s.version or '?'}: {s.transport}, {s.deployment}" + (f" {s.url}" if s.url else ""),
        )
        for s in found
    ]
    return lines + [("mcp", f"error: {e}") for e in errors]
