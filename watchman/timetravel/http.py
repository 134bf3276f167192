"""The timetravel domain's HTTP helpers, shared by its router and by POST /query's `at` (routers never
import each other): a time from the request, the process's settings, and Cypher at a time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from watchman.api.base import Rows, Unsupported
from watchman.timetravel.times import BadTime, parse_time
from watchman.values import jsonable

if TYPE_CHECKING:
    from watchman.api.base import Backend
    from watchman.settings import Settings


def at_time(text: str) -> datetime:
    try:
        return parse_time(text, datetime.now(UTC))
    except BadTime as exc:
        raise HTTPException(400, str(exc)) from None


def settings_of(backend: Backend) -> Settings:
    settings: Settings | None = getattr(backend, "settings", None)
    if settings is None:
        raise Unsupported(
            f"this {backend.role} has no event log to travel in: ask the daemon or the projector"
        )
    return settings


def run_at(backend: Backend, cypher: str, params: Mapping[str, Any], at: datetime) -> Rows:
    """Read-only Cypher on the graph as it was at `at` (a replay of the log cut there)."""
    from projections.stores.base import QueryRefused
    from watchman.timetravel.service import query_at

    try:
        columns, rows, _cut = query_at(settings_of(backend), cypher, params, at)
    except QueryRefused as exc:
        raise HTTPException(400, str(exc)) from None
    except (RuntimeError, ValueError, TypeError) as exc:  # LadybugDB: Cypher errors are RuntimeError
        raise HTTPException(400, f"query failed: {exc}") from None
    return Rows(columns=columns, rows=[dict(zip(columns, jsonable(r), strict=True)) for r in rows])
