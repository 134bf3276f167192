"""Durable local state in the embedded log's SQLite file: processor tables and producer cursors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from watchman.bus.sqlite_log import SqliteLog


class SqliteTable:
    """processors.tables.Table over the log's key/value store: writes commit with the events.

    Inside `batch()` reads are cached and writes buffered, then written when the block ends; outside it
    every call is a statement on the log.
    """

    def __init__(self, log: SqliteLog, name: str) -> None:
        self._log = log
        self._ns = f"table:{name}"
        # While in batch(): key -> stored JSON (None: absent), and the keys written since it began. Bytes,
        # not objects, so a get returns a fresh object exactly as decoded from what a set would have stored.
        self._cache: dict[str, bytes | None] | None = None
        self._dirty: dict[str, None] = {}  # insertion-ordered: writes go out in a stable order

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Cache this table for the block; enter it INSIDE the log transaction that commits its writes.

        The buffered writes go to the log when the block ends normally, still inside that transaction, so
        they commit or roll back with it. On an exception nothing is written. Either way the cache ends with
        the block: it cannot outlive a rollback and serve values that were never committed. Nested blocks
        join the outer one.
        """
        if self._cache is not None:
            yield
            return
        self._cache, self._dirty = {}, {}
        try:
            yield
            cache = self._cache
            # One executemany for the batch instead of one statement per key.
            self._log.kv_write_many(self._ns, [(key, cache[key]) for key in self._dirty])
        finally:
            self._cache, self._dirty = None, {}

    def _raw(self, key: str) -> bytes | None:
        cache = self._cache
        if cache is None:
            return self._log.kv_get(self._ns, key)
        if key in cache:
            return cache[key]
        raw = cache[key] = self._log.kv_get(self._ns, key)
        return raw

    def get(self, key: str) -> Any | None:
        raw = self._raw(key)
        return None if raw is None else orjson.loads(raw)

    def set(self, key: str, value: Any) -> None:
        raw = orjson.dumps(value)
        if self._cache is None:
            self._log.kv_put(self._ns, key, raw)
        else:
            self._cache[key] = raw
            self._dirty[key] = None

    def delete(self, key: str) -> None:
        if self._cache is None:
            self._log.kv_delete(self._ns, key)
        else:
            self._cache[key] = None
            self._dirty[key] = None


class CursorStore:
    """Producer cursors, saved in the same transaction as the records they produced."""

    NS = "cursors"

    def __init__(self, log: SqliteLog) -> None:
        self._log = log

    def get(self, source: str) -> dict[str, Any] | None:
        raw = self._log.kv_get(self.NS, source)
        return None if raw is None else dict(orjson.loads(raw))

    def put(self, source: str, cursor: dict[str, Any]) -> None:
        self._log.kv_put(self.NS, source, orjson.dumps(cursor))

    def all(self) -> dict[str, dict[str, Any]]:
        return {k: orjson.loads(v) for k, v in self._log.kv_items(self.NS)}
