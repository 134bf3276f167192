"""ConfigSource (I/O): track config files live (inotify via watchdog) and by periodic rescans.

Each poll hashes the files inotify said changed (or, when a rescan is due, every file under the tracked
paths: inotify misses changes made while we were down, on network filesystems, or past its queue), diffs
them against the snapshot in the saved cursor, commits the new versions to the versions repository, runs
the checkers over the changed files, compares them with their desired state and, on rescans, compares
package conffiles with dpkg's checksums. A file whose size, mtime, ctime and inode did not move is not
re-read. Symbolic links are not followed (a link into /usr would track what is not configuration).

Paths are the host's (`/etc/nginx/nginx.conf`); `root` maps them to where they are read (tests use a
temporary root with its own dpkg database).
"""

from __future__ import annotations

import grp
import hashlib
import logging
import os
import pwd
import queue
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from producers.configfiles import checkers, classify, dpkg, rpm
from producers.configfiles.checkers import AppSpec
from producers.configfiles.desired import DesiredState, host_facts
from producers.configfiles.versions import (
    Stored,
    VersionsRepo,
    encrypted_path,
    is_placeholder,
    placeholder,
)
from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.configfiles import (
    RAW_CONFIGFILES,
    ConffileObserved,
    ConfigDriftObserved,
    ConfigFileObserved,
    ConfigValidationObserved,
    SeenVia,
)

log = logging.getLogger(__name__)

SOURCE = "configfiles"
# A change within this much of its package's info/NAME.list being written was made by dpkg.
PACKAGE_WINDOW_NS = 120 * 10**9
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ConfigTracking:
    """What to track and how (built from settings by watchman/domains/configfiles.py)."""

    paths: tuple[str, ...] = ("/etc",)
    exclude: tuple[str, ...] = ()
    root: Path = Path("/")
    versions_dir: Path = Path("config-versions")
    rescan_interval: float = 300.0
    inotify: bool = True
    max_file_bytes: int = 1 << 20
    secret_paths: tuple[str, ...] = ()
    # age recipients (age1...): secret files' versions are kept encrypted to them (else by hash only).
    secret_recipients: tuple[str, ...] = ()
    apps: tuple[AppSpec, ...] = ()
    validate: bool = True
    dpkg_status: str = "/var/lib/dpkg/status"
    dpkg_info: str = "/var/lib/dpkg/info"
    # RPM databases (host paths under root); the first that exists is read with `rpm -qa --dbpath`.
    rpmdb: tuple[str, ...] = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
    desired_dir: Path | None = None
    templates_dir: Path | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileState:
    sha256: str
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    owner: str
    group: str
    mode: str
    secret: bool

    def meta(self) -> tuple[str, str, str]:
        return self.owner, self.group, self.mode


def _name(fn: Callable[[int], Any], ident: int) -> str:
    try:
        return str(fn(ident)[0])
    except KeyError:
        return str(ident)


class _Watcher:
    """watchdog's inotify observer, collecting the paths that changed for the next poll."""

    def __init__(self, dirs: Sequence[Path]) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        self.dirty: set[str] = set()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                with watcher.lock:
                    for p in (event.src_path, getattr(event, "dest_path", "")):
                        if p:
                            watcher.dirty.add(os.fsdecode(p))
                watcher.wake.set()

        self.observer = Observer()
        for d in dirs:
            self.observer.schedule(Handler(), str(d), recursive=True)
        self.observer.daemon = True
        self.observer.start()

    def take(self) -> set[str]:
        with self.lock:
            out, self.dirty = self.dirty, set()
        self.wake.clear()
        return out

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)


class ConfigSource:
    """Config files under the tracked paths: ConfigFileObserved, ConfigValidationObserved,
    ConfigDriftObserved and ConffileObserved on watchman.raw.configfiles."""

    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None,
        tracking: ConfigTracking,
        *,
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.topic = RAW_CONFIGFILES
        self.name = "configfiles"
        self.t = tracking
        self._clock = clock
        c = cursor or {}
        self._files: dict[str, FileState] = {p: FileState(**v) for p, v in c.get("files", {}).items()}
        self._seq = int(c.get("seq", 0))
        self._valid: dict[str, list[Any]] = dict(c.get("valid", {}))
        self._drift: dict[str, list[Any]] = dict(c.get("drift", {}))
        self._conffiles: dict[str, bool] = dict(c.get("conffiles", {}))
        self._started = bool(c.get("files"))
        self._next_scan: datetime | None = None
        self.repo = VersionsRepo(tracking.versions_dir)
        self.desired = DesiredState(
            self.repo,
            directory=tracking.desired_dir,
            templates=tracking.templates_dir,
            facts=host_facts(tracking.root, tracking.facts),
        )
        self._said: set[str] = set()  # warnings given once per process
        self._watcher: _Watcher | None = None
        self._watch_tried = False
        # Observations made outside poll (an executor's on-demand validation), sent with the next poll.
        self._pending: queue.SimpleQueue[tuple[EventPayload, str]] = queue.SimpleQueue()
        # path -> (sha256, cause): the next change of path to that content was made by us (a rollback).
        self._causes: dict[str, tuple[str, str]] = {}
        self._packages: dict[str, str] | None = None
        self._list_of: dict[str, Path] = {}
        self._rpm: list[rpm.RpmFile] | None = None
        self._rpm_stamp: tuple[str, float] | None = None
        self._rpm_owner: dict[str, str] = {}
        self._exclude = tuple(os.path.expanduser(p) for p in tracking.exclude)
        self._packages_mtime = 0.0
        self.io_lock = threading.RLock()

    # --- paths ---------------------------------------------------------------------------------------

    def real(self, path: str) -> Path:
        """Where a host path is read and written."""
        return self.t.root / path.lstrip("/")

    def host_path(self, real: Path | str) -> str:
        """The host path of a real one (ValueError when it lies outside the root)."""
        r = str(Path(real).relative_to(self.t.root))
        return "/" if r == "." else "/" + r

    def roots(self) -> list[str]:
        return [os.path.expanduser(p) for p in self.t.paths]

    def tracked(self, path: str) -> bool:
        return any(
            path == r or path.startswith(r.rstrip("/") + "/") for r in self.roots()
        ) and not classify.excluded(path, self._exclude)

    def app(self, path: str) -> AppSpec | None:
        return next((a for a in self.t.apps if a.owns(path)), None)

    def app_name(self, path: str) -> str | None:
        spec = self.app(path)
        return spec.name if spec else classify.app_of(path, self.roots())

    def checker(self, path: str) -> checkers.Checker | None:
        return checkers.checker_for(path, self.t.apps)

    # --- the poll ------------------------------------------------------------------------------------

    def scan_now(self) -> None:
        self._next_scan = None

    def wait(self, timeout: float) -> bool:
        """Block until inotify reports a change or `timeout` passes (tests; a runner could select)."""
        return self._watcher.wake.wait(timeout) if self._watcher else False

    def _start_watch(self) -> None:
        if self._watch_tried or not self.t.inotify:
            return
        self._watch_tried = True
        dirs = [self.real(r) for r in self.roots() if self.real(r).is_dir()]
        if not dirs:
            return
        try:
            self._watcher = _Watcher(dirs)
        except OSError as exc:  # ENOSPC: out of inotify watches; the rescans still find every change
            log.warning(
                "configfiles: no inotify watch (%s); relying on rescans every %ss",
                exc,
                self.t.rescan_interval,
            )

    def poll(self, max_lines: int) -> Poll:
        with self.io_lock:
            return self._poll()

    def _poll(self) -> Poll:
        now = self._clock()
        self._start_watch()
        full = self._next_scan is None or now >= self._next_scan
        via: SeenVia = "scan" if self._started else "initial"
        if full:
            self._next_scan = now + timedelta(seconds=self.t.rescan_interval)
            candidates = self._walk() | set(self._files)
            if self._watcher:
                self._watcher.take()
        else:
            dirty = self._watcher.take() if self._watcher else set()
            candidates = set()
            for real in dirty:
                try:
                    p = self.host_path(real)
                except ValueError:
                    continue
                if Path(real).is_dir() and not Path(real).is_symlink():
                    # A directory moved in (or created with files before the watch saw it): walk it.
                    candidates |= set(self._walk([p]))
                else:
                    candidates.add(p)
                # A directory moved away is one event: the files known under it are gone too.
                candidates |= {q for q in self._files if q.startswith(p.rstrip("/") + "/")}
            via = "inotify"
        out: list[tuple[EventPayload, str]] = []
        while True:
            try:
                out.append(self._pending.get_nowait())
            except queue.Empty:
                break
        changed = self._changes(sorted(c for c in candidates if self.tracked(c)), via, now, out)
        if self.t.validate:
            self._validate(changed, now, out)
        self._check_drift(sorted(self.desired.paths() | set(changed)) if full else changed, now, out)
        if full:
            self._check_conffiles(now, out)
        self._started = True
        if not out:
            return Poll(cursor=self.cursor() if changed else None)
        envs = [self._envelope(payload, subject, now) for payload, subject in out]
        return Poll(observations=envs, cursor=self.cursor(), lines=len(envs))

    def cursor(self) -> dict[str, Any]:
        return {
            "files": {p: vars(s) for p, s in sorted(self._files.items())},
            "seq": self._seq,
            "valid": self._valid,
            "drift": self._drift,
            "conffiles": self._conffiles,
        }

    def _envelope(self, payload: EventPayload, subject: str, now: datetime) -> Envelope:
        self._seq += 1
        ts = getattr(payload, "ts", now)
        return Envelope(
            id=event_id("raw", self.host, SOURCE, payload.TYPE, subject, self._seq),
            type=payload.TYPE,
            schema_version=payload.VERSION,
            host=self.host,
            source=SOURCE,
            ts=ts,
            observed_at=now,
            subject=subject,
            payload=payload.model_dump(mode="json"),
        )

    def _walk(self, roots: Sequence[str] | None = None) -> set[str]:
        out: set[str] = set()
        for r in roots if roots is not None else self.roots():
            base = self.real(r)
            if base.is_file() and not base.is_symlink():
                out.add(r)
                continue
            for dirpath, dirs, files in os.walk(base):
                dirs[:] = [
                    d for d in dirs if not classify.excluded(self.host_path(Path(dirpath) / d), self._exclude)
                ]
                for f in files:
                    full = Path(dirpath) / f
                    if full.is_symlink() or not full.is_file():
                        continue
                    out.add(self.host_path(full))
        return out

    # --- files ----------------------------------------------------------------------------------------

    def _stat(self, path: str) -> tuple[os.stat_result, bytes | None] | None:
        real = self.real(path)
        try:
            st = os.lstat(real)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return st, None

    def _read(self, path: str) -> bytes | None:
        try:
            return self.real(path).read_bytes()
        except OSError:
            return None

    def _changes(
        self, paths: list[str], via: SeenVia, now: datetime, out: list[tuple[EventPayload, str]]
    ) -> list[str]:
        """Hash what moved, commit the new versions, and add ConfigFileObserved for each change."""
        found: list[tuple[str, FileState | None, FileState | None, bytes | None]] = []
        for path in paths:
            before = self._files.get(path)
            got = self._stat(path)
            if got is None:
                if before is not None:
                    found.append((path, before, None, None))
                continue
            st = got[0]
            if (
                before is not None
                and before.size == st.st_size
                and before.mtime_ns == st.st_mtime_ns
                and before.ctime_ns == st.st_ctime_ns
                and before.ino == st.st_ino
            ):
                continue
            data = self._read(path)
            if data is None:
                continue
            secret = classify.is_secret(path, data, self.t.secret_paths)
            cur = FileState(
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                mtime_ns=st.st_mtime_ns,
                ctime_ns=st.st_ctime_ns,
                ino=st.st_ino,
                owner=_name(pwd.getpwuid, st.st_uid),
                group=_name(grp.getgrgid, st.st_gid),
                mode=f"{stat.S_IMODE(st.st_mode):04o}",
                secret=secret,
            )
            if before is not None and before.sha256 == cur.sha256 and before.meta() == cur.meta():
                self._files[path] = cur  # touched, not changed
                continue
            found.append((path, before, cur, data))
        if not found:
            return []
        stored = []
        for path, _before, after, data in found:
            if after is None or data is None:
                stored.append(Stored(path, None))
                stored.append(Stored(encrypted_path(path), None))
                continue
            if after.secret and self.t.secret_recipients:
                stored.append(Stored(encrypted_path(path), self._encrypt(data)))
            keep = not after.secret and len(data) <= self.t.max_file_bytes and classify.is_text(data)
            stored.append(
                Stored(
                    path, data if keep else placeholder(after.sha256), after.owner, after.group, after.mode
                )
            )
        message = f"{via}: {len(found)} file(s) " + ", ".join(p for p, *_ in found[:5])
        try:
            rev = self.repo.commit(stored, message) or self.repo.head()
        except Exception as exc:  # the versions repository is a record, not the observation itself
            log.warning("configfiles: versions repository not updated: %s", exc)
            rev = None
        changed: list[str] = []
        for path, before, after, data in found:
            cause = self._causes.get(path)
            caused_by = cause[1] if cause and after and cause[0] == after.sha256 else None
            if caused_by:
                self._causes.pop(path, None)
            elif after is not None and before is not None:
                caused_by = self._package_cause(path, after)
            if after is None:
                self._files.pop(path, None)
                obs = ConfigFileObserved(
                    ts=now,
                    path=path,
                    change="removed",
                    via=via,
                    old_sha256=before.sha256 if before else None,
                    app=self.app_name(path),
                    secret=bool(before and before.secret),
                    rev=rev,
                    caused_by=caused_by,
                )
                out.append((obs, path))
                changed.append(path)
                continue
            stats = None
            if before is not None and not after.secret and not before.secret and data is not None:
                old = self._previous_content(path, rev)
                stats = classify.diff_stats(old, data) if old is not None else None
            owner = self.owner(path)
            obs = ConfigFileObserved(
                ts=now,
                path=path,
                change="added" if before is None else "changed",
                via=via,
                owner=after.owner,
                group=after.group,
                mode=after.mode,
                sha256=after.sha256,
                old_sha256=before.sha256 if before else None,
                size=after.size,
                app=self.app_name(path),
                secret=after.secret,
                lines_added=stats[0] if stats else None,
                lines_removed=stats[1] if stats else None,
                rev=rev,
                caused_by=caused_by,
                package=owner[0] if owner else None,
                package_ecosystem=owner[1] if owner else None,
            )
            self._files[path] = after
            out.append((obs, path))
            changed.append(path)
        return changed

    def _encrypt(self, data: bytes) -> bytes:
        import pyrage

        recipients = [pyrage.x25519.Recipient.from_str(r) for r in self.t.secret_recipients]
        encrypted: bytes = pyrage.encrypt(data, recipients)
        return encrypted

    def _previous_content(self, path: str, rev: str | None) -> bytes | None:
        """The version before `rev` (the commit just made) from the repository; None if not kept."""
        if rev is None:
            return None
        for parent in (f"{rev}~1",):
            try:
                data = self.repo.content(path, parent)
            except Exception:
                return None
            return None if is_placeholder(data) else data
        return None

    # --- validation -----------------------------------------------------------------------------------

    def validate_paths(self, paths: Sequence[str], now: datetime | None = None) -> list[checkers.Result]:
        """Run the checkers over `paths` now (an executor's ValidateConfig); the observations go out
        with the next poll."""
        now = now or self._clock()
        out: list[tuple[EventPayload, str]] = []
        with self.io_lock:
            results = self._validate(list(paths), now, out, force=True)
        for item in out:
            self._pending.put(item)
        return results

    def _validate(
        self, paths: Sequence[str], now: datetime, out: list[tuple[EventPayload, str]], force: bool = False
    ) -> list[checkers.Result]:
        done: set[str] = set()
        results: list[checkers.Result] = []
        for path in paths:
            chk = self.checker(path)
            if chk is None:
                continue
            target = chk.main or path
            if target in done:
                continue
            done.add(target)
            state = self._files.get(target)
            if state is None and not self.real(target).is_file():
                continue
            res = checkers.run(chk, self.real(target), shown_as=target, secret=bool(state and state.secret))
            res = checkers.Result(
                res.checker,
                res.ok,
                res.message.replace(str(self.t.root).rstrip("/") + "/", "/")
                if str(self.t.root) != "/"
                else res.message,
                target,
            )
            results.append(res)
            sha = state.sha256 if state else None
            last = self._valid.get(target)
            if not force and last is not None and last == [sha, res.ok, res.message]:
                continue
            self._valid[target] = [sha, res.ok, res.message]
            obs = ConfigValidationObserved(
                ts=now, path=target, sha256=sha, checker=res.checker, ok=res.ok, message=res.message[:4096]
            )
            out.append((obs, target))
        return results

    # --- drift ----------------------------------------------------------------------------------------

    def _check_drift(self, paths: Sequence[str], now: datetime, out: list[tuple[EventPayload, str]]) -> None:
        for path in paths:
            try:
                want = self.desired.get(path)
            except (jinja2.TemplateError, OSError, UnicodeDecodeError) as exc:
                said = f"{path}: {exc}"
                if said not in self._said:
                    self._said.add(said)
                    log.warning("configfiles: desired state of %s not renderable: %s", path, exc)
                continue
            if want is None:
                if path in self._drift:
                    del self._drift[path]
                continue
            state = self._files.get(path)
            actual = state.sha256 if state else None
            drifted = actual != want.sha256
            key = [drifted, want.sha256, actual]
            if self._drift.get(path) == key or (path not in self._drift and not drifted):
                self._drift[path] = key
                continue
            self._drift[path] = key
            diff = ""
            if drifted and want.content is not None and not (state and state.secret):
                data = self._read(path) or b""
                diff = classify.unified_diff(want.content, data, f"desired ({want.source})", path, 8000)
            out.append(
                (
                    ConfigDriftObserved(
                        ts=now,
                        path=path,
                        desired_from=want.source,
                        drifted=drifted,
                        actual_sha256=actual,
                        desired_sha256=want.sha256,
                        diff=diff,
                    ),
                    path,
                )
            )

    def pin_baseline(self) -> str | None:
        """Take the versions as they are now as the desired state (a tag in the versions repository)."""
        with self.io_lock:
            head = self.repo.head()
            if head is None:
                return None
            self.repo.tag("baseline", head)
            self._next_scan = None  # the next poll compares every file with the new baseline
            return head

    # --- packages --------------------------------------------------------------------------------------

    def packages(self) -> dict[str, str]:
        """path -> owning dpkg package, from /var/lib/dpkg/info/*.list (re-read when the directory moves)."""
        info = self.real(self.t.dpkg_info)
        try:
            mtime = info.stat().st_mtime
        except OSError:
            return {}
        if self._packages is not None and mtime == self._packages_mtime:
            return self._packages
        roots = tuple(self.roots())
        out: dict[str, str] = {}
        lists: dict[str, Path] = {}
        for f in sorted(info.glob("*.list")):
            try:
                text = f.read_text(errors="replace")
            except OSError:
                continue
            pkg = dpkg.package_of_list(f.name)
            for p in dpkg.parse_list(text, roots):
                out.setdefault(p, pkg)
                lists.setdefault(p, f)
        self._packages, self._packages_mtime, self._list_of = out, mtime, lists
        return out

    def owner(self, path: str) -> tuple[str, str] | None:
        """(package, ecosystem) that ships `path`: dpkg's file lists, then the RPM database."""
        pkg = self.packages().get(path)
        if pkg is not None:
            return pkg, "deb"
        self.rpm_files()
        name = self._rpm_owner.get(path)
        return (name, "rpm") if name else None

    def _package_cause(self, path: str, after: FileState) -> str | None:
        """ "package:NAME" when the owning package's file list was written within PACKAGE_WINDOW of the
        file: dpkg unpacks a package's files and then rewrites its info/NAME.list, so an install or
        upgrade that replaced the file leaves the two seconds apart. (A hand edit within that window of
        an upgrade would be credited to the package: the window is kept short.)"""
        pkg = self.packages().get(path)
        listed = self._list_of.get(path)
        if pkg is None or listed is None:
            return None
        try:
            written = listed.stat().st_mtime_ns
        except OSError:
            return None
        return f"package:{pkg}" if abs(written - after.mtime_ns) <= PACKAGE_WINDOW_NS else None

    def rpm_files(self) -> list[rpm.RpmFile]:
        """Every file of every RPM package (re-read when the database changes); [] without rpm or a db."""
        db = next((self.real(p) for p in self.t.rpmdb if self.real(p).is_dir()), None)
        exe = shutil.which("rpm")
        if db is None or exe is None:
            return []
        try:
            stamp = (str(db), max((f.stat().st_mtime for f in db.iterdir()), default=0.0))
        except OSError:
            return []
        if self._rpm is not None and stamp == self._rpm_stamp:
            return self._rpm
        try:
            proc = subprocess.run(
                [exe, "-qa", "--dbpath", str(db), "--qf", rpm.QUERY],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("configfiles: rpm -qa failed: %s", exc)
            return []
        roots = tuple(self.roots())
        self._rpm = [
            f
            for f in rpm.parse_files(proc.stdout)
            if any(f.path.startswith(r.rstrip("/") + "/") for r in roots)
        ]
        self._rpm_stamp = stamp
        self._rpm_owner = {f.path: f.package for f in self._rpm}
        return self._rpm

    def _check_conffiles(self, now: datetime, out: list[tuple[EventPayload, str]]) -> None:
        for f in self.rpm_files():
            if f.config and f.digest and f.algorithm and self.tracked(f.path):
                try:
                    actual: str | None = hashlib.new(f.algorithm, self.real(f.path).read_bytes()).hexdigest()
                except OSError:
                    actual = None
                self._conffile(now, out, f.path, f.package, "rpm", f.digest, actual)
        try:
            text = self.real(self.t.dpkg_status).read_text(errors="replace")
        except OSError:
            return
        for cf in dpkg.parse_status_conffiles(text):
            if cf.obsolete or not self.tracked(cf.path) or cf.md5 == "newconffile":
                continue
            try:
                md5: str | None = hashlib.md5(
                    self.real(cf.path).read_bytes(), usedforsecurity=False
                ).hexdigest()
            except OSError:
                md5 = None
            self._conffile(now, out, cf.path, cf.package, "deb", cf.md5, md5)

    def _conffile(
        self,
        now: datetime,
        out: list[tuple[EventPayload, str]],
        path: str,
        package: str,
        ecosystem: str,
        default: str,
        actual: str | None,
    ) -> None:
        modified = actual != default
        if self._conffiles.get(path) == modified:
            return
        self._conffiles[path] = modified
        obs = ConffileObserved(
            ts=now,
            path=path,
            package=package,
            ecosystem=ecosystem,
            default_digest=default,
            actual_digest=actual,
            modified=modified,
        )
        out.append((obs, path))

    # --- what executors use ----------------------------------------------------------------------------

    def known_paths(self) -> list[str]:
        return sorted(self._files)

    def expect_change(self, path: str, sha256: str, cause: str) -> None:
        """The next change of `path` to content `sha256` is ours (a rollback): say so in its event."""
        self._causes[path] = (sha256, cause)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
