"""ListeningScanner (I/O): every `interval` seconds, the listening sockets of one network namespace (the
one of `pid`, default this process's), each with its process, systemd unit, container and package.

Sockets come from /proc/PID/net/{tcp,tcp6,udp,udp6} (what `ss -tuln` reads); their owners from the
socket inodes of /proc/*/fd (needs root for other users' processes: without it the owner is unknown);
the package from dpkg's file lists (/var/lib/dpkg/info/*.list), as `dpkg -S` answers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producers.exposure.procnet import listening, owner
from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.exposure import RAW_EXPOSURE, Listener, ListeningSocketsObserved

log = logging.getLogger(__name__)
SOURCE = "exposure"
TABLES = (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp"))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


class ListeningScanner:
    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        pid: int | str = "self",
        netns: str | None = None,
        proc: Path = Path("/proc"),
        dpkg_info: Path = Path("/var/lib/dpkg/info"),
        interval: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.host, self.pid, self.netns = host, pid, netns
        self.topic = RAW_EXPOSURE
        self.name = f"exposure:{netns or 'host'}"
        self.proc, self.dpkg_info = proc, dpkg_info
        self.interval = interval
        self._clock = clock
        self._digest: str | None = (cursor or {}).get("digest")
        self._due = 0.0
        self._files: dict[str, str] = {}
        self._files_mtime = -1.0

    def _packages(self) -> dict[str, str]:
        try:
            mtime = self.dpkg_info.stat().st_mtime
        except OSError:
            return {}
        if mtime != self._files_mtime:
            files: dict[str, str] = {}
            for lst in self.dpkg_info.glob("*.list"):
                pkg = lst.name[: -len(".list")].split(":")[0]
                for line in (_read(lst) or "").splitlines():
                    files.setdefault(line, pkg)
            self._files, self._files_mtime = files, mtime
        return self._files

    def _package_of(self, exe: str | None) -> str | None:
        if not exe:
            return None
        files = self._packages()
        for cand in (exe, exe.removeprefix("/usr") if exe.startswith("/usr/") else "/usr" + exe):
            if cand in files:
                return files[cand]
        return None

    def _inodes(self, wanted: set[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for d in self.proc.iterdir():
            if not d.name.isdigit():
                continue
            try:
                fds = list((d / "fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link.startswith("socket:["):
                    ino = int(link[8:-1])
                    if ino in wanted:
                        found.setdefault(ino, int(d.name))
        return found

    def scan(self) -> list[Listener]:
        rows: list[tuple[str, str, int, int]] = []
        for table, protocol in TABLES:
            text = _read(self.proc / str(self.pid) / "net" / table)
            if text:
                rows += [(protocol, a, p, ino) for a, p, ino in listening(text, protocol)]
        pids = self._inodes({ino for *_, ino in rows})
        out: dict[tuple[str, str, int], Listener] = {}
        for protocol, address, port, ino in rows:
            pid = pids.get(ino)
            process = exe = unit = container = None
            if pid is not None:
                base = self.proc / str(pid)
                process = (_read(base / "comm") or "").strip() or None
                try:
                    exe = os.readlink(base / "exe")
                except OSError:
                    exe = None
                unit, container = owner(_read(base / "cgroup") or "")
            out.setdefault(
                (protocol, address, port),
                Listener(
                    protocol=protocol,
                    address=address,
                    port=port,
                    pid=pid,
                    process=process,
                    exe=exe,
                    unit=unit,
                    container=container,
                    package=self._package_of(exe),
                ),
            )
        return [out[k] for k in sorted(out)]

    def poll(self, max_lines: int) -> Poll:
        if time.monotonic() < self._due:
            return Poll()
        self._due = time.monotonic() + self.interval
        sockets = self.scan()
        h = hashlib.blake2b(digest_size=16)
        for s in sockets:
            h.update(s.model_dump_json().encode())
        digest = h.hexdigest()
        if digest == self._digest:
            return Poll()
        self._digest = digest
        now = self._clock()
        obs = ListeningSocketsObserved(ts=now, netns=self.netns, sockets=tuple(sockets), digest=digest)
        env = Envelope(
            id=event_id("raw", self.host, SOURCE, self.netns, digest, now.isoformat()),
            type=obs.TYPE,
            schema_version=obs.VERSION,
            host=self.host,
            source=SOURCE,
            ts=now,
            observed_at=now,
            subject=f"sockets:{self.netns or ''}",
            payload=obs.model_dump(mode="json"),
        )
        return Poll(observations=[env], cursor={"digest": digest}, lines=1)

    def scan_now(self) -> None:
        self._due = 0.0

    def close(self) -> None:
        pass
