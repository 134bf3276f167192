"""Retention: the commands that apply policies and add exemptions, and what enforcement recorded.

A purge is itself an event (RetentionApplied). It names its criteria (label, time property, cutoff,
exempt record ids and date ranges, or for an archive the exact record ids archived), so applying it is
deterministic, and the stores keep it as a *rule*: a record that matches it is purged whenever it is
written, before or after the purge event in the log (projections/stores/purging.py). A replay therefore
gives the same purged graph whatever order the topics are read in.

The executor (watchman/executors/retention.py) decides and reports on `watchman.raw.retention`; the
retention processor copies each record to the domain topic with a deterministic id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.events.commands import CommandPayload, register_command
from schemas.model import AlertKind, MiB, NodeLabel, Prop, RelType, Topic

Strategy = Literal["soft_delete", "hard_delete", "archive"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
PURGE_CONFIRM = "purge"


def _utc_opt(v: datetime | None) -> datetime | None:
    return None if v is None else utc(v)


# --- commands ----------------------------------------------------------------------------------------


@register_command
class ApplyRetention(CommandPayload):
    """Apply the retention policies (one, or all with policy ""). Without dry_run it removes records and
    needs confirm = "purge" (the scheduler confirms for the configured schedule)."""

    TYPE: ClassVar[str] = "ApplyRetention"
    policy: str = Field("", max_length=64)
    dry_run: bool = True
    confirm: str = Field("", max_length=40)
    slot: datetime | None = None  # the cron slot (scheduler), else absent


@register_command
class ExemptRecords(CommandPayload):
    """Exempt records from retention: one record (label + key), a tag on a record (label + key + tag;
    policies with exempt_tagged keep tagged records), or a date range (label or every label)."""

    TYPE: ClassVar[str] = "ExemptRecords"
    label: str = Field("", max_length=64)
    key: str = Field("", max_length=512)
    tag: str = Field("", max_length=64)
    from_ts: datetime | None = None
    to_ts: datetime | None = None
    exemption_reason: str = Field(min_length=1, max_length=500)

    @field_validator("from_ts", "to_ts")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return _utc_opt(v)


@register_command
class RestoreArchive(CommandPayload):
    """Bring an archive's records back into the graph (and lift the purge that removed them)."""

    TYPE: ClassVar[str] = "RestoreArchive"
    archive: str = Field(min_length=1, max_length=300)  # the archive's object key
    confirm: str = Field("", max_length=40)


RESTORE_CONFIRM = "restore"


# --- records (raw and domain topics carry the same payloads) ----------------------------------------


@register
class RetentionApplied(EventPayload):
    """One policy was applied (or previewed, dry_run): what it removed and by which criteria."""

    TYPE: ClassVar[str] = "RetentionApplied"
    VERSION: ClassVar[int] = 1

    run_id: str  # the RetentionEvent's id (deterministic from command and policy)
    policy: str
    label: str
    action: Strategy
    dry_run: bool = False
    ts: datetime  # when it was decided; a soft delete's deleted_at
    time_property: str = "ts"
    cutoff: datetime | None = None
    exempt_keys: tuple[str, ...] = ()
    exempt_ranges: tuple[tuple[datetime, datetime], ...] = ()
    keys: tuple[str, ...] = ()  # archive: exactly the records archived (and so removed)
    records: int = 0
    bytes: int = 0  # freed: exact for an archive (JSON lines), estimated from a sample otherwise
    oldest: datetime | None = None
    newest: datetime | None = None
    kept: dict[str, int] = Field(default_factory=dict)  # reason -> records kept
    archive: str = ""  # object key in the archive storage
    archive_url: str = ""  # the storage, as described (no credential)
    archive_sha256: str = ""
    command_id: str = ""

    @field_validator("ts", "cutoff", "oldest", "newest")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return _utc_opt(v)


@register
class RetentionExempted(EventPayload):
    TYPE: ClassVar[str] = "RetentionExempted"
    VERSION: ClassVar[int] = 1

    exemption_id: str
    label: str = ""
    key: str = ""
    tag: str = ""
    from_ts: datetime | None = None
    to_ts: datetime | None = None
    reason: str
    ts: datetime
    command_id: str = ""

    @field_validator("ts", "from_ts", "to_ts")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return _utc_opt(v)


@register
class ArchiveRestored(EventPayload):
    """Part `part` of `parts` of an archive's records, brought back; the rule `run_id` is lifted."""

    TYPE: ClassVar[str] = "ArchiveRestored"
    VERSION: ClassVar[int] = 1

    run_id: str
    archive: str
    label: str
    part: int
    parts: int
    records: tuple[dict[str, Any], ...] = ()
    ts: datetime
    command_id: str = ""

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class ArchiveExpired(EventPayload):
    """An archive older than `archive_keep_days` was deleted from the archive storage."""

    TYPE: ClassVar[str] = "ArchiveExpired"
    VERSION: ClassVar[int] = 1

    run_id: str
    archive: str
    ts: datetime
    command_id: str = ""

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class RetentionFailed(EventPayload):
    """A policy could not be applied (an archive that did not verify: nothing was removed)."""

    TYPE: ClassVar[str] = "RetentionFailed"
    VERSION: ClassVar[int] = 1

    policy: str
    label: str
    error: str = Field(max_length=2000)
    ts: datetime
    command_id: str = ""


ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="RetentionFailed",
        fires_on="RetentionFailed",
        severity="warning",
        subject="policy",
        summary="retention policy {policy} ({label}) failed, nothing removed: {error}",
        resolves_on=("RetentionApplied",),
        ends_after_minutes=None,
    ),
)

# --- topics and graph ---------------------------------------------------------------------------------

RAW_RETENTION = Topic(
    "watchman.raw.retention",
    partitions=1,
    retention_days=30,
    retention_bytes=256 * MiB,
    description="What the retention executor decided (RetentionApplied, RetentionExempted, ...); key host.",
)
EVENTS_RETENTION = Topic(
    "watchman.events.retention",
    partitions=1,
    retention_days=None,
    description="Retention runs, exemptions and restores: the purge rules a replay applies. Kept.",
)
RETENTION_POLICY = NodeLabel(
    "RetentionPolicy",
    key="key",
    props=(
        Prop("key", "STRING"),  # host/policy
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("label", "STRING"),
        Prop("action", "STRING"),
        Prop("retention_days", "INT64"),
        Prop("last_applied", "TIMESTAMP", "max"),
        Prop("records_removed", "INT64"),  # by the last run
    ),
    description="A retention policy as it was applied (the audit trail's anchor); key host/policy.",
)
RETENTION_EVENT = NodeLabel(
    "RetentionEvent",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("host", "STRING"),
        Prop("policy", "STRING"),
        Prop("label", "STRING"),
        Prop("action", "STRING"),
        Prop("dry_run", "BOOLEAN"),
        Prop("ts", "TIMESTAMP"),
        Prop("cutoff", "TIMESTAMP"),
        Prop("records", "INT64"),
        Prop("bytes", "INT64"),
        Prop("oldest", "TIMESTAMP"),
        Prop("newest", "TIMESTAMP"),
        Prop("kept", "STRING"),  # JSON: reason -> records kept
        Prop("archive", "STRING"),
        Prop("archive_url", "STRING"),
        Prop("archive_sha256", "STRING"),
        Prop("restored_at", "TIMESTAMP", "max"),
        Prop("archive_expired_at", "TIMESTAMP", "max"),  # the archive was deleted (archive_keep_days)
        Prop("rule", "STRING"),  # JSON of the purge rule; "" once lifted (restored) or for a dry run
    ),
    description="One application of a policy: what it removed, by which rule; key the run id.",
)
RETENTION_EXEMPTION = NodeLabel(
    "RetentionExemption",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("host", "STRING"),
        Prop("label", "STRING"),
        Prop("record_key", "STRING"),
        Prop("tag", "STRING"),
        Prop("from_ts", "TIMESTAMP"),
        Prop("to_ts", "TIMESTAMP"),
        Prop("reason", "STRING"),
        Prop("created_at", "TIMESTAMP", "min"),
    ),
    description="A record, tagged record or date range kept whatever the policies say, with the reason.",
)
APPLIED = RelType("APPLIED", (("RetentionEvent", "RetentionPolicy"),), description="The run applied it.")
TOPICS: tuple[Topic, ...] = (RAW_RETENTION, EVENTS_RETENTION)
NODES: tuple[NodeLabel, ...] = (RETENTION_POLICY, RETENTION_EVENT, RETENTION_EXEMPTION)
RELS: tuple[RelType, ...] = (APPLIED,)
