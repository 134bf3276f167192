"""PermissionScanner (I/O): every `interval` seconds, the owner, mode and SHA-256 of the sensitive files,
and the setuid/setgid and world-writable files under the system directories, as one snapshot.

Paths are relative to `root` (/ on a host; a temporary directory in tests) and reported as on the host.
Walks stay on the root's file system and never follow symlinks; a file that vanishes mid-scan is skipped.

Live: with `live` (the default) the directories holding sensitive files are watched with inotify; a
change there makes the next poll rescan the sensitive files at once (the system directories' walk, the
expensive part, keeps its interval and its last result meanwhile).
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import logging
import os
import pwd
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import inotify_simple  # type: ignore[import-untyped]  # no py.typed: a ctypes wrapper

from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.permissions import RAW_PERMISSIONS, FileRole, FileState, PermissionScanObserved

log = logging.getLogger(__name__)
SOURCE = "permissions"

# Sensitive files and directories whose files are all sensitive (one level; `*` in a home directory).
SENSITIVE_FILES = (
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/gshadow",
    "etc/sudoers",
    "etc/ssh/sshd_config",
    "etc/crontab",
    "root/.ssh/authorized_keys",
)
SENSITIVE_DIRS = (
    "etc/sudoers.d",
    "etc/ssh/sshd_config.d",
    "etc/cron.d",
    "etc/cron.hourly",
    "etc/cron.daily",
    "etc/cron.weekly",
    "etc/cron.monthly",
    "var/spool/cron/crontabs",
    "etc/systemd/system",
)
# Where a new setuid/setgid or world-writable file is a finding.
SYSTEM_DIRS = (
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "usr/local/bin",
    "usr/local/sbin",
    "usr/lib",
    "usr/libexec",
    "etc",
)
MAX_HASH_BYTES = 16 * 2**20


def _name(fn: Callable[[int], Any], ident: int) -> str | None:
    try:
        return str(fn(ident)[0])
    except KeyError:
        return None


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            left = MAX_HASH_BYTES
            while left > 0 and (block := f.read(min(1 << 20, left))):
                h.update(block)
                left -= len(block)
    except OSError:
        return None
    return h.hexdigest()


class PermissionScanner:
    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        root: Path = Path("/"),
        interval: float = 900.0,
        system_dirs: tuple[str, ...] = SYSTEM_DIRS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        live: bool = True,
    ) -> None:
        self.host = host
        self.topic = RAW_PERMISSIONS
        self.name = f"permissions:{root}"
        self.root = root
        self.interval = interval
        self.system_dirs = system_dirs
        self._clock = clock
        self._digest: str | None = (cursor or {}).get("digest")
        self._due = 0.0
        self._system: list[FileState] = []
        self._ino: Any = None
        if live:
            self._watch()

    def _watch(self) -> None:
        """inotify on every directory that holds sensitive files (those that exist now)."""
        dirs = {(self.root / rel).parent for rel in SENSITIVE_FILES} | {
            self.root / rel for rel in SENSITIVE_DIRS
        }
        home = self.root / "home"
        if home.is_dir():
            dirs |= {u / ".ssh" for u in home.iterdir()}
        try:
            self._ino = inotify_simple.INotify(nonblocking=True)
        except OSError as exc:
            log.info("no inotify for the sensitive files (%s): scanning every %ss only", exc, self.interval)
            return
        f = inotify_simple.flags
        mask = f.ATTRIB | f.MODIFY | f.CLOSE_WRITE | f.CREATE | f.DELETE | f.MOVED_FROM | f.MOVED_TO
        for d in sorted(dirs):
            if d.is_dir():
                with contextlib.suppress(OSError):
                    self._ino.add_watch(str(d), mask)

    def _changed_live(self) -> bool:
        if self._ino is None:
            return False
        try:
            return bool(self._ino.read(timeout=0))
        except OSError:
            return False

    def _state(self, path: Path, role: FileRole, st: os.stat_result) -> FileState:
        return FileState(
            path="/" + str(path.relative_to(self.root)),
            role=role,
            uid=st.st_uid,
            gid=st.st_gid,
            owner=_name(pwd.getpwuid, st.st_uid),
            group=_name(grp.getgrgid, st.st_gid),
            mode=stat.S_IMODE(st.st_mode),
            size=st.st_size,
            sha256=_sha256(path) if role == "sensitive" else None,
        )

    def _sensitive(self) -> Iterator[Path]:
        for rel in SENSITIVE_FILES:
            yield self.root / rel
        home = self.root / "home"
        if home.is_dir():
            for user in sorted(home.iterdir()):
                yield user / ".ssh" / "authorized_keys"
        for rel in SENSITIVE_DIRS:
            d = self.root / rel
            if d.is_dir() and not d.is_symlink():
                yield from sorted(p for p in d.iterdir())

    def _walk(self, top: Path) -> Iterator[tuple[Path, os.stat_result]]:
        try:
            dev = top.lstat().st_dev
        except OSError:
            return
        for dirpath, dirnames, filenames in os.walk(top, onerror=lambda e: None):
            d = Path(dirpath)
            dirnames[:] = [n for n in dirnames if _same_dev(d / n, dev)]
            for n in filenames:
                try:
                    st = (d / n).lstat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield d / n, st

    def scan(self, *, system: bool = True) -> list[FileState]:
        """Sensitive files and (with `system`, else the last walk's result) the system directories."""
        files: dict[str, FileState] = {}
        for path in self._sensitive():
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                fs = self._state(path, "sensitive", st)
                files[fs.path] = fs
        if not system:
            for fs in self._system:
                files.setdefault(fs.path, fs)
            return [files[k] for k in sorted(files)]
        walked: list[FileState] = []
        for rel in self.system_dirs:
            for path, st in self._walk(self.root / rel):
                mode = stat.S_IMODE(st.st_mode)
                role: FileRole | None = None
                if mode & (stat.S_ISUID | stat.S_ISGID):
                    role = "setuid"
                elif mode & stat.S_IWOTH:
                    role = "world-writable"
                if role is not None:
                    fs = self._state(path, role, st)
                    walked.append(fs)
                    files.setdefault(fs.path, fs)  # a sensitive file keeps that role
        self._system = walked
        return [files[k] for k in sorted(files)]

    def poll(self, max_lines: int) -> Poll:
        live = self._changed_live()
        if time.monotonic() >= self._due:
            self._due = time.monotonic() + self.interval
            files = self.scan()
        elif live:
            files = self.scan(system=False)
        else:
            return Poll()
        h = hashlib.blake2b(digest_size=16)
        for f in files:
            h.update(f.model_dump_json().encode())
        digest = h.hexdigest()
        if digest == self._digest:
            return Poll()
        self._digest = digest
        now = self._clock()
        obs = PermissionScanObserved(ts=now, files=tuple(files), digest=digest)
        env = Envelope(
            id=event_id("raw", self.host, SOURCE, digest, now.isoformat()),
            type=obs.TYPE,
            schema_version=obs.VERSION,
            host=self.host,
            source=SOURCE,
            ts=now,
            observed_at=now,
            subject="scan",
            payload=obs.model_dump(mode="json"),
        )
        return Poll(observations=[env], cursor={"digest": digest}, lines=1)

    def scan_now(self) -> None:
        self._due = 0.0

    def close(self) -> None:
        if self._ino is not None:
            self._ino.close()
            self._ino = None


def _same_dev(path: Path, dev: int) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_dev == dev
