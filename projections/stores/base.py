"""The graph-store port: what every graph store (LadybugDB embedded, Neo4j distributed) offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projections.graph_ops import GraphOp


class MissingEndpoint(ValueError):
    """A relationship names a node that is neither stored nor upserted in the same batch."""


class QueryRefused(PermissionError):
    """User Cypher outside the allow-list (projections/stores/cypher_guard.py): files, settings,
    procedures, schema changes; refused for every caller, before the store sees the text."""


class ReadOnlyViolation(QueryRefused):
    """A query sent as read-only tried to write (it would pass with --write)."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class GraphStore(ABC):
    """A graph database holding the projection of the domain topics.

    `apply` is atomic: the operations and the positions become visible together or not at all, so a
    consumer that restarts can skip everything at or below `positions()` and never apply twice.
    Positions are named by the caller, e.g. "watchman.events.packages/2" -> last applied offset.
    """

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create tables/constraints generated from schemas.graph; safe to call again."""

    @abstractmethod
    def apply(self, ops: Sequence[GraphOp], positions: Mapping[str, int]) -> None:
        """Apply the operations and record the positions, in one transaction."""

    @abstractmethod
    def positions(self) -> dict[str, int]:
        """The last applied position per name."""

    @abstractmethod
    def query(
        self, cypher: str, params: Mapping[str, Any] | None = None, *, read_only: bool = True
    ) -> QueryResult:
        """Run parameterised user Cypher, checked against the store's allow-list first (QueryRefused).
        With read_only, a statement that writes raises ReadOnlyViolation."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
