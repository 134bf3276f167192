"""The Obsidian processor: one domain event per sync step and added note; vault status when it changes
or at the heartbeat; a redelivered record gives the same events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processors.obsidian import ROUTES
from processors.tables import MemoryTable
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.obsidian import (
    ObsidianNoteAddedObserved,
    ObsidianSyncObserved,
    ObsidianVaultObserved,
)

T = datetime(2026, 12, 4, 9, tzinfo=UTC)
ROUTE = ROUTES[0]


def raw(obs: EventPayload, *parts: str) -> bytes:
    return Envelope(
        id=event_id("raw", "h", *parts),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host="h",
        source="obsidian.sync",
        ts=getattr(obs, "ts"),  # noqa: B009
        observed_at=T,
        subject="notes",
        payload=obs.model_dump(mode="json"),
    ).to_json()


def status(ts: datetime, **kw: object) -> ObsidianVaultObserved:
    fields: dict[str, object] = {"vault": "notes", "path": "/v", "sync_status": "in_sync", "note_count": 3}
    return ObsidianVaultObserved(ts=ts, last_sync=ts, **{**fields, **kw})  # type: ignore[arg-type]


def test_each_step_is_its_domain_event() -> None:
    table = MemoryTable()
    names = {}
    for step in ("auto_commit", "pull", "push", "conflict", "conflict_resolved", "media"):
        obs = ObsidianSyncObserved(ts=T, vault="notes", step=step, files_changed=2, commit_hash="c" * 40)  # type: ignore[arg-type]
        [out] = ROUTE.handle(raw(obs, step), table)
        names[step] = out.type
        assert out.payload["files_changed"] == 2 and out.subject == "notes"
    assert names == {
        "auto_commit": "ObsidianAutoCommitted",
        "pull": "ObsidianPulled",
        "push": "ObsidianPushed",
        "conflict": "ObsidianConflictDetected",
        "conflict_resolved": "ObsidianConflictResolved",
        "media": "ObsidianMediaSynced",
    }


def test_notes_added_and_same_ids_for_the_same_record() -> None:
    obs = ObsidianNoteAddedObserved(ts=T, vault="notes", path="a.md", commit_hash="c" * 40)
    first = ROUTE.handle(raw(obs, "n"), MemoryTable())
    again = ROUTE.handle(raw(obs, "n"), MemoryTable())
    assert [e.id for e in first] == [e.id for e in again] and first[0].type == "ObsidianNoteAdded"


def test_status_only_when_it_changes_or_the_heartbeat_is_due() -> None:
    table = MemoryTable()
    assert len(ROUTE.handle(raw(status(T), "s1"), table)) == 1
    # The same state a minute later: nothing (only its time moved).
    assert ROUTE.handle(raw(status(T + timedelta(minutes=1)), "s2"), table) == []
    # A change: at once.
    [changed] = ROUTE.handle(raw(status(T + timedelta(minutes=2), note_count=4), "s3"), table)
    assert changed.type == "ObsidianVaultStatusChanged" and changed.payload["note_count"] == 4
    # Unchanged but the heartbeat is due: last_sync stays current in the graph.
    assert ROUTE.handle(raw(status(T + timedelta(minutes=10), note_count=4), "s4"), table) == []
    assert len(ROUTE.handle(raw(status(T + timedelta(minutes=17), note_count=4), "s5"), table)) == 1
    # A record delivered again is answered as before, not with silence.
    assert [e.id for e in ROUTE.handle(raw(status(T + timedelta(minutes=2), note_count=4), "s3"), table)] == [
        changed.id
    ]
