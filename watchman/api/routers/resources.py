"""The resources domain's endpoints: the host's metrics now, and any time-series question as JSON series."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from projections.catalog import CatalogError, resolve
from watchman.api.auth import Caller
from watchman.api.base import FREE_QUERY, CurrentBackend, Problem, Rows, run_cypher
from watchman.plotting import NotASeries, check_series_query, series_of

router = APIRouter(tags=["resources"])


class Point(BaseModel):
    ts: datetime
    value: float


class Series(BaseModel):
    name: str
    params: dict[str, str]
    # One list of points per line: "value" for a single series, else the series name (cpu.core0, ...).
    series: dict[str, list[Point]]


class HostQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("", max_length=256, description="only this host ('' = every host)")


class HostResources(BaseModel):
    host: Rows
    filesystems: Rows
    processes: Rows


@router.get(
    "/admin/series/{name}",
    response_model=Series,
    responses={400: {"model": Problem}},
    openapi_extra={FREE_QUERY: True},  # the named query's own parameters: checked by resolve()
)
def series(name: str, request: Request, caller: Caller, backend: CurrentBackend) -> Series:
    """The points of a time-series named query (those `watchman plot` draws), for dashboards: the query's
    parameters as query-string parameters, e.g. /admin/series/metric-series?series=cpu&since=24h."""
    params = dict(request.query_params)
    try:
        check_series_query(name)
        cypher, p = resolve(name, params, datetime.now(UTC))
    except (NotASeries, CatalogError) as exc:
        raise HTTPException(400, str(exc)) from None
    rows = run_cypher(backend, cypher, p)
    lines = series_of(rows.columns, [[r[c] for c in rows.columns] for r in rows.rows])
    return Series(
        name=name,
        params=params,
        series={k: [Point(ts=t, value=v) for t, v in pts] for k, pts in lines.items()},
    )


@router.get("/admin/resources", response_model=HostResources)
def resources(caller: Caller, q: Annotated[HostQuery, Query()], backend: CurrentBackend) -> HostResources:
    """The host's CPU, load, memory and swap, every filesystem (fullest first) and the top processes now."""
    now = datetime.now(UTC)

    def ask(name: str) -> Rows:
        cypher, p = resolve(name, {"host": q.host}, now)
        return run_cypher(backend, cypher, p)

    return HostResources(
        host=ask("host-metrics"), filesystems=ask("disk-usage"), processes=ask("top-processes")
    )
