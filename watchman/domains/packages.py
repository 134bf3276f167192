"""The packages domain in the shell: which package-manager logs to follow, and their sources."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from collections.abc import Callable

    from producers.packages.sources import LogSource
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

    # The package databases, read whole at start and every inventory_interval (and on TriggerScan), so
    # every installed package is known, also those no log mentions. Read only when present at start.
    dpkg_status: tuple[Path, ...] = (Path("/var/lib/dpkg/status"),)
    rpmdb: tuple[Path, ...] = (Path("/var/lib/rpm"), Path("/usr/lib/sysimage/rpm"))
    inventory_interval: float = Field(3600.0, gt=0, description="seconds between package-database rescans")

    def databases(self) -> list[tuple[str, Path]]:
        """(kind, path) of every package database present (an rpmdb only where `rpm` can read it)."""
        import shutil

        out: list[tuple[str, Path]] = [("dpkg-status", p) for p in self.dpkg_status if p.is_file()]
        seen: set[Path] = set()
        for p in self.rpmdb:
            if p.is_dir() and p.resolve() not in seen and shutil.which("rpm"):
                seen.add(p.resolve())  # Fedora links /var/lib/rpm to /usr/lib/sysimage/rpm
                out.append(("rpmdb", p))
        return out

    def logs(self) -> list[tuple[str, Path]]:
        """(kind, path) of every log, kinds named as `watchman parse` names them."""
        kinds = (("apt", self.apt), ("dpkg", self.dpkg), ("dnf-rpm", self.dnf_rpm), ("dnf", self.dnf))
        out = [(kind, p) for kind, paths in kinds for p in paths]
        return out + [("dnf5", p) for p in self.dnf5]


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    from zoneinfo import ZoneInfo

    from producers.packages.arch import native_arch
    from producers.packages.inventory_source import DatabaseSource
    from producers.packages.sources import BrewSource, LogSource
    from schemas.events import ecosystem_of

    tz = ZoneInfo(settings.log_timezone) if settings.log_timezone else None
    out: list[Source] = []
    logs: list[LogSource] = []
    for kind, path in settings.packages.logs():
        name = f"{kind}:{path}"
        arch = native_arch(ecosystem_of(kind))
        logs.append(
            LogSource(
                kind,
                path,
                settings.host,
                cursors.get(name),
                tz=tz,
                native_arch=arch,
                max_line_bytes=settings.max_line_bytes,
            )
        )
    out.extend(logs)
    for prefix in settings.packages.brew:
        name = f"brew:{prefix}"
        out.append(BrewSource(prefix, settings.host, cursors.get(name), interval=settings.brew_interval))
    # After the logs: polled later in the same cycle, and waiting until its logs are read to their end.
    for kind, path in settings.packages.databases():
        ecosystem = ecosystem_of(kind)
        same = [s for s in logs if ecosystem_of(s.kind) == ecosystem]
        out.append(
            DatabaseSource(
                "dpkg-status" if kind == "dpkg-status" else "rpmdb",
                path,
                settings.host,
                cursors.get(f"{kind}:{path}"),
                interval=settings.packages.inventory_interval,
                native_arch=native_arch(ecosystem),
                ready=_all_at_end(same),
                told=_told_by(same),
            )
        )
    return out


def _all_at_end(logs: list[LogSource]) -> Callable[[], bool]:
    return lambda: all(src.at_end for src in logs)


def _told_by(logs: list[LogSource]) -> Callable[[], set[tuple[str, str | None]]]:
    return lambda: set().union(*(src.told for src in logs))


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`."""
    out = []
    for kind, path in settings.packages.logs():
        out.append((kind, f"{path}  {'found' if path.exists() else 'not present (watched)'}"))
    for prefix in settings.packages.brew:
        out.append(("brew", f"{prefix}  {'found' if prefix.exists() else 'not present (watched)'}"))
    found = settings.packages.databases()
    for kind, path in found:
        out.append((kind, f"{path}  found (read at start, every {settings.packages.inventory_interval:g} s)"))
    for path in (*settings.packages.dpkg_status, *settings.packages.rpmdb):
        if all(path != p for _, p in found):
            out.append(("inventory", f"{path}  not present (not read)"))
    return out
