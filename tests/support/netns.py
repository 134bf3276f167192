"""A throw-away network namespace for netlink tests: created, populated by `ip`, ALWAYS deleted."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class NetNS:
    name: str
    _fds: list[int] = field(default_factory=list)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`ip -n NAME ...`"""
        return self.run("ip", "-n", self.name, *args, check=check, netns_exec=False)

    def run(
        self,
        *argv: str,
        check: bool = True,
        netns_exec: bool = True,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["ip", "netns", "exec", self.name, *argv] if netns_exec else list(argv)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False, input=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def batch(self, lines: list[str]) -> None:
        """Many `ip` commands in one process: a burst the kernel reports faster than one by one."""
        self.run("ip", "-n", self.name, "-batch", "-", netns_exec=False, stdin="\n".join(lines) + "\n")

    def veth(self, a: str, b: str, *, up: bool = True) -> None:
        self.ip("link", "add", a, "type", "veth", "peer", "name", b)
        if up:
            self.ip("link", "set", a, "up")
            self.ip("link", "set", b, "up")

    def bridge(self, name: str, *ports: str) -> None:
        self.ip("link", "add", name, "type", "bridge")
        for port in ports:
            self.ip("link", "set", port, "master", name)
        self.ip("link", "set", name, "up")

    def hold_tun(self, name: str) -> None:
        """Create tun device `name` and hold it open, as OpenVPN does: it then has a carrier."""
        from pyroute2 import netns as pnetns

        self.ip("tuntap", "add", "dev", name, "mode", "tun")
        pnetns.pushns(self.name)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR)
            tunsetiff, iff_tun, iff_no_pi = 0x400454CA, 0x0001, 0x1000
            fcntl.ioctl(fd, tunsetiff, struct.pack("16sH", name.encode(), iff_tun | iff_no_pi))
        finally:
            pnetns.popns()
        self._fds.append(fd)

    def release_tuns(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


@contextlib.contextmanager
def netns() -> Iterator[NetNS]:
    """`ip netns add wm-test-<random>`; deleted on exit even when the test fails (deleting the
    namespace removes every veth, bridge and tun inside it)."""
    ns = NetNS(f"wm-test-{secrets.token_hex(4)}")
    subprocess.run(["ip", "netns", "add", ns.name], check=True, timeout=30)
    try:
        ns.ip("link", "set", "lo", "up")
        yield ns
    finally:
        ns.release_tuns()
        subprocess.run(["ip", "netns", "del", ns.name], check=False, timeout=30)
