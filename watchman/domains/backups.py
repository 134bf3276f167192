"""The backups domain in the shell: its jobs (what, where, to whom encrypted, when, how long kept), and
the scheduler source over their cron schedules.

    [backups.jobs.etc]
    kind = "paths"                    # paths | eventlog | ladybug (graph) | docker-volume (volumes = [...])
    paths = ["/etc", "/root/.ssh"]
    exclude = ["*.swp", "/etc/shadow-"]
    target = "s3://backups/host1?endpoint=http://127.0.0.1:8333&access_key=secret:s3.access&secret_key=secret:s3.secret"
    recipients = ["age1..."]          # X25519 public keys (age-keygen)
    identity_file = "/root/.config/watchman/backup.key"   # to verify and restore (0600)
    passphrase = "secret:backup.passphrase"               # and/or a passphrase (a secret reference)
    schedule = "0 2 * * *"            # cron, UTC unless timezone is set
    recovery_test = "30 3 * * 0"      # a restore dry-run of the newest backup, recorded on its RecoveryPoint
    keep = { daily = 7, weekly = 4, monthly = 12 }        # restic's forget rules; none = keep all
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.events.backups import JOB_NAME

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.scheduler import ScheduledJob
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)

Kind = Literal["paths", "eventlog", "kafka", "ladybug", "neo4j", "docker-volume"]


class KeepSettings(BaseModel):
    """restic's forget rules (watchman/keep.py): counts (-1 = unlimited) and durations such as "1y2m"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    last: int = Field(0, ge=-1)
    hourly: int = Field(0, ge=-1)
    daily: int = Field(0, ge=-1)
    weekly: int = Field(0, ge=-1)
    monthly: int = Field(0, ge=-1)
    yearly: int = Field(0, ge=-1)
    within: str = ""
    within_hourly: str = ""
    within_daily: str = ""
    within_weekly: str = ""
    within_monthly: str = ""
    within_yearly: str = ""

    @field_validator("within", "within_hourly", "within_daily", "within_weekly", "within_monthly",
                     "within_yearly")  # fmt: skip
    @classmethod
    def _duration(cls, v: str) -> str:
        from watchman.keep import Duration

        if v:
            Duration.parse(v)
        return v


class BackupJobSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind = "paths"
    paths: tuple[Path, ...] = ()
    exclude: tuple[str, ...] = ()
    # Project directories: > 0 backs up only the subdirectories of each path that hold a file modified
    # within this many days (~/src with forty projects, three of them active).
    modified_within_days: int = Field(0, ge=0, le=36_500)
    volumes: tuple[str, ...] = ()  # docker-volume: the volume names
    docker_url: str = "unix:///var/run/docker.sock"
    helper_image: str = "busybox:latest"  # docker-volume: the image of the throwaway container (never run)
    # neo4j: Community dumps only a stopped database, so the job runs stop_command, then
    # `<neo4j_admin> database dump <database>`, then start_command (always, even after a failed dump; it
    # should return once the server answers), and reports the downtime. Verify runs
    # `<neo4j_admin> database check --from-path=<the restored dump>` (nothing touches the live database).
    database: str = Field("neo4j", pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,62}$")
    neo4j_admin: tuple[str, ...] = ("neo4j-admin",)
    stop_command: tuple[str, ...] = ()  # e.g. ["systemctl", "stop", "neo4j"]
    start_command: tuple[str, ...] = ()  # e.g. ["systemctl", "start", "neo4j"]
    command_timeout: float = Field(1800.0, gt=0)
    target: str = Field(min_length=1, description="storage URL (file://, s3://, rsync://)")
    recipients: tuple[str, ...] = ()
    identity_file: Path | None = None
    passphrase: str = ""  # a secret:NAME reference
    schedule: str = ""
    recovery_test: str = ""
    timezone: str = "UTC"
    verify: bool = True  # verify each backup right after it is written
    keep: KeepSettings = KeepSettings()
    compression_level: int = Field(3, ge=1, le=19)

    @field_validator("passphrase")
    @classmethod
    def _reference(cls, v: str) -> str:
        if v and not v.startswith("secret:"):
            raise ValueError("passphrase must be a secret:NAME reference, never the passphrase itself")
        return v

    @field_validator("schedule", "recovery_test")
    @classmethod
    def _cron(cls, v: str) -> str:
        if v:
            from watchman.scheduler import check_cron

            check_cron(v)
        return v


class BackupSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    jobs: dict[str, BackupJobSettings] = Field(default_factory=dict)
    # Where verify and restore stage their work for kinds that need a file first (the event log copy).
    scratch_dir: Path | None = None

    @field_validator("jobs")
    @classmethod
    def _names(cls, v: dict[str, BackupJobSettings]) -> dict[str, BackupJobSettings]:
        import re

        for name in v:
            if not re.match(JOB_NAME, name):
                raise ValueError(f"backup job name {name!r}: lower-case letters, digits, '-' and '_'")
        return v


SCHEDULER = "backups"


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    """The backup runs and recovery tests as scheduled jobs (watchman/scheduler.py)."""
    from schemas.events.backups import TriggerBackup, VerifyBackup
    from watchman.scheduler import ScheduledJob

    jobs: list[ScheduledJob] = []
    for name, job in sorted(settings.backups.jobs.items()):
        if job.schedule:
            cmd = TriggerBackup(issued_by="scheduler", reason=f"schedule {job.schedule}", job=name)
            jobs.append(ScheduledJob(f"{name}", job.schedule, cmd, job.timezone))
        if job.recovery_test:
            # The executor tests the newest completed backup when backup_id names none ("latest" form).
            test = VerifyBackup(
                issued_by="scheduler", reason="recovery test", job=name, backup_id=latest_marker(name),
                recovery_test=True,
            )  # fmt: skip
            jobs.append(ScheduledJob(f"{name}.recovery-test", job.recovery_test, test, job.timezone))
    return jobs


def latest_marker(job: str) -> str:
    """A backup id that stands for "the newest completed backup of `job`" (scheduled recovery tests)."""
    return f"{job}-00000000T000000Z-00000000"


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    jobs = scheduled_jobs(settings)
    if not jobs:
        return []
    from watchman.scheduler import ScheduleSource

    cursor = cursors.get(ScheduleSource.cursor_name(SCHEDULER))
    return [ScheduleSource(SCHEDULER, settings.host, jobs, cursor)]


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    """What the backup executors need from settings (ExecContext.options)."""
    opts: dict[str, object] = {
        "settings": settings.backups,
        "data_dir": settings.data_dir,
        "bus_url": settings.bus_url,
    }
    if settings.graph_url.startswith("ladybug://"):
        from urllib.parse import urlparse

        opts["graph_dir"] = Path(urlparse(settings.graph_url).path)  # ladybug:///DIR (wiring.graph_path)
    return dict.fromkeys(("TriggerBackup", "VerifyBackup", "RestoreBackup", "PruneBackups"), opts)


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`: never a credential (targets are references)."""
    out = []
    for name, job in sorted(settings.backups.jobs.items()):
        when = f"schedule {job.schedule}" if job.schedule else "on demand"
        enc = f"{len(job.recipients)} recipient(s)" + (", passphrase" if job.passphrase else "")
        out.append((f"backup {name}", f"{job.kind} -> {redact(job.target)}; {when}; {enc}"))
    return out or [("backups", "no jobs ([backups.jobs.NAME] in watchman.toml)")]


def redact(url: str) -> str:
    from watchman.storage import redact_url

    return redact_url(url)
