"""What every router of the admin API shares: what a process offers it (the Backend), the row and error
shapes, and running Cypher on the backend's graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel

from projections.stores.base import QueryRefused, QueryResult
from schemas.envelope import Envelope
from watchman.values import jsonable

VERSION = "0.1.0"


# openapi_extra marker of a route that reads its query string itself (a named query's parameters);
# every other route refuses query parameters it does not declare (watchman/api/limits.py).
FREE_QUERY = "x-watchman-free-query"


class Unsupported(RuntimeError):
    """This process does not serve that (e.g. a worker has no graph): the message says who does."""


class Backend(Protocol):
    role: str
    host: str
    deployment: str

    def health(self) -> dict[str, Any]: ...

    def metrics(self) -> bytes: ...

    def query(self, cypher: str, params: Mapping[str, Any], *, read_only: bool) -> QueryResult: ...

    def publish(self, command: Envelope) -> None: ...

    def issued(self, command_id: str) -> bool: ...


def backend_of(request: Request) -> Backend:
    """The process the app reports on (create_app puts it on the app's state)."""
    backend: Backend = request.app.state.backend
    return backend


CurrentBackend = Annotated[Backend, Depends(backend_of)]


class Rows(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]


class Problem(BaseModel):
    detail: str


def catalog_params(params: Mapping[str, Any]) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for k, v in params.items():
        if v is None:
            continue
        out[k] = int(v) if isinstance(v, bool | int) else str(v)
    return out


def run_cypher(backend: Backend, cypher: str, params: Mapping[str, Any]) -> Rows:
    from neo4j.exceptions import ClientError

    try:
        result = backend.query(cypher, params, read_only=True)
    except QueryRefused as exc:  # outside the allow-list, or a write in a read-only query
        raise HTTPException(400, str(exc)) from None
    except Unsupported:
        raise
    except ClientError as exc:  # Neo4j: a syntax or type error in the caller's Cypher
        raise HTTPException(400, f"query failed: {exc.message}") from None
    except (RuntimeError, ValueError, TypeError) as exc:  # LadybugDB: Cypher errors are RuntimeError
        raise HTTPException(400, f"query failed: {exc}") from None
    return Rows(
        columns=result.columns,
        rows=[dict(zip(result.columns, jsonable(row), strict=True)) for row in result.rows],
    )
