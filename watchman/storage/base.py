"""The storage-target port (DESIGN §9): put a stream, get a stream, list, delete, stat with a checksum.

Domain-free: backups store their archives through it, archives and vault sync will too. A target is
chosen by a URL (`open_target`): `file:///srv/backups`, `s3://bucket/prefix?endpoint=...`,
`rsync://user@host/path` (ssh transport). Every adapter runs the one shared test suite
(tests/integration/storage_suite.py).

Checksums: `put` hashes what it sends (SHA-256 of the whole object, `ObjectInfo.sha256`) and returns the
checksum the store itself keeps (`ObjectInfo.checksum`, a string in the store's own form: a plain
SHA-256 for a directory or an ssh host, S3's `ChecksumSHA256` -- composite `…-N` for a multipart
object). `stat(key).checksum` asks the store again, so comparing the two checks what is stored
without downloading it.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
# Keys are relative, slash-separated, with no empty, `.` or `..` segment: the same key must be a safe
# path on a directory or an ssh host and a plain key on S3.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+@,-]{0,200}$")


class StorageError(Exception):
    """A target cannot do what was asked (unreachable, refused, missing object). Never holds a secret."""


class ObjectMissing(StorageError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    checksum: str  # the store's own checksum, e.g. "sha256:<hex>" or "s3-sha256:<b64>-3"
    modified: datetime | None = None
    sha256: str = ""  # hex SHA-256 of the whole object, when this process computed it (put)


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or len(key) > 1000 or not all(_SEGMENT.match(p) for p in parts):
        raise StorageError(f"not a storage key: {key[:80]!r} (slash-separated names of [A-Za-z0-9._=+@,-])")
    return key


def check_prefix(prefix: str) -> str:
    if prefix == "":
        return prefix
    return check_key(prefix.rstrip("/")) + ("/" if prefix.endswith("/") else "")


class HashingReader:
    """Reads through to `inner`, counting bytes and hashing them (SHA-256) on the way."""

    def __init__(self, inner: Readable) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self.inner.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True


class StorageTarget(ABC):
    """One place objects are stored. Implementations are safe to use from one thread at a time."""

    scheme: str = ""

    @abstractmethod
    def put(self, key: str, stream: Readable) -> ObjectInfo:
        """Store everything `stream` yields under `key`, replacing an object of that key only once the
        new one is whole (an interrupted put leaves the old object or none, never a part)."""

    @abstractmethod
    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable stream of the object (ObjectMissing if there is none)."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """The objects whose key starts with `prefix`, in key order (checksums may be empty here)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error (idempotent)."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size and the store's checksum of the object, or None if it does not exist."""

    def describe(self) -> str:
        """Where this target stores, for humans, events and the graph: never a credential."""
        return self.scheme

    def close(self) -> None:  # noqa: B027 - optional
        pass


def sha256_checksum(hexdigest: str) -> str:
    return f"sha256:{hexdigest}"
