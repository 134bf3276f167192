"""Asking the graph: the catalog of named questions, and running one (or read-only Cypher)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from projections.catalog import QUERIES, CatalogError, ParamOutOfRange, resolve
from watchman.api.auth import Caller
from watchman.api.base import CurrentBackend, Problem, Rows, catalog_params, run_cypher
from watchman.api.limits import check_integers
from watchman.timetravel import http as timetravel

router = APIRouter(tags=["query"])


class QueryRequest(BaseModel):
    """A named query (see GET /query) with its parameters, or raw Cypher with read_only=true."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="a named query from the catalog", max_length=100)
    cypher: str | None = Field(None, description="raw Cypher; needs read_only=true", max_length=20_000)
    params: dict[str, Any] = Field(
        default_factory=dict, description="JSON values, passed as Cypher parameters"
    )
    read_only: StrictBool = Field(False, description="must be true for raw Cypher; the store enforces it")
    at: str | None = Field(
        None,
        description="answer as the graph was at this time (ISO 8601, epoch s, or 2h = 2 h ago)",
        max_length=64,
    )

    @field_validator("params")
    @classmethod
    def _integers_in_range(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_integers(v)  # type: ignore[no-any-return]


class NamedQueryInfo(BaseModel):
    name: str
    question: str
    params: dict[str, str]


@router.get("/query", response_model=list[NamedQueryInfo])
def named_queries(caller: Caller) -> list[NamedQueryInfo]:
    """The catalog of named questions and their parameters."""
    return [
        NamedQueryInfo(
            name=q.name,
            question=q.question,
            params={p.name: f"{p.type.__name__} (default {p.default!r}): {p.help}" for p in q.params},
        )
        for q in QUERIES.values()
    ]


@router.post("/query", response_model=Rows, responses={400: {"model": Problem}})
def run_query(body: QueryRequest, caller: Caller, backend: CurrentBackend) -> Rows:
    """Run a named query, or raw Cypher when read_only is true (the graph store refuses writes)."""
    if (body.name is None) == (body.cypher is None):
        raise HTTPException(400, "give exactly one of 'name' (a named query) or 'cypher'")
    now = datetime.now(UTC) if body.at is None else timetravel.at_time(body.at)
    if body.name is not None:
        try:
            cypher, params = resolve(body.name, catalog_params(body.params), now)
        except ParamOutOfRange as exc:  # a 422 shaped like pydantic's, as the OpenAPI says
            error = {"type": "value_error", "loc": ("body", "params"), "msg": str(exc)}
            raise RequestValidationError([error]) from None
        except CatalogError as exc:
            raise HTTPException(400, str(exc)) from None
    else:
        if not body.read_only:
            raise HTTPException(400, "raw Cypher needs read_only=true (the admin API never writes the graph)")
        cypher, params = str(body.cypher), dict(body.params)
    if body.at is not None:
        return timetravel.run_at(backend, cypher, params, now)
    return run_cypher(backend, cypher, params)
