"""The embedded bus: a durable, partitioned log in one SQLite file (WAL mode).

The same file also holds small key/value namespaces (producer cursors, processor tables), so the
embedded runtime can append events, move a cursor and commit a consumer position in ONE transaction:
after a crash either all of it happened or none of it did.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from schemas.model import Topic
from watchman.bus.base import Bus, Record, StoredRecord, UnknownTopic, partition_for

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY, partitions INTEGER NOT NULL,
    retention_ms INTEGER, retention_bytes INTEGER
);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, headers BLOB,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_end (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;
"""


class SqliteLog(Bus):
    """Bus over SQLite. One writer process; other processes may read (e.g. `watchman status`).

    Durability: WAL with synchronous=NORMAL survives a process crash (kill -9) without losing a
    committed transaction; `durable=True` uses synchronous=FULL to also survive power loss.
    """

    def __init__(self, path: str | Path, *, durable: bool = False, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            # Checkpoint the WAL every 32 MiB instead of SQLite's 4 MiB: a processor batch writes ~4 MiB,
            # so the default checkpointed (copied pages back, synced) after nearly every commit, and
            # rewrote the same hot pages (log ends, table rows, B-tree interiors) each time.
            self._db.execute("PRAGMA wal_autocheckpoint=8192")
            self._db.executescript(_DDL)
        self._db.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.RLock()
        self._depth = 0
        self._partitions: dict[str, int] = {}

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group every write inside into one atomic, durable transaction (nestable)."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._rollback()
                raise
            self._depth -= 1
            if self._depth == 0:
                try:
                    self._db.execute("COMMIT")
                except BaseException:  # e.g. SQLITE_FULL: the transaction may still be open
                    self._rollback()
                    raise

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR): a second ROLLBACK
        # would fail and hide the error that matters.
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.warning("rollback failed: %s", exc)

    # -- topics ---------------------------------------------------------------------------------

    def ensure_topics(self, topics: Iterable[Topic]) -> None:
        with self.transaction():
            for t in topics:
                retention_ms = None if t.retention_days is None else t.retention_days * 86_400_000
                self._db.execute(
                    "INSERT INTO topics(name, partitions, retention_ms, retention_bytes) VALUES (?,?,?,?) "
                    "ON CONFLICT(name) DO UPDATE SET retention_ms=excluded.retention_ms, "
                    "retention_bytes=excluded.retention_bytes",
                    (t.name, t.partitions, retention_ms, t.retention_bytes),
                )
                for p in range(self.partitions(t.name)):
                    self._db.execute(
                        "INSERT OR IGNORE INTO log_end(topic, partition, next_offset) VALUES (?,?,0)",
                        (t.name, p),
                    )

    def partitions(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            row = self._db.execute("SELECT partitions FROM topics WHERE name=?", (topic,)).fetchone()
            if row is None:
                raise UnknownTopic(topic)
            n = self._partitions[topic] = int(row[0])
        return n

    def topics(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM topics ORDER BY name")]

    # -- records --------------------------------------------------------------------------------

    def append(self, topic: str, records: Sequence[Record]) -> list[tuple[int, int]]:
        if not records:
            return []
        n = self.partitions(topic)
        now = int(time.time() * 1000)
        with self.transaction():
            ends = self._ends(topic)
            out: list[tuple[int, int]] = []
            rows: list[tuple[Any, ...]] = []
            for r in records:
                p = partition_for(r.key, n)
                off = ends[p]
                ends[p] = off + 1
                out.append((p, off))
                headers = orjson.dumps(dict(r.headers)) if r.headers else None
                rows.append((topic, p, off, now, r.key, r.value, headers))
            self._db.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?)", rows)
            self._db.executemany(
                "UPDATE log_end SET next_offset=? WHERE topic=? AND partition=?",
                [(off, topic, p) for p, off in ends.items()],
            )
        return out

    def _ends(self, topic: str) -> dict[int, int]:
        rows = self._db.execute("SELECT partition, next_offset FROM log_end WHERE topic=?", (topic,))
        ends = {int(p): int(o) for p, o in rows}
        if not ends:
            raise UnknownTopic(topic)
        return ends

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[StoredRecord]:
        rows = self._db.execute(
            "SELECT offset, ts_ms, key, value, headers FROM records "
            "WHERE topic=? AND partition=? AND offset>=? ORDER BY offset LIMIT ?",
            (topic, partition, offset, max_records),
        ).fetchall()
        return [
            StoredRecord(topic, partition, o, ts, k, v, orjson.loads(h) if h else {})
            for o, ts, k, v, h in rows
        ]

    def end_offsets(self, topic: str) -> dict[int, int]:
        with self._lock:
            return self._ends(topic)

    def start_offsets(self, topic: str) -> dict[int, int]:
        out: dict[int, int] = {}
        for p, end in self.end_offsets(topic).items():
            # One primary-key seek per partition: a GROUP BY would scan the whole topic on every poll.
            row = self._db.execute(
                "SELECT MIN(offset) FROM records WHERE topic=? AND partition=?", (topic, p)
            ).fetchone()
            out[p] = end if row[0] is None else int(row[0])
        return out

    def count(self, topic: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM records WHERE topic=?", (topic,)).fetchone()
        return int(row[0])

    # -- consumer groups ------------------------------------------------------------------------

    def commit(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT INTO consumer_offsets(grp, topic, partition, next_offset) VALUES (?,?,?,?) "
                "ON CONFLICT(grp, topic, partition) DO UPDATE SET next_offset=excluded.next_offset",
                [(group, topic, p, o) for p, o in positions.items()],
            )

    def committed(self, group: str, topic: str) -> dict[int, int]:
        rows = self._db.execute(
            "SELECT partition, next_offset FROM consumer_offsets WHERE grp=? AND topic=?", (group, topic)
        )
        return {int(p): int(o) for p, o in rows}

    def groups(self) -> list[tuple[str, str]]:
        rows = self._db.execute("SELECT DISTINCT grp, topic FROM consumer_offsets ORDER BY grp, topic")
        return [(g, t) for g, t in rows]

    # -- retention ------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it to nothing. The WAL grows to 32 MiB between
        checkpoints (wal_autocheckpoint) and keeps its size after one; after a full disk that is room the
        rest of the data directory needs, so the daemon calls this before it retries."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def enforce_retention(self, now_ms: int | None = None) -> int:
        """Delete records older than their topic's retention_ms, then the oldest beyond retention_bytes."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        deleted = 0
        with self.transaction():
            topics = self._db.execute("SELECT name, retention_ms, retention_bytes FROM topics").fetchall()
            for name, retention_ms, retention_bytes in topics:
                if retention_ms is not None:
                    cur = self._db.execute(
                        "DELETE FROM records WHERE topic=? AND ts_ms < ?", (name, now_ms - retention_ms)
                    )
                    deleted += cur.rowcount
                if retention_bytes is not None:
                    deleted += self._trim_bytes(name, int(retention_bytes))
        return deleted

    def _trim_bytes(self, topic: str, limit: int) -> int:
        """Per partition, drop the oldest records until the partition's payload fits in `limit` bytes."""
        deleted = 0
        for p in range(self.partitions(topic)):
            rows = self._db.execute(
                "SELECT offset, length(value) + length(key) FROM records "
                "WHERE topic=? AND partition=? ORDER BY offset DESC",
                (topic, p),
            )
            total = 0
            cut: int | None = None
            for off, size in rows:
                total += int(size)
                if total > limit:
                    cut = int(off)
                    break
            if cut is not None:
                cur = self._db.execute(
                    "DELETE FROM records WHERE topic=? AND partition=? AND offset<=?", (topic, p, cut)
                )
                deleted += cur.rowcount
        return deleted

    # -- key/value namespaces (cursors, processor tables) ---------------------------------------

    def kv_get(self, ns: str, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM kv WHERE ns=? AND key=?", (ns, key)).fetchone()
        return None if row is None else bytes(row[0])

    def kv_put(self, ns: str, key: str, value: bytes) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO kv(ns, key, value) VALUES (?,?,?) "
                "ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value",
                (ns, key, value),
            )

    def kv_delete(self, ns: str, key: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM kv WHERE ns=? AND key=?", (ns, key))

    def kv_write_many(self, ns: str, items: Iterable[tuple[str, bytes | None]]) -> None:
        """Put (value bytes) or delete (None) many keys in one transaction, in the order given: two
        statements prepared once instead of one execute per key (a processor batch writes thousands)."""
        puts: list[tuple[str, str, bytes]] = []
        deletes: list[tuple[str, str]] = []
        with self.transaction():
            for key, value in items:
                if value is None:
                    if puts:  # keep the order: a put before a delete of the same key must land first
                        self._kv_put_rows(puts)
                        puts = []
                    deletes.append((ns, key))
                else:
                    if deletes:
                        self._db.executemany("DELETE FROM kv WHERE ns=? AND key=?", deletes)
                        deletes = []
                    puts.append((ns, key, value))
            if puts:
                self._kv_put_rows(puts)
            if deletes:
                self._db.executemany("DELETE FROM kv WHERE ns=? AND key=?", deletes)

    def _kv_put_rows(self, rows: list[tuple[str, str, bytes]]) -> None:
        self._db.executemany(
            "INSERT INTO kv(ns, key, value) VALUES (?,?,?) "
            "ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value",
            rows,
        )

    def kv_items(self, ns: str) -> list[tuple[str, bytes]]:
        return [(k, bytes(v)) for k, v in self._db.execute("SELECT key, value FROM kv WHERE ns=?", (ns,))]

    def close(self) -> None:
        self._db.close()
