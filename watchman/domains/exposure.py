"""The exposure domain in the shell: the listening sockets of this host, scanned on an interval."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore


class ExposureSettings(BaseModel):
    """Listening sockets (what `ss -tuln` shows) with their process, unit, container and package, every
    `interval` seconds. Naming other users' processes needs root."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    interval: float = Field(60.0, gt=0, description="seconds between two scans")


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    e = settings.exposure
    if not e.enabled:
        return []
    from producers.exposure.source import ListeningScanner

    return [ListeningScanner(settings.host, cursors.get("exposure:host"), interval=e.interval)]


def describe(settings: Settings) -> list[tuple[str, str]]:
    e = settings.exposure
    return [("exposure", f"on: listening sockets every {e.interval:g}s" if e.enabled else "off")]
