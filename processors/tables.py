"""The state-table port of processors: a Faust Table when distributed, a durable local table embedded."""

from __future__ import annotations

from typing import Any, Protocol


class Table(Protocol):
    """Key -> JSON-serialisable value. Writes become durable together with the events they produced."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryTable:
    """A Table in a dict: for `watchman parse`-style one-shot runs and unit tests of decide functions."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)
