"""The Obsidian questions on both graph stores (embedded LadybugDB and a real Neo4j): the same events
projected, the same answers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from processors.obsidian import ROUTES
from processors.tables import MemoryTable
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.base import GraphStore
from projections.stores.ladybug import LadybugStore
from projections.stores.neo4j import Neo4jStore
from schemas.envelope import Envelope, event_id
from schemas.events import decode_payload
from schemas.events.base import EventPayload
from schemas.events.obsidian import ObsidianNoteAddedObserved, ObsidianSyncObserved, ObsidianVaultObserved

# Resets the infra/ Neo4j: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.replace(hour=0, minute=0, second=0)


def _raw(obs: EventPayload, n: int) -> bytes:
    return Envelope(
        id=event_id("raw", "h1", str(n)),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host="h1",
        source="obsidian.sync",
        ts=getattr(obs, "ts"),  # noqa: B009
        observed_at=NOW,
        subject=getattr(obs, "vault"),  # noqa: B009
        payload=obs.model_dump(mode="json"),
    ).to_json()


def _history() -> list[EventPayload]:
    t = TODAY + timedelta(minutes=1)
    old = NOW - timedelta(days=20)
    return [
        ObsidianNoteAddedObserved(ts=old, vault="notes", path="Old.md", commit_hash="a" * 40),
        ObsidianNoteAddedObserved(ts=t, vault="notes", path="New.md", commit_hash="b" * 40),
        ObsidianNoteAddedObserved(ts=t, vault="notes", path="Dir/Two.md", commit_hash="b" * 40),
        ObsidianNoteAddedObserved(ts=t, vault="work", path="W.md", commit_hash="c" * 40),
        ObsidianSyncObserved(ts=t, vault="notes", step="auto_commit", files_changed=2, commit_hash="b" * 40),
        ObsidianSyncObserved(ts=t, vault="notes", step="push", files_changed=2, commit_hash="b" * 40),
        ObsidianSyncObserved(ts=old, vault="notes", step="pull", files_changed=1, commit_hash="a" * 40),
        ObsidianSyncObserved(
            ts=t,
            vault="work",
            step="conflict",
            files_changed=1,
            paths=("W.md",),
            strategy="alert",
            copies={"W.md": "W (conflict cc).md"},
            needs_attention=True,
        ),
        ObsidianVaultObserved(
            ts=t,
            vault="notes",
            path="/v/notes",
            sync_status="in_sync",
            last_sync=t,
            note_count=3,
            file_count=4,
        ),
        ObsidianVaultObserved(
            ts=t,
            vault="work",
            path="/v/work",
            sync_status="in_sync",
            last_sync=t,
            note_count=2,
            open_conflicts=1,
        ),
    ]


def _project(store: GraphStore) -> None:
    table = MemoryTable()
    ops = []
    for n, obs in enumerate(_history()):
        for ev in ROUTES[0].handle(_raw(obs, n), table):
            payload = decode_payload(ev.type, ev.schema_version, ev.payload)
            ops += PROJECTORS[ev.type](ev, payload)
    store.apply(ops, {"watchman.events.obsidian/0": len(ops)})


@pytest.fixture(params=["ladybug", "neo4j"], scope="module")
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    s: GraphStore
    if request.param == "ladybug":
        s = LadybugStore(Path(tmp_path_factory.mktemp("obsidian-graph")) / "graph")
    else:
        s = Neo4jStore(
            os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687"),
            os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j"),
            os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password"),
        )
        s.wipe(confirm=True)  # type: ignore[attr-defined]
    s.ensure_schema()
    _project(s)
    yield s
    s.close()


def ask(store: GraphStore, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, NOW)
    return store.query(cypher, p, read_only=True).dicts()


def test_last_sync(store: GraphStore) -> None:
    rows = ask(store, "obsidian-last-sync")
    assert [(r["vault"], r["sync_status"], r["notes"], r["open_conflicts"]) for r in rows] == [
        ("notes", "in_sync", 3, 0),
        ("work", "in_sync", 2, 1),
    ]
    assert [r["vault"] for r in ask(store, "obsidian-last-sync", vault="work")] == ["work"]


def test_conflicts(store: GraphStore) -> None:
    [row] = ask(store, "obsidian-conflicts")
    assert (row["vault"], row["strategy"], row["needs_attention"], row["open_now"]) == (
        "work",
        "alert",
        True,
        1,
    )
    assert json.loads(row["copies"]) == {"W.md": "W (conflict cc).md"}


def test_sync_events_today(store: GraphStore) -> None:
    rows = ask(store, "obsidian-sync-events-today")
    assert sorted((r["vault"], r["type"]) for r in rows) == [
        ("notes", "auto_commit"),
        ("notes", "push"),
        ("work", "conflict"),
    ]
    assert len(ask(store, "obsidian-sync-history", days=30, vault="notes")) == 3


def test_notes_added_this_week(store: GraphStore) -> None:
    rows = ask(store, "obsidian-notes-added")
    assert [(r["vault"], r["day"], r["notes_added"]) for r in rows] == [
        ("notes", f"{TODAY:%Y-%m-%d}", 2),
        ("work", f"{TODAY:%Y-%m-%d}", 1),
    ]
    assert sum(r["notes_added"] for r in ask(store, "obsidian-notes-added", days=30)) == 4
