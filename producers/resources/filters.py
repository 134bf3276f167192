"""Which of the host's filesystems, disks and interfaces become series (pure: names and types in, names out).

Pseudo filesystems, loop/RAM devices, partitions of a listed disk and virtual interfaces would multiply
the series (and the graph's points) without answering "is my disk full" or "is the network busy".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PSEUDO_FS = frozenset(
    {
        "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs",
        "securityfs", "pstore", "bpf", "autofs", "fusectl", "configfs", "binfmt_misc", "hugetlbfs", "ramfs",
        "rpc_pipefs", "efivarfs", "nsfs", "overlay", "squashfs", "fuse.lxcfs", "fuse.gvfsd-fuse", "nfsd",
    }
)  # fmt: skip
VIRTUAL_DISK = re.compile(r"^(loop|ram|zram|sr|fd|dm-|md)\d*")
VIRTUAL_NIC = re.compile(r"^(lo$|veth|docker|br-|virbr|ifb|tun|tap|cni|flannel|cali|vxlan)")


def is_real_filesystem(fstype: str) -> bool:
    return fstype not in PSEUDO_FS and not fstype.startswith("fuse.")


def whole_disks(names: Iterable[str]) -> list[str]:
    """Physical disks only: no loop/RAM devices, and no partition of a disk that is listed itself
    (sda1 of sda, nvme0n1p2 of nvme0n1)."""
    real = sorted(n for n in names if not VIRTUAL_DISK.match(n))
    out = []
    for n in real:
        parent = re.sub(r"p?\d+$", "", n)
        if parent != n and parent in real:
            continue
        out.append(n)
    return out


def real_interfaces(names: Iterable[str]) -> list[str]:
    return sorted(n for n in names if not VIRTUAL_NIC.match(n))
