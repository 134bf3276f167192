"""The installed packages with their source packages (pure): dpkg's status file, `rpm -qa` output and
/etc/os-release, to InstalledPackage rows and the host's release as an OSV ecosystem.

Advisories of the distributions name source packages (Debian's `glibc`, not `libc6`); the packages
domain keeps binary packages only, so the source of each binary is read here, where matching needs it.
"""

from __future__ import annotations

import hashlib
import re

from schemas.events.vulnerabilities import InstalledPackage

NEUTRAL_ARCHES = frozenset({"all", "noarch", "any"})
# `rpm -qa --qf` format whose lines rpm_query reads (tab-separated; (none) for a missing epoch).
RPM_QUERYFORMAT = r"%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n"
_SRPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?:no)?src\.rpm$")


def software_key(host: str, ecosystem: str, name: str, arch: str | None, native_arch: str | None) -> str:
    """The Software node key the packages domain writes: host/ecosystem/name, `:arch` only when foreign."""
    foreign = arch and (native_arch is None or (arch != native_arch and arch not in NEUTRAL_ARCHES))
    return f"{host}/{ecosystem}/{name}" + (f":{arch}" if foreign else "")


def _stanzas(text: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    field = None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
            cur, field = {}, None
        elif line[0] in " \t":
            continue  # a continuation line (Description, Conffiles): nothing matching needs
        elif ":" in line:
            field, _, value = line.partition(":")
            cur[field.strip().lower()] = value.strip()
    if cur:
        out.append(cur)
    return out


def dpkg_status(text: str, host: str, native_arch: str | None) -> list[InstalledPackage]:
    """Installed packages of /var/lib/dpkg/status. `Source: glibc` or `Source: glibc (2.36-9+deb12u3)`
    when the binary's version differs from its source's; no Source field: the source is the binary."""
    out: list[InstalledPackage] = []
    for st in _stanzas(text):
        name, version = st.get("package"), st.get("version")
        if not name or not version or not st.get("status", "").endswith(" installed"):
            continue
        source, source_version = name, version
        if st.get("source"):
            src = st["source"]
            if "(" in src and src.endswith(")"):
                source, _, rest = src.partition("(")
                source, source_version = source.strip(), rest[:-1].strip()
            else:
                source = src.strip()
        arch = st.get("architecture") or None
        out.append(
            InstalledPackage(
                key=software_key(host, "deb", name, arch, native_arch),
                name=name,
                ecosystem="deb",
                version=version,
                source=source,
                source_version=source_version,
                arch=arch,
            )
        )
    return sorted(out, key=lambda p: p.key)


def rpm_query(text: str, host: str, native_arch: str | None) -> list[InstalledPackage]:
    """Lines of `rpm -qa --qf RPM_QUERYFORMAT`: the source RPM's name and version-release (the binary's
    epoch applies: a source RPM file name carries none)."""
    out: list[InstalledPackage] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 6 or parts[0] == "gpg-pubkey":
            continue
        name, epoch, version, release, arch, srpm = parts
        evr = (f"{epoch}:" if epoch not in ("", "(none)", "0") else "") + f"{version}-{release}"
        m = _SRPM.match(srpm)
        source, source_version = (name, evr)
        if m:
            source = m["name"]
            source_version = (
                f"{epoch}:" if epoch not in ("", "(none)", "0") else ""
            ) + f"{m['version']}-{m['release']}"
        out.append(
            InstalledPackage(
                key=software_key(host, "rpm", name, arch, native_arch),
                name=name,
                ecosystem="rpm",
                version=evr,
                source=source,
                source_version=source_version,
                arch=arch or None,
            )
        )
    return sorted(out, key=lambda p: p.key)


def os_release(text: str) -> str | None:
    """The host's release as OSV names its ecosystem: Debian:12, Ubuntu:22.04, Rocky Linux:9,
    AlmaLinux:9, Red Hat:9 (OSV writes Red Hat:enterprise_linux:9::..., matched by major), Alpine:v3.18."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            fields[k.strip()] = v.strip().strip("\"'")
    ident, ver = fields.get("ID", ""), fields.get("VERSION_ID", "")
    if not ident or not ver:
        return None
    major = ver.split(".")[0]
    if ident == "debian":
        return f"Debian:{major}"
    if ident == "ubuntu":
        return f"Ubuntu:{ver}"
    if ident == "rocky":
        return f"Rocky Linux:{major}"
    if ident == "almalinux":
        return f"AlmaLinux:{major}"
    if ident == "rhel":
        return f"Red Hat:{major}"
    if ident == "alpine":
        return "Alpine:v" + ".".join(ver.split(".")[:2])
    return None


def digest(release: str | None, packages: list[InstalledPackage]) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update((release or "").encode())
    for p in packages:
        h.update(f"\x1e{p.key}\x1f{p.version}\x1f{p.source}\x1f{p.source_version}".encode())
    return h.hexdigest()
