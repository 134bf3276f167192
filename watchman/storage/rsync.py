"""A storage target on another host over ssh (`rsync://user@host:port/srv/backups`), the transport rsync
uses (its `RSYNC_RSH`, or `ssh`).

A backup is a stream that is never written to local disk, and rsync only sends files: so objects go
through the same ssh connection rsync would use, with POSIX tools on the far side (`cat`, `mv`,
`sha256sum`, GNU `find`). A put lands in a hidden `.part` file and is renamed over the key when whole;
`stat` has the remote host hash the object as stored there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shlex
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from watchman.storage.base import (
    CHUNK,
    ObjectInfo,
    ObjectMissing,
    Readable,
    StorageError,
    StorageTarget,
    check_key,
    check_prefix,
    sha256_checksum,
)

TIMEOUT = 120.0
_MISSING = 44


def _control_dir() -> Path | None:
    """<tmp>/watchman-ssh-<uid>, 0700 and ours, or None (then every command makes its own connection)."""
    path = Path(tempfile.gettempdir()) / f"watchman-ssh-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        return None
    return path


class RsyncTarget(StorageTarget):
    scheme = "rsync"

    def __init__(self, destination: str, path: str, *, ssh: Sequence[str] | None = None) -> None:
        if not destination or destination.startswith("-"):
            raise StorageError(f"not an ssh destination: {destination!r}")
        self.destination = destination
        self.root = PurePosixPath(path or ".")
        self.ssh = list(ssh) if ssh else shlex.split(os.environ.get("RSYNC_RSH", "ssh"))
        # One ssh connection for the many short commands of a backup (stat, list, put, delete): OpenSSH's
        # connection sharing, its sockets in a directory only this user can enter; idle masters exit
        # after a minute by themselves.
        control = _control_dir()
        if control is not None:
            self.ssh += [
                "-o",
                "ControlMaster=auto",
                "-o",
                f"ControlPath={control}/%C",
                "-o",
                "ControlPersist=60",
            ]

    def describe(self) -> str:
        return f"rsync://{self.destination}{'' if str(self.root).startswith('/') else '/'}{self.root}"

    def _remote(self, key: str) -> str:
        return str(self.root / check_key(key))

    def _argv(self, script: str) -> list[str]:
        return [*self.ssh, self.destination, script]

    def _run(self, script: str) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                self._argv(script),
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StorageError(f"{self.describe()}: {type(exc).__name__}: {exc}") from None

    def _fail(
        self, what: str, proc: subprocess.CompletedProcess[bytes] | subprocess.Popen[bytes], err: bytes
    ) -> StorageError:
        text = err.decode("utf-8", "replace").strip()[-300:]
        return StorageError(f"{what} on {self.describe()} failed (exit {proc.returncode}): {text}")

    def put(self, key: str, stream: Readable) -> ObjectInfo:
        final = self._remote(key)
        parent = str(PurePosixPath(final).parent)
        tmp = str(PurePosixPath(parent) / f".{PurePosixPath(final).name}.part-{secrets.token_hex(4)}")
        q = shlex.quote
        # The data lands in a hidden part file; only a second command, run once this side has sent every
        # byte and the far side's SHA-256 of the part matches, renames it over the key. (A killed upload
        # closes the far side's stdin like a finished one: `cat` cannot tell, so it must not rename.)
        script = (
            f"set -e; umask 077; mkdir -p -- {q(parent)}; cat > {q(tmp)}; "
            f"sha256sum -- {q(tmp)} | cut -d' ' -f1"
        )
        h = hashlib.sha256()
        size = 0
        try:
            proc = subprocess.Popen(
                self._argv(script), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise StorageError(f"{self.describe()}: {exc}") from None
        assert proc.stdin is not None
        broken = False
        try:
            while chunk := stream.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                proc.stdin.write(chunk)
        except BrokenPipeError:
            broken = True
        except BaseException:
            proc.kill()
            proc.wait()
            self._run(f"rm -f -- {q(tmp)}")
            raise
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
        remote = out.decode().strip()
        digest = h.hexdigest()
        if proc.returncode != 0 or broken or remote != digest:
            self._run(f"rm -f -- {q(tmp)}")
            if proc.returncode != 0 or broken:
                raise self._fail(f"put {key}", proc, err)
            raise StorageError(f"put {key} on {self.describe()}: stored SHA-256 {remote} != sent {digest}")
        done = self._run(f"mv -f -- {q(tmp)} {q(final)}")
        if done.returncode != 0:
            raise self._fail(f"put {key} (rename)", done, done.stderr)
        return ObjectInfo(key, size, sha256_checksum(remote), None, digest)

    @contextlib.contextmanager
    def get(self, key: str) -> Iterator[BinaryIO]:
        path = shlex.quote(self._remote(key))
        try:
            proc = subprocess.Popen(
                self._argv(f"test -f {path} || exit {_MISSING}; exec cat -- {path}"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise StorageError(f"{self.describe()}: {exc}") from None
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.peek(1) if hasattr(proc.stdout, "peek") else b""
        if not first and proc.wait(timeout=TIMEOUT) == _MISSING:
            raise ObjectMissing(f"no object {key} on {self.describe()}")
        try:
            yield proc.stdout  # type: ignore[misc]
        finally:
            proc.stdout.close()
            err = proc.stderr.read()
            proc.stderr.close()
            code = proc.wait(timeout=TIMEOUT)
        if code != 0:
            raise self._fail(f"get {key}", proc, err)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        root = shlex.quote(str(self.root))
        proc = self._run(
            f"test -d {root} || exit 0; cd {root} && find . -type f ! -name '.*' -printf '%P\\t%s\\t%T@\\n'"
        )
        if proc.returncode != 0:
            raise self._fail("list", proc, proc.stderr)
        rows: list[ObjectInfo] = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            key, size, mtime = line.rsplit("\t", 2)
            if key.startswith(prefix) and not any(p.startswith(".") for p in key.split("/")):
                rows.append(ObjectInfo(key, int(size), "", datetime.fromtimestamp(float(mtime), UTC)))
        yield from sorted(rows, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        proc = self._run(f"rm -f -- {shlex.quote(self._remote(key))}")
        if proc.returncode != 0:
            raise self._fail(f"delete {key}", proc, proc.stderr)

    def stat(self, key: str) -> ObjectInfo | None:
        path = shlex.quote(self._remote(key))
        proc = self._run(
            f"test -f {path} || exit {_MISSING}; stat -c '%s %Y' -- {path}; "
            f"sha256sum -- {path} | cut -d' ' -f1"
        )
        if proc.returncode == _MISSING:
            return None
        if proc.returncode != 0:
            raise self._fail(f"stat {key}", proc, proc.stderr)
        first, digest = proc.stdout.decode().split("\n")[:2]
        size, mtime = first.split()
        return ObjectInfo(
            key, int(size), sha256_checksum(digest.strip()), datetime.fromtimestamp(int(mtime), UTC)
        )
