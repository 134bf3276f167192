"""The containers domain in the shell: the Docker engine to observe, and its source."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)


class DockerSettings(BaseModel):
    """The Docker engine to observe. Reading its socket is root-equivalent: see the README."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # None: on when the socket exists at start (a host without Docker is told once, at info level);
    # true: on, waiting for the engine with backoff; false: off.
    enabled: bool | None = None
    base_url: str = "unix:///var/run/docker.sock"
    timeout: float = Field(10.0, gt=0, description="seconds an API call may take")
    reconnect_initial: float = Field(1.0, gt=0, description="first wait before reconnecting")
    reconnect_max: float = Field(30.0, gt=0, description="longest wait between reconnects")
    first_snapshot_wait: float = Field(5.0, ge=0, description="first poll's wait for the snapshot")

    def socket(self) -> Path | None:
        """The socket path of a unix:// base_url; None for tcp:// and other transports."""
        for prefix in ("unix://", "http+unix://"):
            if self.base_url.startswith(prefix):
                return Path(self.base_url[len(prefix) :])
        return None

    def active(self) -> bool:
        if self.enabled is not None:
            return self.enabled
        sock = self.socket()
        return sock is None or sock.exists()


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    d = settings.docker
    if not d.active():
        if d.enabled is None:
            log.info("no Docker socket at %s: not observing Docker (docker.enabled waits for it)", d.socket())
        return []
    # Imported here: the docker SDK is only loaded on hosts that observe an engine.
    from producers.docker.source import DockerSource

    return [
        DockerSource(
            d.base_url,
            settings.host,
            cursors.get(f"docker:{d.base_url}"),
            timeout=d.timeout,
            reconnect_initial=d.reconnect_initial,
            reconnect_max=d.reconnect_max,
            first_wait=d.first_snapshot_wait,
        )
    ]


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`."""
    d = settings.docker
    sock = d.socket()
    found = "" if sock is None else f"  ({'found' if sock.exists() else 'not present'})"
    return [("docker", f"{'on' if d.active() else 'off'}: {d.base_url}{found}")]
