"""Project the Obsidian sync events into the graph (pure):

(:ObsidianVault {key, id, name, path, git_remote, last_sync, sync_status, file_count, note_count, ...})
   -[:KEPT_ON]->(:Host)
(:ObsidianSyncEvent {id, type, ts, files_changed, commit_hash, ...})-[:SYNCED]->(:ObsidianVault)
(:ObsidianNote {key, path, added_at})-[:IN_VAULT]->(:ObsidianVault)
"""

from __future__ import annotations

import json
from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.obsidian import (
    STEP_EVENTS,
    ObsidianNoteAdded,
    ObsidianSyncEvent,
    ObsidianVaultStatusChanged,
)


def vault_key(host: str, vault: str) -> str:
    return f"{host}/{vault}"


def _vault(event: Envelope, vault: str) -> list[GraphOp]:
    key = vault_key(event.host, vault)
    ts = event.ts
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": ts, "last_seen": ts}),
        UpsertNode("ObsidianVault", key, {"host": event.host, "id": vault, "name": vault}),
        UpsertRel("KEPT_ON", "ObsidianVault", key, "Host", event.host),
    ]


def project_step(event: Envelope, p: ObsidianSyncEvent) -> list[GraphOp]:
    key = vault_key(event.host, p.vault)
    props: dict[str, Any] = {
        "host": event.host,
        "vault": p.vault,
        "ts": p.ts,
        "type": p.step,
        "trigger": p.trigger,
        "files_changed": p.files_changed,
        "commit_hash": p.commit_hash,
        "paths": json.dumps(list(p.paths)),
        "strategy": p.strategy,
        "copies": json.dumps(p.copies, sort_keys=True),
        "needs_attention": p.needs_attention,
        "detail": p.detail,
    }
    return [
        *_vault(event, p.vault),
        UpsertNode("ObsidianSyncEvent", event.id, props),
        UpsertRel("SYNCED", "ObsidianSyncEvent", event.id, "ObsidianVault", key),
    ]


def project_status(event: Envelope, p: ObsidianVaultStatusChanged) -> list[GraphOp]:
    key = vault_key(event.host, p.vault)
    props: dict[str, Any] = {
        "path": p.path,
        "git_remote": p.git_remote,
        "sync_status": p.sync_status,
        "head": p.head,
        "ahead": p.ahead,
        "behind": p.behind,
        "file_count": p.file_count,
        "note_count": p.note_count,
        "media_count": p.media_count,
        "total_size_mb": p.total_size_mb,
        "open_conflicts": p.open_conflicts,
        "auto_sync_paused": p.auto_sync_paused,
        "detail": p.detail,
        "updated_at": p.ts,
    }
    if p.last_sync is not None:
        props["last_sync"] = p.last_sync
    return [*_vault(event, p.vault), UpsertNode("ObsidianVault", key, props, ts=p.ts)]


def project_note(event: Envelope, p: ObsidianNoteAdded) -> list[GraphOp]:
    vkey = vault_key(event.host, p.vault)
    key = f"{vkey}/{p.path}"
    props = {
        "host": event.host,
        "vault": p.vault,
        "path": p.path,
        "added_at": p.ts,
        "added_day": f"{p.ts:%Y-%m-%d}",
        "commit_hash": p.commit_hash,
    }
    return [
        *_vault(event, p.vault),
        UpsertNode("ObsidianNote", key, props),
        UpsertRel("IN_VAULT", "ObsidianNote", key, "ObsidianVault", vkey),
    ]


PROJECTORS: dict[str, Project] = {
    **{cls.TYPE: typed(cls, project_step) for cls in STEP_EVENTS.values()},
    ObsidianVaultStatusChanged.TYPE: typed(ObsidianVaultStatusChanged, project_status),
    ObsidianNoteAdded.TYPE: typed(ObsidianNoteAdded, project_note),
}
