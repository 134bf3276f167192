"""Backups: the commands that ask for them, what the executor observed doing them, and the domain events.

The executor (watchman/executors/backups.py) acts and reports each stage as a BackupActivityObserved
record on `watchman.raw.backups` (forwarded like any observation in the distributed deployment); the
backups processor decides the domain events from those. A backup is named by `backup_id`
(`<job>-<UTC time>-<hash>`), deterministic from the command that asked for it, so a re-run after a crash
tells of the same backup.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.events.commands import CommandPayload, register_command
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

JOB_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
BACKUP_ID = r"^[a-z0-9][a-z0-9_-]{0,62}-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$"


# --- commands ----------------------------------------------------------------------------------------


@register_command
class TriggerBackup(CommandPayload):
    """Run the backup job `job` now (the scheduler issues it at each cron slot; the API and CLI on demand)."""

    TYPE: ClassVar[str] = "TriggerBackup"
    job: str = Field(pattern=JOB_NAME)
    # The cron slot this run is for (scheduler), else absent.
    slot: datetime | None = None


@register_command
class VerifyBackup(CommandPayload):
    """Check a stored backup: its object checksum, then a restore dry-run against its manifest.
    `recovery_test` marks a scheduled recovery test: its success records the RecoveryPoint as tested."""

    TYPE: ClassVar[str] = "VerifyBackup"
    job: str = Field(pattern=JOB_NAME)
    backup_id: str = Field(pattern=BACKUP_ID)
    recovery_test: bool = False


@register_command
class RestoreBackup(CommandPayload):
    """Restore a backup into `target_dir` (which must not hold the files already), or in place (over
    the live paths) only with `confirm` = "restore <backup_id> in place"."""

    TYPE: ClassVar[str] = "RestoreBackup"
    job: str = Field(pattern=JOB_NAME)
    backup_id: str = Field(pattern=BACKUP_ID)
    target_dir: str = Field("", max_length=4096)
    in_place: bool = False
    confirm: str = Field("", max_length=200)


@register_command
class PruneBackups(CommandPayload):
    """Apply the job's keep rules (restic's forget semantics) and delete the backups they do not keep."""

    TYPE: ClassVar[str] = "PruneBackups"
    job: str = Field(pattern=JOB_NAME)
    dry_run: bool = False


def in_place_phrase(backup_id: str) -> str:
    """What an in-place restore must be confirmed with, typed out."""
    return f"restore {backup_id} in place"


# --- the raw observation --------------------------------------------------------------------------

Stage = Literal["started", "completed", "failed", "verified", "verification_failed", "restored", "pruned"]


@register
class BackupActivityObserved(EventPayload):
    """What the backup executor did, one stage at a time (the raw record of watchman.raw.backups)."""

    TYPE: ClassVar[str] = "BackupActivityObserved"
    VERSION: ClassVar[int] = 1

    stage: Stage
    ts: datetime
    job: str
    backup_id: str
    kind: str = ""
    storage: str = ""  # the target as described (a URL without credentials)
    command_id: str = ""
    size: int = 0  # bytes stored (ciphertext)
    files: int = 0
    bytes: int = 0  # bytes of the files backed up / verified / restored
    checksum: str = ""
    duration_s: float = 0.0
    # kind neo4j: how long the database was stopped for its dump (Community dumps only a stopped one)
    downtime_s: float = 0.0
    created_at: datetime | None = None
    error: str = Field("", max_length=2000)
    recovery_test: bool = False
    restored_to: str = ""
    in_place: bool = False
    reasons: tuple[str, ...] = ()  # prune: why it was removed ("" reasons = not kept by any rule)

    @field_validator("ts", "created_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


# --- domain events ----------------------------------------------------------------------------------


class BackupEvent(EventPayload):
    VERSION: ClassVar[int] = 1

    job: str
    backup_id: str
    kind: str = ""
    storage: str = ""
    command_id: str = ""


@register
class BackupStarted(BackupEvent):
    TYPE: ClassVar[str] = "BackupStarted"


@register
class BackupCompleted(BackupEvent):
    TYPE: ClassVar[str] = "BackupCompleted"
    size: int
    files: int
    bytes: int
    checksum: str
    duration_s: float
    created_at: datetime | None = None
    downtime_s: float = 0.0  # kind neo4j: the database's stop -> dump -> start


@register
class BackupFailed(BackupEvent):
    TYPE: ClassVar[str] = "BackupFailed"
    error: str
    duration_s: float = 0.0


@register
class BackupVerified(BackupEvent):
    """The stored object's checksum matched and a restore dry-run found every file as its manifest says."""

    TYPE: ClassVar[str] = "BackupVerified"
    files: int
    bytes: int
    recovery_test: bool = False
    duration_s: float = 0.0


@register
class BackupVerificationFailed(BackupEvent):
    TYPE: ClassVar[str] = "BackupVerificationFailed"
    error: str
    recovery_test: bool = False


@register
class BackupRestored(BackupEvent):
    TYPE: ClassVar[str] = "BackupRestored"
    restored_to: str
    in_place: bool
    files: int
    bytes: int


@register
class BackupPruned(BackupEvent):
    """The backup was deleted from its storage by the job's keep rules."""

    TYPE: ClassVar[str] = "BackupPruned"
    reasons: tuple[str, ...] = ()


BACKUP_EVENTS: tuple[type[BackupEvent], ...] = (
    BackupStarted,
    BackupCompleted,
    BackupFailed,
    BackupVerified,
    BackupVerificationFailed,
    BackupRestored,
    BackupPruned,
)

# --- alerts -----------------------------------------------------------------------------------------

ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="BackupFailed",
        fires_on="BackupFailed",
        severity="critical",
        subject="job",
        summary="backup job {job} failed: {error}",
        resolves_on=("BackupCompleted",),
        ends_after_minutes=None,
    ),
    AlertKind(
        name="BackupVerificationFailed",
        fires_on="BackupVerificationFailed",
        severity="critical",
        subject="backup_id",
        summary="backup {backup_id} of job {job} failed verification: {error}",
        resolves_on=("BackupVerified",),
        ends_after_minutes=None,
    ),
)

# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_BACKUPS = Topic(
    "watchman.raw.backups",
    partitions=1,
    retention_days=30,
    retention_bytes=16 * MiB,
    description="BackupActivityObserved: what the backup executor did, stage by stage; key host/job.",
)
EVENTS_BACKUPS = Topic(
    "watchman.events.backups",
    partitions=1,
    retention_days=None,
    description="Backup* domain events (started, completed, failed, verified, restored, pruned); kept.",
)
BACKUP_JOB = NodeLabel(
    "BackupJob",
    key="key",
    props=(
        Prop("key", "STRING"),  # host/job
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("kind", "STRING", "latest"),
        Prop("last_status", "STRING", "latest"),
        Prop("last_success", "TIMESTAMP", "max"),
        Prop("last_failure", "TIMESTAMP", "max"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A configured backup job on a host (what it backs up, where to); key host/job.",
)
STORAGE_LOCATION = NodeLabel(
    "StorageLocation",
    key="url",
    props=(
        Prop("url", "STRING"),  # as the target describes itself: never a credential
        Prop("scheme", "STRING"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
    ),
    description="Where backups are stored: a directory, an S3 bucket/prefix, a host over ssh.",
)
RECOVERY_POINT = NodeLabel(
    "RecoveryPoint",
    key="id",
    props=(
        Prop("id", "STRING"),  # the backup id
        Prop("host", "STRING"),
        Prop("job", "STRING"),
        Prop("kind", "STRING"),
        # started | completed | failed | pruned (a failed run keeps its node: "which backups failed?")
        Prop("status", "STRING", "latest"),
        Prop("started_at", "TIMESTAMP", "min"),
        Prop("created_at", "TIMESTAMP", "max"),
        Prop("size", "INT64", "max"),
        Prop("files", "INT64", "max"),
        Prop("bytes", "INT64", "max"),
        Prop("checksum", "STRING", "latest"),
        Prop("error", "STRING", "latest"),
        Prop("verified", "STRING", "latest"),  # ok | failed (the latest verification)
        Prop("verified_at", "TIMESTAMP", "max"),
        Prop("tested", "BOOLEAN", "latest"),  # a recovery test (scheduled restore dry-run) passed
        Prop("test_date", "TIMESTAMP", "max"),
        Prop("restored_at", "TIMESTAMP", "max"),
        Prop("pruned_at", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One backup run and what it produced; key the backup id.",
)
DATABASE = NodeLabel(
    "Database",
    key="key",
    props=(
        Prop("key", "STRING"),  # host/name
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("engine", "STRING"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
    ),
    description="A database a backup job backs up (The Watchman's event log, its graph, a Neo4j).",
)
STORED_IN = RelType(
    "STORED_IN",
    (("BackupJob", "StorageLocation"), ("RecoveryPoint", "StorageLocation")),
    description="The job stores its backups there (the recovery point is there).",
)
CREATED = RelType("CREATED", (("BackupJob", "RecoveryPoint"),), description="The job's runs.")
BACKED_UP = RelType("BACKED_UP", (("BackupJob", "Database"),), description="The job backs up this database.")
BACKUP_RUNS_ON = RelType("RUNS_ON", (("BackupJob", "Host"),), description="The job runs on this host.")
ACTED_ON = RelType("ACTED_ON", (("Event", "RecoveryPoint"),))
TOPICS: tuple[Topic, ...] = (RAW_BACKUPS, EVENTS_BACKUPS)
NODES: tuple[NodeLabel, ...] = (BACKUP_JOB, STORAGE_LOCATION, RECOVERY_POINT, DATABASE)
RELS: tuple[RelType, ...] = (STORED_IN, CREATED, BACKED_UP, BACKUP_RUNS_ON, ACTED_ON)
