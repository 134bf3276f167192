"""/proc/net/{tcp,tcp6,udp,udp6} and /proc/PID/cgroup (pure): listening sockets and who owns them."""

from __future__ import annotations

import ipaddress
import re

TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"
_DOCKER = re.compile(r"(?:docker-|/docker/|libpod-|/libpod/)([0-9a-f]{64})")
_UNIT = re.compile(r"/([^/]+\.(?:service|socket|scope))$")


def _address(hexaddr: str) -> str:
    """The kernel prints addresses as host-order 32-bit words in hex."""
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    return str(ipaddress.IPv6Address(b"".join(words)))


def listening(text: str, protocol: str) -> list[tuple[str, int, int]]:
    """(address, port, socket inode) of each listening TCP / unconnected UDP socket of one table."""
    want = TCP_LISTEN if protocol == "tcp" else UDP_UNCONNECTED
    out: list[tuple[str, int, int]] = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or f[3] != want:
            continue
        local, _, port = f[1].partition(":")
        try:
            address, number, inode = _address(local), int(port, 16), int(f[9])
        except ValueError:
            continue
        if 0 <= number <= 0xFFFF and inode >= 0:
            out.append((address, number, inode))
    return out


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def owner(cgroup: str) -> tuple[str | None, str | None]:
    """(systemd unit, container id) of a /proc/PID/cgroup text."""
    unit = container = None
    for line in cgroup.splitlines():
        path = line.split(":", 2)[-1]
        m = _DOCKER.search(path)
        if m:
            container = m.group(1)
        u = _UNIT.search(path)
        if u and not u.group(1).startswith(("docker-", "libpod-")):
            unit = u.group(1)
    return unit, container
