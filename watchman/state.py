"""Durable local state in the embedded log's SQLite file: processor tables and producer cursors."""

from __future__ import annotations

from typing import Any

import orjson

from watchman.bus.sqlite_log import SqliteLog


class SqliteTable:
    """processors.tables.Table over the log's key/value store: writes commit with the events."""

    def __init__(self, log: SqliteLog, name: str) -> None:
        self._log = log
        self._ns = f"table:{name}"

    def get(self, key: str) -> Any | None:
        raw = self._log.kv_get(self._ns, key)
        return None if raw is None else orjson.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self._log.kv_put(self._ns, key, orjson.dumps(value))

    def delete(self, key: str) -> None:
        self._log.kv_delete(self._ns, key)


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
