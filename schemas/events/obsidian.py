"""Obsidian vault sync: what the vault syncer observed (raw), the sync domain events, the SyncObsidianVault
command, the vault/sync-event/note graph and the conflict alert.

A vault is a git working tree the host keeps in sync with a remote (commit after edits settle, pull,
push); media files go by rsync, never through git. The syncer (producers/obsidian/) reports each step it
took as an ObsidianSyncObserved, the vault's state after a sync as ObsidianVaultObserved, and every note
the git history adds as ObsidianNoteAddedObserved.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.events.commands import CommandPayload, register_command
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

# What a step of a sync was: the four the issue names, plus a conflict's resolution and a media transfer.
SyncStep = Literal["auto_commit", "pull", "push", "conflict", "conflict_resolved", "media"]
# What set a sync off: edits that settled, the interval, a command (API/CLI), the source's start.
Trigger = Literal["edit", "interval", "command", "start"]
ConflictStrategy = Literal["alert", "latest", "manual"]
# in_sync: nothing to commit, pull or push; ahead/behind: the remote could not be reached to finish;
# conflict: a conflict waits for someone (manual strategy, or markers left in a note); error: git failed.
SyncStatus = Literal["in_sync", "ahead", "behind", "conflict", "error", "no_remote"]


class _Timed(EventPayload):
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


class _Step(_Timed):
    """One step of a sync of one vault (raw and domain events share the fields)."""

    VERSION: ClassVar[int] = 1

    vault: str
    step: SyncStep
    trigger: Trigger = "interval"
    files_changed: int = 0
    commit_hash: str | None = None
    # The files the step touched (bounded: the first 200); for a conflict, the conflicted notes.
    paths: tuple[str, ...] = ()
    # conflict: the strategy that applied, and the copies that keep the other side (note -> copy).
    strategy: ConflictStrategy | None = None
    copies: dict[str, str] = Field(default_factory=dict)
    # conflict: someone has to look (alert, manual); latest resolves by itself and only tells.
    needs_attention: bool = False
    detail: str = ""


@register
class ObsidianSyncObserved(_Step):
    TYPE: ClassVar[str] = "ObsidianSyncObserved"


@register
class ObsidianVaultObserved(_Timed):
    """A vault's state after a sync (or a sync that could not run)."""

    TYPE: ClassVar[str] = "ObsidianVaultObserved"
    VERSION: ClassVar[int] = 1

    vault: str
    path: str
    git_remote: str | None = None
    sync_status: SyncStatus
    last_sync: datetime | None = None
    head: str | None = None
    ahead: int = 0
    behind: int = 0
    file_count: int = 0
    note_count: int = 0
    media_count: int = 0
    total_size_mb: float = 0.0
    # Conflicted notes that wait for someone (their copies for alert, their markers for manual).
    open_conflicts: int = 0
    auto_sync_paused: bool = False
    detail: str = ""

    @field_validator("last_sync")
    @classmethod
    def _utc_last(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


@register
class ObsidianNoteAddedObserved(_Timed):
    """A note (a .md file) added by a commit of the vault's history; ts is the commit's time."""

    TYPE: ClassVar[str] = "ObsidianNoteAddedObserved"
    VERSION: ClassVar[int] = 1

    vault: str
    path: str
    commit_hash: str


class ObsidianSyncEvent(_Step):
    """Base of the sync domain events (one per step type)."""


@register
class ObsidianAutoCommitted(ObsidianSyncEvent):
    TYPE: ClassVar[str] = "ObsidianAutoCommitted"


@register
class ObsidianPulled(ObsidianSyncEvent):
    TYPE: ClassVar[str] = "ObsidianPulled"


@register
class ObsidianPushed(ObsidianSyncEvent):
    TYPE: ClassVar[str] = "ObsidianPushed"


@register
class ObsidianConflictDetected(ObsidianSyncEvent):
    """Both sides changed the same note. Nothing is lost: see `strategy` and `copies`."""

    TYPE: ClassVar[str] = "ObsidianConflictDetected"


@register
class ObsidianConflictResolved(ObsidianSyncEvent):
    TYPE: ClassVar[str] = "ObsidianConflictResolved"


@register
class ObsidianMediaSynced(ObsidianSyncEvent):
    TYPE: ClassVar[str] = "ObsidianMediaSynced"


@register
class ObsidianVaultStatusChanged(ObsidianVaultObserved):
    TYPE: ClassVar[str] = "ObsidianVaultStatusChanged"


@register
class ObsidianNoteAdded(ObsidianNoteAddedObserved):
    TYPE: ClassVar[str] = "ObsidianNoteAdded"


STEP_EVENTS: dict[str, type[ObsidianSyncEvent]] = {
    "auto_commit": ObsidianAutoCommitted,
    "pull": ObsidianPulled,
    "push": ObsidianPushed,
    "conflict": ObsidianConflictDetected,
    "conflict_resolved": ObsidianConflictResolved,
    "media": ObsidianMediaSynced,
}


@register_command
class SyncObsidianVault(CommandPayload):
    """Sync one vault now (commit, pull, push, media), whatever its auto_sync and interval say."""

    TYPE: ClassVar[str] = "SyncObsidianVault"
    vault: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# --- topics, graph and alerts: what this domain declares (schemas/topics.py and schemas/graph.py collect) ---

RAW_OBSIDIAN = Topic(
    "watchman.raw.obsidian",
    partitions=2,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="ObsidianSyncObserved / ObsidianVaultObserved / ObsidianNoteAddedObserved; key host/vault.",
)
EVENTS_OBSIDIAN = Topic(
    "watchman.events.obsidian",
    partitions=2,
    retention_days=None,
    description="Obsidian* sync, status and note events; key host/vault. Kept forever.",
)
OBSIDIAN_VAULT = NodeLabel(
    "ObsidianVault",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("id", "STRING"),
        Prop("name", "STRING"),
        Prop("path", "STRING", "latest"),
        Prop("git_remote", "STRING", "latest"),
        Prop("last_sync", "TIMESTAMP", "max"),
        Prop("sync_status", "STRING", "latest"),
        Prop("head", "STRING", "latest"),
        Prop("ahead", "INT64", "latest"),
        Prop("behind", "INT64", "latest"),
        Prop("file_count", "INT64", "latest"),
        Prop("note_count", "INT64", "latest"),
        Prop("media_count", "INT64", "latest"),
        Prop("total_size_mb", "DOUBLE", "latest"),
        Prop("open_conflicts", "INT64", "latest"),
        Prop("auto_sync_paused", "BOOLEAN", "latest"),
        Prop("detail", "STRING", "latest"),
        UPDATED_AT,
    ),
    description="An Obsidian vault this host syncs; key host/vault name (the vault's id is its name).",
)
OBSIDIAN_SYNC_EVENT = NodeLabel(
    "ObsidianSyncEvent",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("host", "STRING"),
        Prop("vault", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("type", "STRING"),  # auto_commit | pull | push | conflict | conflict_resolved | media
        Prop("trigger", "STRING"),
        Prop("files_changed", "INT64"),
        Prop("commit_hash", "STRING"),
        Prop("paths", "STRING"),  # JSON list
        Prop("strategy", "STRING"),
        Prop("copies", "STRING"),  # JSON object note -> copy
        Prop("needs_attention", "BOOLEAN"),
        Prop("detail", "STRING"),
    ),
    description="One step of one sync of a vault (the sync history).",
)
OBSIDIAN_NOTE = NodeLabel(
    "ObsidianNote",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("vault", "STRING"),
        Prop("path", "STRING"),
        Prop("added_at", "TIMESTAMP", "min"),
        Prop("added_day", "STRING", "min"),  # YYYY-MM-DD (UTC) of added_at: notes per day, in both stores
        Prop("commit_hash", "STRING"),
    ),
    description="A note of a vault, from the commit that added it; key host/vault/path.",
)
SYNCED = RelType(
    "SYNCED", (("ObsidianSyncEvent", "ObsidianVault"),), description="The step synced this vault."
)
IN_VAULT = RelType("IN_VAULT", (("ObsidianNote", "ObsidianVault"),), description="The note is in this vault.")
KEPT_ON = RelType("KEPT_ON", (("ObsidianVault", "Host"),), description="The vault lives on this host.")
TOPICS: tuple[Topic, ...] = (RAW_OBSIDIAN, EVENTS_OBSIDIAN)
NODES: tuple[NodeLabel, ...] = (OBSIDIAN_VAULT, OBSIDIAN_SYNC_EVENT, OBSIDIAN_NOTE)
RELS: tuple[RelType, ...] = (SYNCED, IN_VAULT, KEPT_ON)

ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="ObsidianSyncConflict",
        fires_on="ObsidianConflictDetected",
        when=(("needs_attention", True),),
        severity="warning",
        subject="vault",
        summary="vault {vault}: sync conflict in {files_changed} note(s), strategy {strategy}: {detail}",
        # Resolved by the vault's state, not by ObsidianConflictResolved: the clone that raised the alert
        # may learn of the resolution only by pulling it (another device deleted the copies), and the
        # state is what every clone reports after every change.
        resolves_on=("ObsidianVaultStatusChanged",),
        resolves_when=(("open_conflicts", 0),),
        ends_after_minutes=None,
    ),
)
