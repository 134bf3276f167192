"""The packages domain in the shell: which package-manager logs to follow, and their sources."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)


class PackageSources(BaseModel):
    """Package-manager logs to follow. Paths that do not exist are watched and read once they appear."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    apt: tuple[Path, ...] = (Path("/var/log/apt/history.log"),)
    dpkg: tuple[Path, ...] = (Path("/var/log/dpkg.log"),)
    dnf_rpm: tuple[Path, ...] = (Path("/var/log/dnf.rpm.log"),)
    dnf: tuple[Path, ...] = (Path("/var/log/dnf.log"),)
    dnf5: tuple[Path, ...] = (Path("/var/log/dnf5.log"),)
    brew: tuple[Path, ...] = (
        Path("/home/linuxbrew/.linuxbrew"),
        Path("/opt/homebrew"),
        Path("/usr/local/Homebrew"),
    )

    def logs(self) -> list[tuple[str, Path]]:
        """(kind, path) of every log, kinds named as `watchman parse` names them."""
        kinds = (("apt", self.apt), ("dpkg", self.dpkg), ("dnf-rpm", self.dnf_rpm), ("dnf", self.dnf))
        out = [(kind, p) for kind, paths in kinds for p in paths]
        return out + [("dnf5", p) for p in self.dnf5]


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    from zoneinfo import ZoneInfo

    from producers.packages.arch import native_arch
    from producers.packages.sources import BrewSource, LogSource
    from schemas.events import ecosystem_of

    tz = ZoneInfo(settings.log_timezone) if settings.log_timezone else None
    out: list[Source] = []
    for kind, path in settings.packages.logs():
        name = f"{kind}:{path}"
        arch = native_arch(ecosystem_of(kind))
        out.append(LogSource(kind, path, settings.host, cursors.get(name), tz=tz, native_arch=arch))
    for prefix in settings.packages.brew:
        name = f"brew:{prefix}"
        out.append(BrewSource(prefix, settings.host, cursors.get(name), interval=settings.brew_interval))
    return out


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`."""
    out = []
    for kind, path in settings.packages.logs():
        out.append((kind, f"{path}  {'found' if path.exists() else 'not present (watched)'}"))
    for prefix in settings.packages.brew:
        out.append(("brew", f"{prefix}  {'found' if prefix.exists() else 'not present (watched)'}"))
    return out
