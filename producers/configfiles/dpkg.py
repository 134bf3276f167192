"""dpkg's record of which package ships which file, and each conffile's default checksum (pure parsers).

`/var/lib/dpkg/status` lists, per installed package, its conffiles with the MD5 of the version the
package installed (` /etc/nginx/nginx.conf 3b1a... ` and an optional `obsolete`/`remove-on-upgrade`
flag); `/var/lib/dpkg/info/<pkg>[:arch].list` lists every path a package installed. This is what
debsums -e and `dpkg --verify` compare against.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conffile:
    path: str
    package: str
    md5: str
    obsolete: bool = False


def parse_status_conffiles(text: str) -> list[Conffile]:
    """Every conffile of every installed package in a dpkg status file."""
    out: list[Conffile] = []
    for stanza in text.split("\n\n"):
        package = ""
        installed = False
        conffiles: list[str] = []
        in_conffiles = False
        for line in stanza.splitlines():
            if line.startswith((" ", "\t")):
                if in_conffiles:
                    conffiles.append(line.strip())
                continue
            in_conffiles = False
            name, _, value = line.partition(":")
            if name == "Package":
                package = value.strip()
            elif name == "Status":
                installed = value.split()[-1:] in (["installed"], ["half-configured"], ["unpacked"])
            elif name == "Conffiles":
                in_conffiles = True
        if not package or not installed:
            continue
        for entry in conffiles:
            parts = entry.split()
            if len(parts) < 2 or not parts[0].startswith("/"):
                continue
            flags = parts[2:]
            out.append(Conffile(parts[0], package, parts[1], obsolete="obsolete" in flags))
    return out


def package_of_list(filename: str) -> str:
    """`nginx-common.list` -> nginx-common; `libc6:amd64.list` -> libc6 (the arch is dropped: one key)."""
    stem = filename[: -len(".list")] if filename.endswith(".list") else filename
    return stem.split(":", 1)[0]


def parse_list(text: str, wanted_prefixes: tuple[str, ...]) -> list[str]:
    """The paths of a package's .list file that lie under one of `wanted_prefixes`."""
    return [
        line
        for line in text.splitlines()
        if line.startswith("/")
        and any(line == p or line.startswith(p.rstrip("/") + "/") for p in wanted_prefixes)
    ]
