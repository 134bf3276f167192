"""The vulnerabilities domain in the shell: the advisory inbox that `watchman cve import` fills, and the
scan of installed packages with their source packages that findings are matched against."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore


class VulnerabilitySettings(BaseModel):
    """CVE matching. Advisories come only from files you import (no network access is assumed):
    `watchman cve import FILE` copies FILE into `<data_dir>/cve/inbox`, where the daemon reads it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # Seconds between two reads of the package database for matching (a change is sent, not a repeat).
    scan_interval: float = Field(3600.0, gt=0)
    dpkg_status: Path = Path("/var/lib/dpkg/status")
    rpm_dbpath: Path = Path("/var/lib/rpm")
    os_release: Path = Path("/etc/os-release")
    # Default <data_dir>/cve/inbox.
    inbox: Path | None = None


def inbox(settings: Settings) -> Path:
    return settings.vulnerabilities.inbox or settings.data_dir / "cve" / "inbox"


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    v = settings.vulnerabilities
    if not v.enabled:
        return []
    from producers.vulnerabilities.source import AdvisoryInbox, InstalledSourcesScanner

    box = inbox(settings)
    return [
        AdvisoryInbox(box, settings.host, cursors.get(f"cve-inbox:{box}")),
        InstalledSourcesScanner(
            settings.host,
            cursors.get("vulnerabilities:installed"),
            dpkg_status=v.dpkg_status,
            rpm_dbpath=v.rpm_dbpath,
            os_release=v.os_release,
            interval=v.scan_interval,
        ),
    ]


def describe(settings: Settings) -> list[tuple[str, str]]:
    v = settings.vulnerabilities
    if not v.enabled:
        return [("vulnerabilities", "off")]
    return [
        ("vulnerabilities", f"on: inbox {inbox(settings)}, package scan every {v.scan_interval:g}s"),
    ]
