"""The retention domain in the shell: the policies (per graph label), the exemptions, the archive storage
and the enforcement schedule (docs/domains/retention.md).

    [retention]
    enforcement_schedule = "30 3 * * *"   # cron (UTC); "" = only on demand
    dry_run = false                       # the schedule only previews (records a dry-run RetentionEvent)
    retention_days = 90                   # default for a policy that names none
    purge_strategy = "hard_delete"        # default: soft_delete | hard_delete | archive
    archive_url = "s3://archive/watchman?endpoint=http://127.0.0.1:8333&access_key=secret:s3.access&secret_key=secret:s3.secret"

    [retention.policies.LogEvent]         # the policy's name; `label` defaults to it
    retention_days = 30
    purge_strategy = "archive"
    keep_monthly = 12                     # the newest record of each of the last 12 months (restic's)
    exempt_tagged = true                  # records tagged through an exemption stay

    [retention.topics."watchman.raw.journal"]
    retention_days = 3                    # a log topic's retention in place of the code's (embedded log)

    [[retention.exemptions]]
    label = "LogEvent"
    key = "3f2a..."                       # one record; or tag = "incident-42" with a key; or from/to
    reason = "evidence for incident 42"
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.events.retention import NAME, Strategy

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore


class PolicySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = ""  # the graph label; default: the policy's name
    retention_days: int | None = Field(None, ge=0)  # None: [retention] retention_days
    purge_strategy: Strategy | None = None  # None: [retention] purge_strategy
    time_property: str = "ts"
    keep_monthly: int = Field(0, ge=0)
    exempt_tagged: bool = True
    keep_metadata: bool = True  # the (:RetentionEvent) audit node stays whatever the strategy
    enabled: bool = True


class TopicRetention(BaseModel):
    """A log topic's retention in place of the code's (None keeps the code's; 0 = no limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retention_days: int | None = Field(None, ge=0)
    retention_bytes: int | None = Field(None, ge=0)


class ExemptionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = ""
    key: str = ""
    tag: str = ""
    from_ts: datetime | None = Field(None, alias="from")
    to_ts: datetime | None = Field(None, alias="to")
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> ExemptionSettings:
        if not self.key and (self.from_ts is None or self.to_ts is None):
            raise ValueError("an exemption names a record (label + key) or a date range (from + to)")
        if self.key and not self.label:
            raise ValueError("a record exemption names its label")
        return self


# Documented defaults (docs/domains/retention.md): a busy host's graph stays bounded. Event-like labels
# only; state nodes (Service, Container, ...) are overwritten in place and do not grow.
DEFAULT_POLICIES: dict[str, PolicySettings] = {
    "LogEvent": PolicySettings(retention_days=30),
    "ServiceMetrics": PolicySettings(retention_days=14),
    "Event": PolicySettings(retention_days=180, purge_strategy="soft_delete"),
    "Login": PolicySettings(retention_days=365),
    "SudoCommand": PolicySettings(retention_days=365),
    "ObsidianSyncEvent": PolicySettings(retention_days=90),
    "ConfigVersion": PolicySettings(retention_days=365, keep_monthly=24),
}


class RetentionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    enforcement_schedule: str = "30 3 * * *"
    timezone: str = "UTC"
    dry_run: bool = False
    retention_days: int = Field(90, ge=0)
    purge_strategy: Strategy = "hard_delete"
    archive_url: str = ""
    archive_keep_days: int = Field(0, ge=0)  # archives older than this are deleted by a purge run; 0 = kept
    policies: dict[str, PolicySettings] = Field(default_factory=lambda: dict(DEFAULT_POLICIES))
    exemptions: tuple[ExemptionSettings, ...] = ()
    # Log topics (embedded log): `[retention.topics."watchman.raw.journal"] retention_days = 7`.
    topics: dict[str, TopicRetention] = Field(default_factory=dict)
    # The resources domain's interface: ResourcesSampled older than this many hours leave the log except the
    # last of each hour (0 keeps every sample).
    resources_keep_hours: int = Field(24, ge=0)

    @field_validator("policies")
    @classmethod
    def _names(cls, v: dict[str, PolicySettings]) -> dict[str, PolicySettings]:
        for name in v:
            if not re.match(NAME, name):
                raise ValueError(f"retention policy name {name!r}: letters, digits, '.', '-', '_'")
        return v

    @field_validator("enforcement_schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if v:
            from watchman.scheduler import check_cron

            check_cron(v)
        return v

    @model_validator(mode="after")
    def _archive_needs_storage(self) -> RetentionSettings:
        for name, p in self.policies.items():
            if self.strategy(p) == "archive" and not self.archive_url:
                raise ValueError(f"retention policy {name} archives: set [retention] archive_url")
        return self

    def strategy(self, p: PolicySettings) -> Strategy:
        return p.purge_strategy or self.purge_strategy

    def days(self, p: PolicySettings) -> int:
        return self.retention_days if p.retention_days is None else p.retention_days

    @staticmethod
    def label(name: str, p: PolicySettings) -> str:
        return p.label or name


SCHEDULER = "retention"


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    r = settings.retention
    if not r.enabled or not r.enforcement_schedule:
        return []
    from schemas.events.retention import PURGE_CONFIRM, ApplyRetention
    from watchman.scheduler import ScheduledJob, ScheduleSource

    cmd = ApplyRetention(
        issued_by="scheduler",
        reason=f"enforcement_schedule {r.enforcement_schedule}",
        dry_run=r.dry_run,
        confirm="" if r.dry_run else PURGE_CONFIRM,
    )
    job = ScheduledJob("enforce", r.enforcement_schedule, cmd, r.timezone)
    return [
        ScheduleSource(SCHEDULER, settings.host, [job], cursors.get(ScheduleSource.cursor_name(SCHEDULER)))
    ]


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    opts: dict[str, object] = {"settings": settings.retention, "data_dir": settings.data_dir}
    return dict.fromkeys(("ApplyRetention", "ExemptRecords", "RestoreArchive"), opts)


def describe(settings: Settings) -> list[tuple[str, str]]:
    from watchman.storage import redact_url

    r = settings.retention
    if not r.enabled:
        return [("retention", "disabled")]
    out = [
        (
            "retention",
            f"schedule {r.enforcement_schedule or 'on demand'}"
            f"{' (dry run)' if r.dry_run else ''}; archive {redact_url(r.archive_url) or 'none'}",
        )
    ]
    for name, p in sorted(r.policies.items()):
        if p.enabled:
            out.append((f"retention {name}", f"{r.label(name, p)}: {r.strategy(p)} after {r.days(p)} days"))
    return out
