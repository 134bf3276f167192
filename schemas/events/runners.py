"""CI runners (GitHub Actions, GitLab Runner): what the runner producer observes on the host, the runner
and job events decided from it, the runner commands, and the graph this domain declares.

Nothing here carries a credential: a runner's `.credentials` / `.credentials_rsaparams` files are never
read, a GitLab `config.toml` token never leaves the parser, and registration tokens travel only inside the
executor (watchman/executors/runners.py takes them from watchman/secrets.py when it acts).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.events.commands import CommandPayload, register_command
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

Provider = Literal["github", "gitlab"]
JobResult = Literal["succeeded", "failed", "cancelled", "skipped", "abandoned", "unknown"]


def _utc_or_none(v: datetime | None) -> datetime | None:
    return None if v is None else utc(v)


# --- raw observations (watchman.raw.runners) -----------------------------------------------------------


@register
class RunnerObserved(EventPayload):
    """One runner as found on the host by a discovery scan (a difference against the previous scan).

    `runner` is the local name that keys it (GitHub: `.runner` agentName; GitLab: the `[[runners]]` name).
    `service_state` is what the service manager says of its unit (active, inactive, failed, ... or None when
    it cannot be asked); `process` whether a runner process of that installation runs now.
    """

    TYPE: ClassVar[str] = "RunnerObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    change: Literal["added", "removed", "changed"]
    provider: Provider
    runner: str
    runner_id: int | None = None
    repo: str | None = None
    url: str | None = None
    path: str
    labels: tuple[str, ...] = ()
    ephemeral: bool = False
    executor: str | None = None
    service: str | None = None
    service_state: str | None = None
    process: bool | None = None
    registered_at: datetime | None = None

    _utc = field_validator("ts", "registered_at")(_utc_or_none)


LogKind = Literal["version", "listening", "job_received", "job_started", "job_message", "job_finished"]


@register
class RunnerLogObserved(EventPayload):
    """One record of a runner's own log that tells of the runner or of a job.

    GitHub: a `_diag/Runner_*.log` or `Worker_*.log` trace record
    (`[2026-12-04 18:20:01Z INFO Terminal] ...`);
    GitLab: a `gitlab-runner` log line (`Checking for jobs... received  job=12 repo_url=... runner=abc`).
    `job` is the provider's job id when the line names one (GitHub: the job's GUID; GitLab: the job number).
    """

    TYPE: ClassVar[str] = "RunnerLogObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    provider: Provider
    runner: str
    kind: LogKind
    file: str
    job: str | None = None
    job_name: str | None = None
    repo: str | None = None
    workflow: str | None = None
    result: str | None = None
    detail: str | None = None
    duration_seconds: float | None = None
    version: str | None = None

    _utc = field_validator("ts")(_utc_or_none)


@register
class RunnerApiObserved(EventPayload):
    """What the provider's API says of one runner (GitHub `GET .../actions/runners`,
    GitLab `GET /runners`)."""

    TYPE: ClassVar[str] = "RunnerApiObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    provider: Provider
    runner: str
    runner_id: int | None = None
    status: str  # online | offline (GitHub); online | offline | stale | never_contacted (GitLab)
    busy: bool | None = None
    labels: tuple[str, ...] = ()
    # The newest runner release the provider offers (GitHub: GET .../actions/runners/downloads).
    latest_version: str | None = None

    _utc = field_validator("ts")(_utc_or_none)


@register
class RunnerQueueObserved(EventPayload):
    """A provider's queue as its API shows it: jobs waiting for (or running on) runners whose labels
    match the provider's, with the scaling bounds the settings held when it was observed (so the decision
    replays the same)."""

    TYPE: ClassVar[str] = "RunnerQueueObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    provider: str
    queued_jobs: int = Field(ge=0)
    running_jobs: int = Field(ge=0)
    min_runners: int = Field(ge=0)
    max_runners: int = Field(ge=0)
    cool_down_minutes: float = Field(ge=0)

    _utc = field_validator("ts")(_utc_or_none)


# --- domain events (watchman.events.runners) -----------------------------------------------------------


class RunnerEvent(EventPayload):
    """Something about one runner on one host."""

    VERSION: ClassVar[int] = 1

    provider: Provider
    runner: str
    runner_id: int | None = None
    repo: str | None = None
    status: str | None = None
    version: str | None = None
    service: str | None = None
    registered_at: datetime | None = None
    labels: tuple[str, ...] = ()

    _utc = field_validator("registered_at")(_utc_or_none)


@register
class RunnerDiscovered(RunnerEvent):
    """A runner installation appeared on the host (registered there, or first seen by a scan)."""

    TYPE: ClassVar[str] = "RunnerDiscovered"


@register
class RunnerRemoved(RunnerEvent):
    """A runner installation is gone from the host (`config.sh remove`, `gitlab-runner unregister`)."""

    TYPE: ClassVar[str] = "RunnerRemoved"


@register
class RunnerStatusChanged(RunnerEvent):
    """online / offline / busy changed; `reason` says who told (the process, its log, the provider's API).
    `service_state` is the service manager's word at the time (active while `status` offline: an alert)."""

    TYPE: ClassVar[str] = "RunnerStatusChanged"
    previous_status: str | None = None
    reason: str = ""
    service_state: str | None = None
    offline_while_service_runs: bool = False


@register
class RunnerVersionObserved(RunnerEvent):
    """The runner reported its version (at start); `latest_version` the newest one the provider offers."""

    TYPE: ClassVar[str] = "RunnerVersionObserved"
    latest_version: str | None = None


class JobEvent(EventPayload):
    """One CI job on one runner."""

    VERSION: ClassVar[int] = 1

    provider: Provider
    runner: str
    job: str
    job_name: str | None = None
    repo: str | None = None
    workflow: str | None = None
    started_at: datetime | None = None
    result: JobResult | None = None
    detail: str | None = None
    duration_seconds: float | None = None
    # How many jobs the runner has finished, this one included (decided by the processor, so replay
    # gives the same count: the projection never adds).
    runner_jobs_completed: int | None = None

    _utc = field_validator("started_at")(_utc_or_none)


@register
class JobStarted(JobEvent):
    TYPE: ClassVar[str] = "JobStarted"


@register
class JobCompleted(JobEvent):
    """The job finished with result succeeded."""

    TYPE: ClassVar[str] = "JobCompleted"


@register
class JobFailed(JobEvent):
    """The job finished with any other result (failed, cancelled, abandoned): `result` says which."""

    TYPE: ClassVar[str] = "JobFailed"


RUNNER_EVENTS: tuple[type[RunnerEvent], ...] = (
    RunnerDiscovered,
    RunnerRemoved,
    RunnerStatusChanged,
    RunnerVersionObserved,
)
JOB_EVENTS: tuple[type[JobEvent], ...] = (JobStarted, JobCompleted, JobFailed)


# --- commands -------------------------------------------------------------------------------------------


_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


@register_command
class RegisterRunner(CommandPayload):
    """Register a runner on this host with a configured provider (`[[git_runners.providers]]` by name):
    GitHub (a registration token, or a JIT config for an ephemeral runner, from the REST API, then the
    runner's `config.sh --unattended`), GitLab (`POST /api/v4/user/runners`, then `gitlab-runner register
    --non-interactive`). The API credentials come from the secrets store, never through the command."""

    TYPE: ClassVar[str] = "RegisterRunner"
    provider: str = Field(min_length=1, max_length=64, pattern=_NAME)
    name: str = Field(min_length=1, max_length=64, pattern=_NAME)
    labels: tuple[Annotated[str, Field(max_length=64, pattern=_NAME)], ...] = Field(default=(), max_length=20)
    ephemeral: bool = False


@register_command
class RemoveRunner(CommandPayload):
    """Remove (unregister) a runner of this host; destructive: refused without confirm."""

    TYPE: ClassVar[str] = "RemoveRunner"
    provider: str = Field(min_length=1, max_length=64, pattern=_NAME)
    name: str = Field(min_length=1, max_length=64, pattern=_NAME)
    confirm: bool = False


@register_command
class ScaleRunners(CommandPayload):
    """Start or stop runner containers of a provider to reach `target` (the autoscaler's decision)."""

    TYPE: ClassVar[str] = "ScaleRunners"
    provider: str = Field(min_length=1, max_length=64, pattern=_NAME)
    target: int = Field(ge=0, le=1000)


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_RUNNERS = Topic(
    "watchman.raw.runners",
    partitions=2,
    retention_days=14,
    retention_bytes=64 * MiB,
    description="RunnerObserved (discovery scans), RunnerLogObserved (runner and job log records) and "
    "RunnerApiObserved (provider API status) records; key host/provider/runner.",
)
EVENTS_RUNNERS = Topic(
    "watchman.events.runners",
    partitions=2,
    retention_days=None,
    description="Runner*/Job* domain events; key host/provider/runner. Kept forever.",
)
GIT_RUNNER = NodeLabel(
    "GitRunner",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("provider", "STRING"),
        Prop("id", "INT64", "latest"),
        Prop("repo", "STRING", "latest"),
        Prop("status", "STRING", "latest"),
        Prop("version", "STRING", "latest"),
        Prop("latest_version", "STRING", "latest"),
        Prop("service", "STRING", "latest"),
        Prop("labels", "STRING", "latest"),  # comma-separated
        Prop("registered_at", "TIMESTAMP", "latest"),
        Prop("last_job", "STRING", "latest"),
        Prop("last_job_at", "TIMESTAMP", "max"),
        Prop("jobs_completed", "INT64", "max"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One CI runner installed on one host; key host/provider/name.",
)
CI_JOB = NodeLabel(
    "CIJob",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("id", "STRING"),
        Prop("provider", "STRING"),
        Prop("runner", "STRING"),  # the GitRunner key
        Prop("name", "STRING", "latest"),
        Prop("repo", "STRING", "latest"),
        Prop("workflow", "STRING", "latest"),
        Prop("status", "STRING", "latest"),  # running | succeeded | failed | cancelled | ...
        Prop("started_at", "TIMESTAMP", "min"),
        # started_at cut to its minute: joins the services domain's per-minute ServiceMetrics of the runner's
        # unit (resource use per job is a graph query, not an import).
        Prop("started_minute", "TIMESTAMP", "min"),
        Prop("finished_at", "TIMESTAMP", "max"),
        Prop("duration_seconds", "DOUBLE", "latest"),
        UPDATED_AT,
    ),
    description="One CI job run by a runner of this host; key host/provider/job id.",
)
RAN_ON = RelType("RAN_ON", (("CIJob", "GitRunner"),), description="The job ran on this runner.")
INSTALLED_ON = RelType(
    "INSTALLED_ON", (("GitRunner", "Host"),), description="The runner is installed on this host."
)
ACTED_ON = RelType("ACTED_ON", (("Event", "GitRunner"), ("Event", "CIJob")))
TOPICS: tuple[Topic, ...] = (RAW_RUNNERS, EVENTS_RUNNERS)
NODES: tuple[NodeLabel, ...] = (GIT_RUNNER, CI_JOB)
RELS: tuple[RelType, ...] = (RAN_ON, INSTALLED_ON, ACTED_ON)
# The alerts this domain's events fire (schemas/alerts.py collects; one delivery stage sends them).
ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="RunnerOfflineWhileServiceRuns",
        fires_on="RunnerStatusChanged",
        when=(("offline_while_service_runs", True),),
        severity="warning",
        subject="runner",
        summary="{provider} runner {runner} is offline while its service {service} runs ({reason})",
        resolves_on=("RunnerStatusChanged",),
        resolves_when=(("status", "online"),),
        ends_after_minutes=None,
    ),
)
