"""Rotation-aware, crash-resumable line tailer for append-only logs (apt history, dpkg, dnf)."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import inotify_simple  # type: ignore[import-untyped]  # no py.typed: a ctypes wrapper of ~100 lines

__all__ = [
    "CHUNK_SIZE",
    "FINGERPRINT_BYTES",
    "MAX_LINE_BYTES",
    "OVERLONG_PREFIX",
    "Cursor",
    "FileTailer",
    "Line",
    "Wake",
    "split_lines",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
FINGERPRINT_BYTES = 1024
CURSOR_VERSION = 1
# The longest line worth parsing (settings: max_line_bytes). A longer one is never held whole: its
# first OVERLONG_PREFIX bytes and its length come out, for a dead letter, and the rest is skipped.
MAX_LINE_BYTES = 1024 * 1024
OVERLONG_PREFIX = 256
# A corrupt or half-written .gz must cost us that generation, never the daemon.
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


def _fingerprint(head: bytes) -> str:
    return hashlib.blake2b(head, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Cursor:
    """A durable position in a log and its rotated generations; opaque to callers."""

    path: str  # the live path being followed
    file: str  # the name the file had when read: a hint for humans, never used for identity
    inode: int
    fp: str  # fingerprint of the file's first fp_len bytes (decompressed for .gz)
    fp_len: int
    offset: int  # byte offset in that file (decompressed for .gz)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": CURSOR_VERSION,
            "path": self.path,
            "file": self.file,
            "inode": self.inode,
            "fp": self.fp,
            "fp_len": self.fp_len,
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cursor:
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unsupported cursor version: {data.get('v')!r}")
        strs = {k: data.get(k) for k in ("path", "file", "fp")}
        ints = {k: data.get(k) for k in ("inode", "fp_len", "offset")}
        for key, value in strs.items():
            if not isinstance(value, str):
                raise ValueError(f"cursor field {key!r} must be a string, got {value!r}")
        for key, value in ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"cursor field {key!r} must be a non-negative integer, got {value!r}")
        if data["fp_len"] > FINGERPRINT_BYTES:
            raise ValueError(f"cursor fp_len {data['fp_len']} exceeds {FINGERPRINT_BYTES}")
        return cls(
            path=data["path"],
            file=data["file"],
            inode=data["inode"],
            fp=data["fp"],
            fp_len=data["fp_len"],
            offset=data["offset"],
        )


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the stream with the cursors that checkpoint just before and just after it."""

    raw: bytes  # without the trailing "\n" or "\r\n"; only the first bytes of an over-long line
    offset: int  # where the line starts in its file
    cursor: Cursor  # saving it means "this line is consumed"
    cursor_before: Cursor  # saving it means "re-read from this line"
    # The whole line's length when it was longer than the limit (raw then holds its first bytes).
    overlong: int | None = None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


class _Source:
    """One open generation of the log; the open descriptor keeps a renamed file readable."""

    __slots__ = ("dev", "fd", "fp", "gz", "head", "idle", "ino", "live", "name", "pos", "size")

    def __init__(self, path: Path, *, live: bool) -> None:
        self.name = str(path)
        self.live = live
        self.gz: gzip.GzipFile | None = None
        self.idle: tuple[int, int] | None = None  # (size, mtime_ns) when a poll last found nothing new
        if path.name.endswith(".gz"):
            self.gz = gzip.GzipFile(path, "rb")
            self.fd = self.gz.fileno()
        else:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(self.fd)
            self.ino = st.st_ino
            self.dev = st.st_dev
            self.size = st.st_size if self.gz is None else self._gzip_size(st.st_size)
            self.head = self._read_head()
        except BaseException:
            self.close()
            raise
        self.fp = _fingerprint(self.head)
        self.pos = 0

    def _gzip_size(self, compressed: int) -> int | None:
        # The trailer holds the uncompressed size mod 2**32; deflate never beats ~1032:1, so below that
        # bound it is exact. logrotate writes single-member files, whose trailer covers the whole file.
        if compressed < 18 or compressed * 1032 >= 2**32:
            return None
        return int.from_bytes(os.pread(self.fd, 4, compressed - 4), "little")

    def _read_head(self) -> bytes:
        if self.gz is None:
            return os.pread(self.fd, FINGERPRINT_BYTES, 0)
        try:
            head = self.gz.read(FINGERPRINT_BYTES)
            self.gz.seek(0)
            return head
        except _GZIP_ERRORS as exc:
            log.warning("cannot decompress %s: %s; skipping it", self.name, exc)
            return b""

    def matches(self, cursor: Cursor) -> bool:
        if len(self.head) < cursor.fp_len or _fingerprint(self.head[: cursor.fp_len]) != cursor.fp:
            return False
        # A plain file shorter than the cursor was truncated: its bytes are no longer the ones we read.
        return self.size is None or self.size >= cursor.offset

    def holds(self, head: bytes, size: int | None) -> bool:
        """Whether self may hold a file that starts with head and is size bytes long."""
        if self.head[: len(head)] != head:
            return False
        return self.size is None or size is None or self.size == size

    def seek(self, offset: int) -> None:
        if self.gz is None:
            self.pos = offset
            return
        try:
            self.pos = self.gz.seek(offset)
        except _GZIP_ERRORS as exc:
            log.warning("cannot decompress %s: %s; skipping the rest of it", self.name, exc)
            self.pos = offset

    def read(self) -> bytes:
        if self.gz is None:
            data = os.pread(self.fd, CHUNK_SIZE, self.pos)
        else:
            try:
                data = self.gz.read(CHUNK_SIZE)
            except _GZIP_ERRORS as exc:
                log.warning("cannot decompress %s: %s; skipping the rest of it", self.name, exc)
                data = b""
        have = len(self.head)
        if have < FINGERPRINT_BYTES and self.pos <= have < self.pos + len(data):
            self.head += data[have - self.pos : FINGERPRINT_BYTES - self.pos]
            self.fp = _fingerprint(self.head)
        self.pos += len(data)
        return data

    def head_intact(self) -> bool:
        return not self.head or os.pread(self.fd, len(self.head), 0) == self.head

    def restart(self) -> None:
        self.head = b""
        self.fp = _fingerprint(b"")
        self.pos = 0
        self.idle = None

    def close(self) -> None:
        if self.gz is not None:
            self.gz.close()
        else:
            os.close(self.fd)


def _same_start(a: bytes, b: bytes) -> bool:
    """Whether two heads may come from one file read at different sizes."""
    n = min(len(a), len(b))
    return a[:n] == b[:n] and (n > 0 or a == b)


def _open(path: Path, *, live: bool) -> _Source | None:
    try:
        return _Source(path, live=live)
    except FileNotFoundError:
        return None


_IN = inotify_simple.flags
# The directory: a new live file (create, or rename onto its name). Not its writes: a directory such
# as /var/log holds busy logs (syslog, auth.log) whose every line would wake the loop for nothing.
_DIR_MASK = _IN.CREATE | _IN.MOVED_TO | _IN.ONLYDIR
# The live file itself; the watch stays on its inode after a rename, so a late writer to the rotated
# file still wakes us while we finish it.
_FILE_MASK = _IN.MODIFY | _IN.CLOSE_WRITE


class Wake:
    """An inotify descriptor that becomes readable when a followed log may hold new bytes.

    It watches the log's directory for a file created or renamed onto the log's name (rotation) and
    the log file for writes. A runner selects on fileno() instead of sleeping a whole poll interval;
    drain() empties it before each read, so a write after the drain wakes the runner again. Where
    inotify cannot be had (instance or watch limits, no permission) fileno() is -1 and the runner
    polls, as it would without this.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._dir_wd: int | None = None
        self._ino: Any = None  # inotify_simple.INotify (untyped)
        try:
            self._ino = inotify_simple.INotify(nonblocking=True)
        except OSError as exc:
            self._give_up(exc)
            return
        self._watch()

    def _give_up(self, exc: OSError) -> None:
        log.info("cannot watch %s with inotify (%s); polling it every poll interval", self._path, exc)
        self.close()

    def _watch(self) -> None:
        """Watch the directory (once it exists) and the live file (once it exists)."""
        try:
            if self._dir_wd is None:
                self._dir_wd = self._ino.add_watch(self._path.parent, _DIR_MASK)
            self._ino.add_watch(self._path, _FILE_MASK)
        except FileNotFoundError:
            pass  # not there yet: the directory's watch (or the next drain) catches its creation
        except OSError as exc:  # ENOSPC (max_user_watches), EACCES...
            self._give_up(exc)

    def fileno(self) -> int:
        return -1 if self._ino is None else int(self._ino.fileno())

    def drain(self) -> None:
        """Consume what is pending; re-watch the live file when a new one took its name."""
        if self._ino is None:
            return
        rewatch = self._dir_wd is None  # the directory did not exist yet: try again
        for ev in self._ino.read(timeout=0):
            if ev.mask & _IN.Q_OVERFLOW:
                rewatch = True
            elif ev.wd == self._dir_wd and ev.mask & _IN.IGNORED:
                self._dir_wd = None  # the directory went away
                rewatch = True
            elif ev.wd == self._dir_wd and ev.name == self._path.name:
                rewatch = True
        if rewatch and self._ino is not None:
            self._watch()

    def close(self) -> None:
        if self._ino is not None:
            self._ino.close()
            self._ino = None


class FileTailer:
    """Follows one log path across rotations; read() never blocks and returns only complete lines.

    The stream is: rotated generations oldest first (path.N.gz ... path.2.gz, path.1), then the live
    file; after each rotation the old file is finished before the new one starts. A line longer than
    max_line_bytes comes out once, as its first OVERLONG_PREFIX bytes with `overlong` set to its
    length; the rest of it is read and dropped, so memory stays bounded whatever the input.
    With wake=True, fileno() is a descriptor that becomes readable when the log changes (see Wake).
    """

    def __init__(
        self,
        path: str | Path,
        cursor: Cursor | None = None,
        *,
        backfill_rotated: bool = True,
        max_line_bytes: int = MAX_LINE_BYTES,
        wake: bool = False,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._path = Path(path)
        self._path_str = str(self._path)
        self._dir = self._path.parent
        self._generation_re = re.compile(rf"{re.escape(self._path.name)}\.([1-9][0-9]*)(\.gz)?")
        self._max_line = max_line_bytes
        self._src: _Source | None = None
        # The finished file while the next one is not open yet: holding it keeps its inode ours, so
        # we can still tell which generations came after it.
        self._done: _Source | None = None
        self._buf = b""
        self._bstart = 0  # index in _buf of the first unconsumed byte
        self._base = 0  # file offset of _buf[0]
        self._prev: Cursor | None = None  # cursor at the first unconsumed byte, reused as cursor_before
        # While skipping an over-long line: (its first bytes, its start offset, the cursor before it,
        # bytes seen so far).
        self._skip: tuple[bytes, int, Cursor, int] | None = None
        # (inode, dev, size, head) of path.1 when last looked at, to notice a copytruncate.
        self._newest: tuple[int, int, int, bytes] | None = None
        self._closed = False
        # Set up before the first read, so no write between that read and a runner's wait goes unseen.
        self._wake = Wake(self._path) if wake else None
        if cursor is not None:
            self.seek(cursor)
        elif backfill_rotated:
            for p in self._generations():
                src = _open(p, live=False)
                if src is not None:
                    self._switch(src)
                    break

    def __enter__(self) -> FileTailer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._switch(None)
        if self._wake is not None:
            self._wake.close()
        self._closed = True

    def fileno(self) -> int:
        """A descriptor readable when the log may have changed since the last read(); -1 without one."""
        return -1 if self._wake is None else self._wake.fileno()

    def seek(self, cursor: Cursor) -> None:
        """Position the stream just at cursor; if no file matches it, at the live file's start."""
        if os.path.abspath(cursor.path) != os.path.abspath(self._path_str):
            raise ValueError(f"cursor is for {cursor.path!r}, not {self._path_str!r}")
        self._switch(None)
        opened: list[_Source] = []
        chosen: _Source | None = None
        try:
            for p in [*self._generations(), self._path]:
                if (s := _open(p, live=p == self._path)) is not None:
                    opened.append(s)
            # Identity by inode first; then by content alone, because compressing path.1 into
            # path.2.gz (delaycompress) or copytruncate moves the same bytes to a new inode. Oldest
            # first: if two generations share a fingerprint, re-reading one beats losing one.
            chosen = next((s for s in opened if s.ino == cursor.inode and s.matches(cursor)), None)
            if chosen is None and cursor.fp_len > 0:
                chosen = next((s for s in opened if s.matches(cursor)), None)
        finally:
            for s in opened:
                if s is not chosen:
                    s.close()
        if chosen is None:
            log.warning(
                "no file matches the saved cursor for %s (inode %d, offset %d); "
                "reading the live file from its start",
                self._path_str,
                cursor.inode,
                cursor.offset,
            )
            return
        chosen.seek(cursor.offset)
        self._switch(chosen)

    def read(self, max_lines: int = 1000) -> list[Line]:
        """Return up to max_lines complete lines not returned yet; [] when there is nothing new."""
        if self._closed:
            raise ValueError("read from a closed FileTailer")
        if self._wake is not None:
            # Before reading: a write that lands after this drain makes the descriptor readable again.
            self._wake.drain()
        out: list[Line] = []
        self._take_lines(out, max_lines)
        if len(out) < max_lines and not self._poll_live(out):
            return out
        while True:
            self._take_lines(out, max_lines)
            if len(out) >= max_lines:
                break
            if self._src is None:
                self._advance(cheap=True)
            src = self._src
            if src is None:
                break
            data = src.read()
            if data:
                self._append(data)
                continue
            if not src.live:
                if src.gz is None and (os.fstat(src.fd).st_size < src.pos or not src.head_intact()):
                    self._truncated(out)
                else:
                    self._finish(out)
                continue
            st = os.fstat(src.fd)
            if st.st_size > src.pos:
                continue  # it grew while we were reading
            src.idle = (st.st_size, st.st_mtime_ns) if st.st_size == src.pos else None
            break
        return out

    # -- internals ---------------------------------------------------------------------------------

    def _poll_live(self, out: list[Line]) -> bool:
        """One stat of the live path; False when nothing changed since the last poll."""
        src = self._src
        if src is None or not src.live:
            return True
        try:
            st: os.stat_result | None = os.stat(self._path)
        except FileNotFoundError:
            st = None
        rotated = st is None or (st.st_ino, st.st_dev) != (src.ino, src.dev)
        if st is None or rotated:
            # Renamed away (maybe not recreated yet): finish the file we hold, unless a copytruncate
            # emptied it before that rename.
            src.live = False
            st = os.fstat(src.fd)
        elif src.idle == (st.st_size, st.st_mtime_ns):
            return False
        src.idle = None
        if st.st_size < src.pos or not src.head_intact():
            self._truncated(out)
        elif self._predecessor_replaced(src) if rotated else self._newest_changed():
            # A copytruncate that the size and the head cannot show: the file held only bytes we had
            # not read yet, or regrew past our offset with the same first bytes.
            self._truncated(out, only_if_copied=True)
        return True

    def _predecessor_replaced(self, src: _Source) -> bool:
        """Whether the generation just older than the rotated src is not the one we saw while it was live."""
        generations = self._generations()
        i = self._find(generations, src)
        if not i:
            return False
        before = _open(generations[i - 1], live=False)
        if before is None:
            return False
        before.close()
        return self._newest is None or not _same_start(before.head, self._newest[3])

    def _newest_changed(self) -> bool:
        """Whether path.1 now holds other bytes than when last looked at.

        Inodes are reused at once on most filesystems, so identity here is content: a new head,
        not a new inode, tells a fresh copy from the old path.1 (which a late writer may still grow).
        """
        old = self._newest
        for name in (f"{self._path.name}.1", f"{self._path.name}.1.gz"):
            try:
                st = os.stat(self._dir / name)
            except FileNotFoundError:
                continue
            if old is not None and (st.st_ino, st.st_dev, st.st_size) == old[:3]:
                return False
            newest = _open(self._dir / name, live=False)
            if newest is None:
                continue
            newest.close()
            self._newest = (st.st_ino, st.st_dev, st.st_size, newest.head)
            return old is None or not _same_start(old[3], newest.head)
        self._newest = None
        return False

    def _generations(self) -> list[Path]:
        """Rotated generations, oldest first."""
        try:
            names = os.listdir(self._dir)
        except FileNotFoundError:
            return []
        found: dict[int, Path] = {}
        for name in names:
            m = self._generation_re.fullmatch(name)
            if m is None:
                continue
            n = int(m.group(1))
            # While logrotate compresses path.N, path.N.gz is incomplete and path.N is the truth.
            if n not in found or m.group(2) is None:
                found[n] = self._dir / name
        return [found[n] for n in sorted(found, reverse=True)]

    def _find(self, generations: list[Path], src: _Source) -> int | None:
        """Where src sits now among generations: by inode, else by content (it was recompressed).

        Content means the bytes src holds now, which a copytruncate may have changed under us.
        """
        for i, p in enumerate(generations):
            try:
                st = os.stat(p)
            except FileNotFoundError:
                continue
            # We hold src open, so its inode cannot have been reused by another file.
            if (st.st_ino, st.st_dev) == (src.ino, src.dev):
                return i
        head, size = src.head, src.size
        if src.gz is None:
            size = os.fstat(src.fd).st_size
            head = os.pread(src.fd, FINGERPRINT_BYTES, 0)
        # A rename keeps the inode, so only a compressed generation can hold src's bytes now. Among
        # look-alikes the oldest wins (re-reading beats losing), but empty files all look alike and
        # the newest empty one is src unless several rotations of empty files passed unseen.
        order = list(enumerate(generations))
        if not head:
            order.reverse()
        for i, p in order:
            if not p.name.endswith(".gz"):
                continue
            other = _open(p, live=False)
            if other is None:
                continue
            try:
                if other.ino != src.ino and other.holds(head, size):
                    return i
            finally:
                other.close()
        return None

    def _finish(self, out: list[Line]) -> None:
        """src is complete (rotated away): flush its unterminated tail and move to the next generation."""
        src = self._src
        assert src is not None
        self._flush_partial(out, src)
        self._src = None
        self._done = src
        self._reset_buffer(0)
        self._advance(cheap=False)

    def _advance(self, *, cheap: bool) -> None:
        """Open what follows the finished file: a newer generation, else the live file from its start.

        cheap: while the live path is missing, do not look for generations (an idle poll stays one
        syscall); they are looked for once it appears, with the finished file still held.
        """
        live = _open(self._path, live=True)
        if live is None and cheap:
            return
        done = self._done
        if done is not None:
            generations = self._generations()
            i = self._find(generations, done)
            after = i + 1 if i is not None else len(generations)
            nxt = _open(generations[after], live=False) if after < len(generations) else None
            if nxt is not None:
                if live is not None:
                    live.close()
                self._switch(nxt)
                return
        if live is not None:
            self._switch(live)

    def _truncated(self, out: list[Line], *, only_if_copied: bool = False) -> None:
        """The file lost the bytes we read (copytruncate): finish them from the copy, if any."""
        src = self._src
        assert src is not None
        generations = self._generations()
        # copytruncate leaves its copy just older than the truncated file (the newest generation while
        # that file is live); if it struck again before we looked, newer copies of later bytes sit
        # between them and follow it in the chain.
        i = len(generations) if src.live else self._find(generations, src)
        copy: _Source | None = None
        for j in reversed(range(i or 0)):
            copy = _open(generations[j], live=False)
            if copy is not None and copy.ino != src.ino and copy.head.startswith(src.head):
                break
            if copy is not None:
                copy.close()
            copy = None
        if copy is not None:
            log.info("%s was truncated; finishing it from its copy %s", self._path_str, copy.name)
            # From the first unconsumed line: the start of an over-long one being skipped.
            copy.seek(self._skip[1] if self._skip is not None else self._base + self._bstart)
            self._switch(copy)
            return
        if only_if_copied:
            return
        log.info("%s was truncated; reading it again from its start", self._path_str)
        self._flush_partial(out, src)
        src.restart()
        self._reset_buffer(0)

    def _flush_partial(self, out: list[Line], src: _Source) -> None:
        rest = self._buf[self._bstart :]
        if self._skip is not None:
            head, start, before, seen = self._skip
            end = start + seen + len(rest)
            after = self._cursor(src, end)
            out.append(Line(head[: end - start], start, after, before, overlong=end - start))
            self._skip = None
            self._bstart = len(self._buf)
            self._prev = after
            return
        if not rest:
            return
        start = self._base + self._bstart
        before = self._prev or self._cursor(src, start)
        after = self._cursor(src, start + len(rest))
        out.append(Line(rest.removesuffix(b"\r"), start, after, before))
        self._bstart = len(self._buf)
        self._prev = after

    def _switch(self, src: _Source | None) -> None:
        for old in (self._src, self._done):
            if old is not None and old is not src:
                old.close()
        self._src = src
        self._done = None
        self._reset_buffer(src.pos if src is not None else 0)
        if src is not None and src.live:
            self._newest = None
            self._newest_changed()

    def _reset_buffer(self, base: int) -> None:
        self._buf = b""
        self._bstart = 0
        self._base = base
        self._prev = None
        self._skip = None

    def _append(self, data: bytes) -> None:
        if self._bstart:
            self._base += self._bstart
            self._buf = self._buf[self._bstart :] + data
            self._bstart = 0
        else:
            self._buf += data

    def _cursor(self, src: _Source, offset: int) -> Cursor:
        return Cursor(self._path_str, src.name, src.ino, src.fp, len(src.head), offset)

    def _take_lines(self, out: list[Line], max_lines: int) -> None:
        src = self._src
        buf = self._buf
        start = self._bstart
        if src is None or start >= len(buf):
            return
        base = self._base
        limit = self._max_line
        path, name, ino, fp, fp_len = self._path_str, src.name, src.ino, src.fp, len(src.head)
        prev = self._prev or Cursor(path, name, ino, fp, fp_len, base + start)
        find = buf.find
        while len(out) < max_lines:
            if self._skip is not None:
                # Inside an over-long line: drop bytes up to its newline, keeping only its length.
                head, line_start, before, seen = self._skip
                nl = find(b"\n", start)
                if nl < 0:
                    self._skip = (head, line_start, before, seen + len(buf) - start)
                    start = len(buf)
                    break
                end = nl + 1
                after = Cursor(path, name, ino, fp, fp_len, base + end)
                size = base + nl - line_start
                out.append(Line(head[:size], line_start, after, before, overlong=size))
                self._skip = None
                prev = after
                start = end
                continue
            nl = find(b"\n", start, start + limit + 2)
            if nl >= 0 and nl - start - (buf[nl - 1 : nl] == b"\r") <= limit:
                raw = buf[start:nl]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                end = nl + 1
            elif nl >= 0 or len(buf) - start > limit + 1:
                # Longer than any sane log line: never hold it whole (a 50 MB line must not cost
                # 50 MB, nor its parse gigabytes). Its first bytes and length become a dead letter.
                self._skip = (buf[start : start + OVERLONG_PREFIX], base + start, prev, 0)
                continue
            else:
                break
            after = Cursor(path, name, ino, fp, fp_len, base + end)
            out.append(Line(raw, base + start, after, prev))
            prev = after
            start = end
        self._bstart = start
        self._prev = prev


def split_lines(
    fh: IO[bytes], max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes, int | None]]:
    """(offset, line, overlong) for each line of a binary stream, reading it in CHUNK_SIZE pieces.

    As in FileTailer: a line longer than max_line_bytes yields its first OVERLONG_PREFIX bytes and
    its length, and is never held whole; the last line may lack its newline.
    """
    buf = b""
    base = 0  # offset of buf[0]
    skip: tuple[bytes, int] | None = None  # (first bytes, start) of an over-long line being dropped
    eof = False
    while not eof:
        data = fh.read(CHUNK_SIZE)
        eof = not data
        if skip is not None and not eof:
            nl = data.find(b"\n")
            if nl < 0:
                base += len(data)
                continue
            head, start = skip
            skip = None
            yield start, head[: base + nl - start], base + nl - start
            base += nl + 1
            data = data[nl + 1 :]
        buf += data
        pos = 0
        while True:
            nl = buf.find(b"\n", pos, pos + max_line_bytes + 2)
            if nl >= 0 and nl - pos - (buf[nl - 1 : nl] == b"\r") <= max_line_bytes:
                yield base + pos, buf[pos:nl].removesuffix(b"\r"), None
                pos = nl + 1
            elif nl >= 0 or len(buf) - pos > max_line_bytes + 1:
                head, start = buf[pos : pos + OVERLONG_PREFIX], base + pos
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    skip = (head, start)
                    pos = len(buf)
                    break
                yield start, head[: nl - pos], nl - pos
                pos = nl + 1
            else:
                break
        base += pos
        buf = buf[pos:]
    if skip is not None:
        yield skip[1], skip[0], base - skip[1]
    elif buf:
        if len(buf) > max_line_bytes:
            yield base, buf[:OVERLONG_PREFIX], len(buf)
        else:
            yield base, buf.removesuffix(b"\r"), None
