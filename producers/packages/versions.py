"""Version ordering for deb and rpm (and, by rpm's rules, brew), and the upgrade/downgrade call it makes."""

from __future__ import annotations

from typing import Literal

from debian.debian_support import Version
from rpm_vercmp import vercmp

VersionChange = Literal["upgrade", "downgrade", "reinstall"]


def compare_deb(a: str, b: str) -> int:
    """-1, 0 or 1 as deb version `a` sorts before, equal to or after `b`. ValueError if either is invalid."""
    va, vb = Version(a), Version(b)
    return (va > vb) - (va < vb)


def split_deb_epoch(version: str | None) -> str | None:
    """The epoch of a deb version string (`1:2.39-1` -> `1`), or None when it has none."""
    if version is None or ":" not in version:
        return None
    epoch = version.split(":", 1)[0]
    return epoch if epoch.isdigit() else None


def _split_evr(evr: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in evr:
        head, evr = evr.split(":", 1)
        if not head.isdigit():
            raise ValueError(f"invalid rpm epoch in {head!r}")
        epoch = int(head)
    version, _, release = evr.partition("-")
    return epoch, version, release


def compare_rpm(a: str, b: str) -> int:
    """-1, 0 or 1 comparing two rpm `[epoch:]version[-release]` strings the way rpm does.

    A missing epoch is 0; a missing release on either side is not compared (rpm's rule for
    requirements that name only a version).
    """
    ea, va, ra = _split_evr(a)
    eb, vb, rb = _split_evr(b)
    if ea != eb:
        return (ea > eb) - (ea < eb)
    c = int(vercmp(va, vb))
    if c != 0 or not ra or not rb:
        return c
    return int(vercmp(ra, rb))


def compare_brew(a: str, b: str) -> int:
    """Homebrew versions (`1.2.3`, `1.2.3_1`) compared by rpm's segment rules, which fit them well enough."""
    return int(vercmp(a, b))


def classify(cmp: int) -> VersionChange:
    """What moving from an old to a new version is, given compare(new, old)."""
    if cmp > 0:
        return "upgrade"
    if cmp < 0:
        return "downgrade"
    return "reinstall"
