"""Retention records to the domain topic (pure): the executor already decided them (it had to read the
graph and the archive storage to do so); the event id comes from the raw record's, so a redelivered
record is the same event."""

from __future__ import annotations

from processors.routing import Route
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.retention import (
    EVENTS_RETENTION,
    RAW_RETENTION,
    ArchiveExpired,
    ArchiveRestored,
    RetentionApplied,
    RetentionExempted,
    RetentionFailed,
)

SOURCE = "processors.retention"


def decide(raw: Envelope, payload: EventPayload, table: Table) -> list[Envelope]:
    return [raw.model_copy(update={"id": event_id(SOURCE, raw.id), "source": SOURCE, "causation_id": raw.id})]


ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_RETENTION,
        sink=EVENTS_RETENTION,
        table="retention",
        decide={
            t.TYPE: decide
            for t in (RetentionApplied, RetentionExempted, ArchiveRestored, ArchiveExpired, RetentionFailed)
        },
    ),
)
