"""The timetravel domain over HTTP: `at` on POST /query (run_at), the timeline and `why`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from watchman.api.auth import Caller
from watchman.api.base import CurrentBackend, Problem
from watchman.timetravel.http import at_time, settings_of
from watchman.timetravel.times import BadTime, parse_duration

router = APIRouter(tags=["timetravel"])


class Timeline(BaseModel):
    changes: list[dict[str, Any]]


@router.get("/timeline", response_model=Timeline, responses={400: {"model": Problem}})
def get_timeline(
    caller: Caller,
    backend: CurrentBackend,
    since: Annotated[str, Query(max_length=64, description="a time, or how long ago (1d)")] = "1d",
    until: Annotated[str | None, Query(max_length=64)] = None,
    domain: Annotated[list[str] | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Timeline:
    """Every domain's changes between `since` and `until`, oldest first, from the event log."""
    from watchman.timetravel.service import time_machine
    from watchman.timetravel.tail import select_topics
    from watchman.timetravel.timeline import domain_of, timeline

    try:
        topics = select_topics(domain or ())
    except KeyError as exc:
        raise HTTPException(400, str(exc.args[0])) from None
    wanted = frozenset(domain_of(t) for t in topics) if domain else frozenset()
    with time_machine(settings_of(backend)) as tm:
        changes = timeline(tm, at_time(since), at_time(until or "now"), domains=wanted, limit=limit)
    return Timeline(changes=changes)


@router.get("/why", responses={400: {"model": Problem}, 404: {"model": Problem}})
def get_why(
    caller: Caller,
    backend: CurrentBackend,
    subject: Annotated[str, Query(max_length=500)],
    at: Annotated[str | None, Query(max_length=64)] = None,
    window: Annotated[str, Query(max_length=16)] = "30m",
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    """The changes in the window before `subject`'s latest failure (at or before `at`), ranked."""
    from watchman.timetravel.service import rows_query, time_machine
    from watchman.timetravel.why import NothingToExplain, explain

    try:
        span = parse_duration(window)
    except BadTime as exc:
        raise HTTPException(400, str(exc)) from None
    when = at_time(at or "now")
    try:
        if at is None:

            def live(cypher: str, params: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
                r = backend.query(cypher, params, read_only=True)
                return r.columns, r.rows

            return explain(rows_query(live), subject, when, span, limit).to_json()
        with time_machine(settings_of(backend)) as tm, tm.at(when) as (store, _cut):

            def past(cypher: str, params: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
                r = store.query(cypher, params, read_only=True)
                return r.columns, r.rows

            return explain(rows_query(past), subject, when, span, limit).to_json()
    except NothingToExplain as exc:
        raise HTTPException(404, str(exc)) from None
