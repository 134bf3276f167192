"""Decide the Obsidian sync domain events from what the vault syncer observed (pure: no I/O, no clock).

- each sync step is one domain event (ObsidianAutoCommitted, ObsidianPulled, ObsidianPushed,
  ObsidianConflictDetected, ObsidianConflictResolved, ObsidianMediaSynced), its id from the raw id;
- a note the history added is ObsidianNoteAdded;
- a vault's state after a sync becomes ObsidianVaultStatusChanged when anything but its time changed,
  or at least every HEARTBEAT (so `last_sync` stays current without an event for every quiet sync:
  a 5-minute interval would otherwise add ~100k events a year per vault to a topic kept forever).

A raw record delivered again is answered with what it decided then (processors/memo.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from processors.memo import recall, remember
from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.obsidian import (
    EVENTS_OBSIDIAN,
    RAW_OBSIDIAN,
    STEP_EVENTS,
    ObsidianNoteAdded,
    ObsidianNoteAddedObserved,
    ObsidianSyncObserved,
    ObsidianVaultObserved,
    ObsidianVaultStatusChanged,
)

SOURCE = "processors.obsidian"
HEARTBEAT = timedelta(minutes=15)
# What makes a status new; the time fields alone do not.
_UNTIMED = frozenset({"ts", "last_sync"})


def _event(raw: Envelope, payload: EventPayload, ts: datetime) -> Envelope:
    return Envelope(
        id=event_id("obsidian", raw.id, payload.TYPE),
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=ts,
        observed_at=raw.observed_at,
        subject=raw.subject,
        causation_id=raw.id,
        payload=payload.model_dump(mode="json"),
    )


def decide_step(raw: Envelope, obs: ObsidianSyncObserved, table: Table) -> list[Envelope]:
    event = STEP_EVENTS[obs.step](**obs.model_dump())
    return [_event(raw, event, obs.ts)]


def decide_note(raw: Envelope, obs: ObsidianNoteAddedObserved, table: Table) -> list[Envelope]:
    return [_event(raw, ObsidianNoteAdded(**obs.model_dump()), obs.ts)]


def decide_status(raw: Envelope, obs: ObsidianVaultObserved, table: Table) -> list[Envelope]:
    key = f"{raw.host}/{obs.vault}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    state: dict[str, Any] = table.get(f"status/{key}") or {}
    fields = {k: v for k, v in obs.model_dump(mode="json").items() if k not in _UNTIMED}
    last = state.get("emitted_at")
    due = last is None or obs.ts - datetime.fromisoformat(last) >= HEARTBEAT
    if fields == state.get("fields") and not due:
        return remember(table, key, raw.id, [])
    table.set(f"status/{key}", {"fields": fields, "emitted_at": obs.ts.isoformat()})
    out = [_event(raw, ObsidianVaultStatusChanged(**obs.model_dump()), obs.ts)]
    return remember(table, key, raw.id, out)


ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_OBSIDIAN,
        sink=EVENTS_OBSIDIAN,
        table="obsidian",
        decide={
            ObsidianSyncObserved.TYPE: typed(ObsidianSyncObserved, decide_step),
            ObsidianNoteAddedObserved.TYPE: typed(ObsidianNoteAddedObserved, decide_note),
            ObsidianVaultObserved.TYPE: typed(ObsidianVaultObserved, decide_status),
        },
    ),
)
