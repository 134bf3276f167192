"""Does an advisory's affected entry match an installed version? (pure)

Each ecosystem's own version order: Debian and Ubuntu by python-debian's Version (dpkg's algorithm;
apt_pkg's when importable), Red Hat, Rocky and AlmaLinux by rpm's rpmvercmp (the `rpm-vercmp` package,
a port of rpm's C function, with the epoch and release compared as rpm does), PyPI by `packaging`
(PEP 440). Alpine and npm advisories are imported but not matched: no installed inventory of those
ecosystems reaches the graph yet, and apk's order has no maintained Python implementation.

The range algorithm is the OSV schema's (https://ossf.github.io/osv-schema/#evaluation): events sorted
by version, `introduced` opens, `fixed` closes at that version, `last_affected` closes after it; a
version listed in `versions` is affected whatever the ranges say.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cmp_to_key, lru_cache

from debian.debian_support import Version as DebVersion
from packaging.version import InvalidVersion
from packaging.version import Version as PyVersion
from rpm_vercmp import vercmp

Compare = Callable[[str, str], int]


@lru_cache(maxsize=1 << 16)
def _deb(v: str) -> DebVersion:
    return DebVersion(v)


@lru_cache(maxsize=1 << 16)
def compare_deb(a: str, b: str) -> int:
    """Cached: matching compares the same few installed and fixed versions thousands of times (a pure
    function of its arguments, so the cache cannot change an answer)."""
    va, vb = _deb(a), _deb(b)
    return (va > vb) - (va < vb)


def _evr(evr: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in evr:
        head, evr = evr.split(":", 1)
        if not head.isdigit():
            raise ValueError(f"invalid rpm epoch in {head!r}")
        epoch = int(head)
    version, _, release = evr.partition("-")
    return epoch, version, release


@lru_cache(maxsize=1 << 16)
def compare_rpm(a: str, b: str) -> int:
    """rpm's order of `[epoch:]version-release`: epoch, then rpmvercmp of version, then of release
    (a side without a release compares by version only, as rpm does for a bare version)."""
    ea, va, ra = _evr(a)
    eb, vb, rb = _evr(b)
    if ea != eb:
        return (ea > eb) - (ea < eb)
    c = int(vercmp(va, vb))
    if c or not ra or not rb:
        return c
    return int(vercmp(ra, rb))


def compare_pypi(a: str, b: str) -> int:
    try:
        va, vb = PyVersion(a), PyVersion(b)
    except InvalidVersion as exc:
        raise ValueError(str(exc)) from None
    return (va > vb) - (va < vb)


def release_of(ecosystem: str) -> str:
    """An OSV ecosystem reduced to the release a host names (installed.os_release): `Ubuntu:22.04:LTS`
    -> `Ubuntu:22.04`, `Red Hat:enterprise_linux:9::appstream` -> `Red Hat:9`, `Rocky Linux:9.2` ->
    `Rocky Linux:9`. Anything else is itself (`Debian:12`, `Alpine:v3.18`, `PyPI`)."""
    parts = ecosystem.split(":")
    if parts[0] == "Ubuntu" and len(parts) >= 2 and parts[1][:1].isdigit():
        return f"Ubuntu:{parts[1]}"
    if parts[0] == "Red Hat" and len(parts) >= 3 and parts[2][:1].isdigit():
        return f"Red Hat:{parts[2].split('.')[0]}"
    if parts[0] in ("Rocky Linux", "AlmaLinux", "Debian") and len(parts) >= 2:
        return f"{parts[0]}:{parts[1].split('.')[0]}"
    return ecosystem


def comparator(release: str) -> Compare | None:
    """The version order of a release's packages; None where it is not matched."""
    family = release.split(":", maxsplit=1)[0]
    if family in ("Debian", "Ubuntu"):
        return compare_deb
    if family in ("Red Hat", "Rocky Linux", "AlmaLinux"):
        return compare_rpm
    if family == "PyPI":
        return compare_pypi
    return None


def _is_zero(kind: str, version: str) -> bool:
    return kind == "introduced" and version == "0"


def match(
    version: str, ranges: list[dict[str, object]], versions: list[str], cmp: Compare
) -> tuple[bool, str | None]:
    """(affected, the version that fixes it) for one installed `version`. `ranges` are AffectedRange
    dicts; only ECOSYSTEM and SEMVER ranges are evaluated (GIT ranges name commits, not versions).
    Raises ValueError for a version the order cannot read."""
    if version in versions:
        return True, None
    for r in ranges:
        if r.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = [(str(e["kind"]), str(e["version"])) for e in r.get("events", ())]  # type: ignore[attr-defined]

        def order(x: tuple[str, str], y: tuple[str, str]) -> int:
            if _is_zero(*x) or _is_zero(*y):
                return (not _is_zero(*x)) - (not _is_zero(*y))
            return cmp(x[1], y[1])

        affected, fixed = False, None
        for kind, ev in sorted(events, key=cmp_to_key(order)):
            if kind == "introduced" and (ev == "0" or cmp(version, ev) >= 0):
                affected, fixed = True, None
            elif kind == "fixed" and cmp(version, ev) >= 0:
                affected = False
            elif kind == "fixed" and affected and fixed is None:
                fixed = ev
            elif kind == "last_affected" and cmp(version, ev) > 0:
                affected = False
        if affected:
            return True, fixed
    return False, None
