"""Splitting rpm package strings (`name-[epoch:]version-release.arch` and its variants) into their parts."""

from __future__ import annotations

import re
from dataclasses import dataclass

# rpm's own arch names plus the x86-64 micro-architecture levels; an unknown suffix is not taken as an arch,
# because dots are legal in releases (`1.fc39`) and names would otherwise lose their last component.
_ARCHES = frozenset(
    {
        "noarch", "src", "nosrc",
        "x86_64", "x86_64_v2", "x86_64_v3", "x86_64_v4", "amd64", "ia32e",
        "i386", "i486", "i586", "i686", "athlon", "geode", "pentium3", "pentium4",
        "aarch64", "arm64", "armv5tel", "armv6l", "armv6hl", "armv7l", "armv7hl", "armv7hnl", "armv8l",
        "ppc", "ppc64", "ppc64le", "ppc64p7", "ppc64pseries", "ppc64iseries",
        "s390", "s390x", "riscv64", "loongarch64", "ia64",
        "sparc", "sparcv9", "sparc64", "alpha", "mips", "mipsel", "mips64", "mips64el",
    }
)  # fmt: skip

_EPOCH = re.compile(r"\d+")
_LEADING_EPOCH = re.compile(r"(\d+):")
# One search instead of a Python loop over characters; `\s` matches exactly what str.isspace() accepts.
_SPACE = re.compile(r"\s")
_NOT_IN_PART = re.compile(r"[\s:-]")


@dataclass(frozen=True, slots=True)
class Nevra:
    name: str
    epoch: str | None
    version: str
    release: str
    arch: str | None

    @property
    def vr(self) -> str:
        """`version-release`, the form our events carry for rpm (the epoch travels apart)."""
        return f"{self.version}-{self.release}"

    @property
    def evr(self) -> str:
        """`[epoch:]version-release`, the form rpm compares."""
        return f"{self.epoch}:{self.vr}" if self.epoch else self.vr


@dataclass(frozen=True, slots=True)
class Evr:
    epoch: str | None
    version: str
    release: str

    @property
    def vr(self) -> str:
        return f"{self.version}-{self.release}"

    @property
    def evr(self) -> str:
        return f"{self.epoch}:{self.vr}" if self.epoch else self.vr


def is_arch(text: str) -> bool:
    return text in _ARCHES


def _norm_epoch(epoch: str | None) -> str | None:
    # rpm treats a missing epoch as 0; dnf prints it only when non-zero, dnf5 always: make them agree.
    if epoch is None:
        return None
    stripped = epoch.lstrip("0")
    return stripped or None


def _valid_part(text: str) -> bool:
    return bool(text) and _NOT_IN_PART.search(text) is None


def parse_evr(text: str) -> Evr | None:
    """`[epoch:]version-release` (as dnf prints it in tables), or None if it is not one."""
    epoch: str | None = None
    rest = text
    if ":" in rest:
        head, rest = rest.split(":", 1)
        if not _EPOCH.fullmatch(head):
            return None
        epoch = head
    version, sep, release = rest.rpartition("-")
    if not sep or not _valid_part(version) or not _valid_part(release):
        return None
    return Evr(_norm_epoch(epoch), version, release)


def parse_nevra(text: str) -> Nevra | None:
    """Split an rpm package string; None if it is not one.

    Accepts `name-version-release.arch`, `name-epoch:version-release.arch` (dnf, dnf5) and the older
    `epoch:name-version-release.arch` (yum, rpm -q --qf). Names may contain dashes and dots; the arch is
    recognised only from the known list, so `foo-1.0-1.el9` (no arch) parses with arch None.
    """
    if not text or _SPACE.search(text) is not None:
        return None
    body = text
    arch: str | None = None
    head, dot, tail = body.rpartition(".")
    if dot and tail in _ARCHES:
        body, arch = head, tail

    leading_epoch: str | None = None
    m = _LEADING_EPOCH.match(body)
    if m is not None and body.count(":") == 1:
        leading_epoch = m.group(1)
        body = body[m.end() :]

    parts = body.rsplit("-", 2)
    if len(parts) != 3:
        return None
    name, version, release = parts
    epoch: str | None = None
    if ":" in version:
        head_epoch, version = version.split(":", 1)
        if not _EPOCH.fullmatch(head_epoch):
            return None
        epoch = head_epoch
    if epoch is not None and leading_epoch is not None:
        return None
    epoch = epoch if epoch is not None else leading_epoch
    if not name or ":" in name or not _valid_part(version) or not _valid_part(release):
        return None
    return Nevra(name, _norm_epoch(epoch), version, release, arch)


def split_name_arch(text: str) -> tuple[str, str | None]:
    """`name.arch` as dnf prints it in depsolve messages; the arch only when it is a known one."""
    head, dot, tail = text.rpartition(".")
    if dot and head and tail in _ARCHES:
        return head, tail
    return text, None
