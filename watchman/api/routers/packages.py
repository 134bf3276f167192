"""The packages domain's endpoint: package history with filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from projections.catalog import resolve
from watchman.api.auth import Caller
from watchman.api.base import CurrentBackend, Problem, Rows, run_cypher

router = APIRouter(tags=["query"])


class PackagesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(7, ge=1, le=36_500, description="look back this many days")
    name: str = Field("", max_length=256, description="exact package name ('' = any)")
    # The observed-* actions: what the package database showed that the logs do not explain (the inventory).
    action: Literal[
        "",
        "install",
        "upgrade",
        "downgrade",
        "reinstall",
        "remove",
        "purge",
        "observed-installed",
        "observed-removed",
        "observed-purged",
    ] = ""
    source: Literal["", "apt", "dpkg", "dnf", "dnf-rpm", "dnf5", "brew"] = ""
    limit: int = Field(1000, ge=1, le=10_000)


@router.get("/admin/packages", response_model=Rows, responses={400: {"model": Problem}})
def packages(caller: Caller, q: Annotated[PackagesQuery, Query()], backend: CurrentBackend) -> Rows:
    """Package history, newest first, filtered by days, name, action and source (unknown parameters
    are refused, so a typo such as ?day=3 is an error, not a silent default)."""
    cypher, params = resolve("package-changes", q.model_dump(), datetime.now(UTC))
    return run_cypher(backend, cypher, params)
