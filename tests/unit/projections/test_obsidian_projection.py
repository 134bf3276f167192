"""The Obsidian projection (pure) and its named queries' parameters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from projections.catalog import CatalogError, resolve
from projections.graph_ops import fold
from projections.obsidian import vault_key
from projections.registry import PROJECTORS
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.obsidian import (
    STEP_EVENTS,
    ObsidianConflictDetected,
    ObsidianNoteAdded,
    ObsidianVaultStatusChanged,
)

T = datetime(2026, 12, 4, 9, tzinfo=UTC)


def env(payload: EventPayload, eid: str) -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host="h1",
        source="processors.obsidian",
        ts=T,
        observed_at=T,
        subject="notes",
        payload=payload.model_dump(mode="json"),
    )


def project(p: EventPayload, eid: str = "e1") -> object:
    return fold(PROJECTORS[p.TYPE](env(p, eid), p))  # fold validates every op against the schema


def test_every_domain_type_has_a_projector() -> None:
    for cls in (*STEP_EVENTS.values(), ObsidianVaultStatusChanged, ObsidianNoteAdded):
        assert cls.TYPE in PROJECTORS


def test_a_conflict_is_a_sync_event_of_the_vault() -> None:
    p = ObsidianConflictDetected(
        ts=T,
        vault="notes",
        step="conflict",
        files_changed=1,
        paths=("Plan.md",),
        strategy="alert",
        copies={"Plan.md": "Plan (conflict ab).md"},
        needs_attention=True,
    )
    batch = project(p)
    e = batch.nodes["ObsidianSyncEvent"]["e1"].props  # type: ignore[attr-defined]
    assert (e["type"], e["strategy"], json.loads(e["copies"]), json.loads(e["paths"])) == (
        "conflict",
        "alert",
        {"Plan.md": "Plan (conflict ab).md"},
        ["Plan.md"],
    )
    rels = {(r.from_key, r.to_key) for r in batch.rels["SYNCED"]}  # type: ignore[attr-defined]
    assert rels == {("e1", vault_key("h1", "notes"))}
    assert batch.rels["KEPT_ON"]  # type: ignore[attr-defined]


def test_status_sets_the_vault_and_notes_count_per_day() -> None:
    s = ObsidianVaultStatusChanged(
        ts=T, vault="notes", path="/v", sync_status="in_sync", last_sync=T, note_count=7, total_size_mb=1.5
    )
    v = project(s).nodes["ObsidianVault"][vault_key("h1", "notes")].props  # type: ignore[attr-defined]
    assert (v["sync_status"], v["note_count"], v["last_sync"], v["id"]) == ("in_sync", 7, T, "notes")
    n = ObsidianNoteAdded(ts=T, vault="notes", path="a.md", commit_hash="c" * 40)
    note = project(n).nodes["ObsidianNote"]["h1/notes/a.md"].props  # type: ignore[attr-defined]
    assert (note["added_day"], note["path"]) == ("2026-12-04", "a.md")


def test_the_queries_resolve() -> None:
    for name in (
        "obsidian-last-sync",
        "obsidian-conflicts",
        "obsidian-sync-events-today",
        "obsidian-notes-added",
        "obsidian-sync-history",
    ):
        cypher, _ = resolve(name, {}, T)
        assert "$" in cypher and "'" not in cypher.replace("''", "")
    _, p = resolve("obsidian-sync-events-today", {}, T)
    assert p["since"] == datetime(2026, 12, 4, tzinfo=UTC)
    _, p = resolve("obsidian-notes-added", {"days": 7, "vault": "notes"}, T)
    assert p["vault"] == "notes" and (T - p["since"]).days == 7
    with pytest.raises(CatalogError):
        resolve("obsidian-notes-added", {"weeks": 1}, T)
