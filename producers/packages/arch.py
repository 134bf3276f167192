"""The host's native architecture as each package manager names it (I/O: asks dpkg or rpm once)."""

from __future__ import annotations

import functools
import logging
import platform
import shutil
import subprocess

log = logging.getLogger(__name__)

# uname -m -> Debian's architecture names, for hosts whose dpkg cannot be asked (a deb log read
# on a machine without dpkg). rpm uses the kernel's names (x86_64, aarch64) unchanged.
_DEB_FROM_MACHINE = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "armhf",
    "armv6l": "armel",
    "i686": "i386",
    "i586": "i386",
    "i386": "i386",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64el",
    "loongarch64": "loong64",
}
_ASK = {
    "deb": ("dpkg", "--print-architecture"),
    "rpm": ("rpm", "--eval", "%{_arch}"),
}


@functools.cache
def native_arch(ecosystem: str) -> str | None:
    """The architecture whose packages this host runs natively, or None where the ecosystem has no
    such notion (brew). Asks the package manager (its answer is authoritative: an i386 userland on an
    x86_64 kernel says i386); without one, derives it from the machine."""
    ask = _ASK.get(ecosystem)
    if ask is None:
        return None
    if shutil.which(ask[0]):
        try:
            out = subprocess.run(ask, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("%s did not tell the native architecture (%s); using the machine's", ask[0], exc)
        else:
            if out and " " not in out:
                return out
    machine = platform.machine()
    if ecosystem == "deb":
        return _DEB_FROM_MACHINE.get(machine, machine.lower() or None)
    return machine or None
