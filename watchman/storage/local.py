"""A storage target in a local directory (`file:///srv/backups`): one file per key, written whole.

A put writes `.<name>.part-…` beside the final name, fsyncs it and renames it over the key, so a
crash leaves the old object or none. `stat` hashes the file as it is on disk now (a real check of
what is stored, at the cost of reading it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
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


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class LocalTarget(StorageTarget):
    scheme = "file"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, stream: Readable) -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.part-{secrets.token_hex(4)}")
        h = hashlib.sha256()
        size = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        digest = h.hexdigest()
        return ObjectInfo(key, size, sha256_checksum(digest), self._mtime(path), digest)

    @staticmethod
    def _mtime(path: Path) -> datetime:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)

    @contextlib.contextmanager
    def get(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        try:
            f = path.open("rb")
        except FileNotFoundError:
            raise ObjectMissing(f"no object {key} in {self.describe()}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key} in {self.describe()}: {exc.strerror}") from None
        with f:
            yield f

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        if not self.root.is_dir():
            return
        found: list[tuple[str, Path]] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                key = p.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append((key, p))
        for key, p in sorted(found):
            st = p.stat()
            yield ObjectInfo(key, st.st_size, "", datetime.fromtimestamp(st.st_mtime, UTC))

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Directories a key made and nothing else uses go too (a pruned backup leaves nothing behind).
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        st = path.stat()
        return ObjectInfo(
            key, st.st_size, sha256_checksum(_file_sha256(path)), datetime.fromtimestamp(st.st_mtime, UTC)
        )
