"""The permissions domain in the shell: the periodic scan of sensitive files and system directories."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore


class PermissionSettings(BaseModel):
    """Owner/mode/SHA-256 of passwd, shadow, group, sudoers(.d), sshd_config, authorized_keys, cron and
    /etc/systemd/system, and new setuid/setgid or world-writable files under the system directories,
    every `interval` seconds (reading shadow and walking /usr needs root)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    interval: float = Field(900.0, gt=0, description="seconds between two scans")
    root: Path = Path("/")


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    p = settings.permissions
    if not p.enabled:
        return []
    from producers.permissions.source import PermissionScanner

    return [
        PermissionScanner(
            settings.host, cursors.get(f"permissions:{p.root}"), root=p.root, interval=p.interval
        )
    ]


def describe(settings: Settings) -> list[tuple[str, str]]:
    p = settings.permissions
    return [("permissions", f"on: scan of {p.root} every {p.interval:g}s" if p.enabled else "off")]
