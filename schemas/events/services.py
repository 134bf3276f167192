"""Service events: raw journal entries, metrics samples and health results, and the service domain events."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

HealthKind = Literal["http", "tcp", "process"]
LogLevel = Literal["error", "warning"]

# systemd's unit types (systemd.unit(5)), named by the suffix of a unit's name.
UNIT_TYPES = frozenset(
    {"service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"}
)
# The types whose start runs processes: the only units that "start", "stop" and "restart" as services do.
# Targets and slices group other units; sockets, timers, paths and automounts wait for a trigger; mounts,
# swaps and devices are kernel objects. All of them can still fail.
PROCESS_UNIT_TYPES = frozenset({"service", "scope"})


def unit_type(unit: str) -> str | None:
    """The type of a unit from its name (`nginx.service` -> service, `getty@tty1.service` -> service);
    None when the suffix is not a unit type."""
    suffix = unit.rsplit(".", 1)[1] if "." in unit else ""
    return suffix if suffix in UNIT_TYPES else None


class _Timed(EventPayload):
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class JournalEntryObserved(_Timed):
    """One journald entry, its fields decoded and bounded (raw, not yet decided).

    `unit` is the unit that wrote the entry: _SYSTEMD_USER_UNIT for a process in a user's unit (a terminal's
    scope, a user service), else _SYSTEMD_UNIT (which for those is only `user@UID.service`); `object_unit`
    is the unit a message of the service manager is about (UNIT / USER_UNIT), e.g. "Started nginx.service"
    is written by init.scope about nginx.service.
    """

    TYPE: ClassVar[str] = "JournalEntryObserved"
    VERSION: ClassVar[int] = 1

    cursor: str
    message: str = ""
    priority: int | None = None
    unit: str | None = None
    object_unit: str | None = None
    identifier: str | None = None
    pid: int | None = None
    uid: int | None = None
    comm: str | None = None
    transport: str | None = None
    facility: int | None = None
    message_id: str | None = None
    job_type: str | None = None
    job_result: str | None = None
    unit_result: str | None = None
    exit_code: str | None = None
    exit_status: str | None = None
    n_restarts: int | None = None
    boot_id: str | None = None
    # Some field was cut to the size limit, or held bytes that are not UTF-8 (replaced).
    truncated: bool = False


@register
class ServiceMetricsObserved(_Timed):
    """One sample of the processes of one systemd unit (summed over the unit's processes)."""

    TYPE: ClassVar[str] = "ServiceMetricsObserved"
    VERSION: ClassVar[int] = 1

    unit: str
    cpu_percent: float
    rss_bytes: int
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    processes: int
    # The unit's oldest process: a new main pid between samples means the service was restarted.
    main_pid: int | None = None


@register
class HealthCheckObserved(_Timed):
    """The result of one declared health check, with the unit's auto-restart policy from settings
    (carried here so the processor that applies the policy stays pure)."""

    TYPE: ClassVar[str] = "HealthCheckObserved"
    VERSION: ClassVar[int] = 1

    check: str
    unit: str
    kind: HealthKind
    healthy: bool
    detail: str = ""
    auto_restart: bool = False
    max_restarts: int = 3
    window_minutes: int = 30
    cooldown_seconds: int = 60


@register
class UnitStateObserved(_Timed):
    """One unit's state as systemd's service manager reports it (org.freedesktop.systemd1.Manager
    ListUnits, what `systemctl list-units` shows): the inventory taken at start and on each rescan, so a
    unit that failed before the daemon started, or is quietly down, is known without a journal line.
    `gone`: the unit is no longer loaded (it was in the previous snapshot)."""

    TYPE: ClassVar[str] = "UnitStateObserved"
    VERSION: ClassVar[int] = 1

    unit: str
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""
    description: str = ""
    gone: bool = False


class ServiceEvent(EventPayload):
    """Base of the service domain events: something that happened to one unit."""

    VERSION: ClassVar[int] = 1
    ACTION: ClassVar[str] = ""

    unit: str
    message: str = ""


@register
class ServiceStarted(ServiceEvent):
    TYPE: ClassVar[str] = "ServiceStarted"
    ACTION: ClassVar[str] = "start"
    # "restart" when the start was a `systemctl restart` job
    job_type: str | None = None
    pid: int | None = None


@register
class ServiceFinished(ServiceEvent):
    """A oneshot service ran to completion (systemd: "Finished X."): it started, did its work and exited
    successfully. Not a ServiceStarted: nothing keeps running, and it does not count towards flapping."""

    TYPE: ClassVar[str] = "ServiceFinished"
    ACTION: ClassVar[str] = "finish"


@register
class ServiceStopped(ServiceEvent):
    TYPE: ClassVar[str] = "ServiceStopped"
    ACTION: ClassVar[str] = "stop"


@register
class ServiceReloaded(ServiceEvent):
    TYPE: ClassVar[str] = "ServiceReloaded"
    ACTION: ClassVar[str] = "reload"


@register
class ServiceFailed(ServiceEvent):
    TYPE: ClassVar[str] = "ServiceFailed"
    ACTION: ClassVar[str] = "fail"
    result: str | None = None
    exit_code: str | None = None
    exit_status: str | None = None


@register
class ServiceRestartScheduled(ServiceEvent):
    TYPE: ClassVar[str] = "ServiceRestartScheduled"
    ACTION: ClassVar[str] = "restart-scheduled"
    counter: int | None = None


@register
class ServiceOOMKilled(ServiceEvent):
    TYPE: ClassVar[str] = "ServiceOOMKilled"
    ACTION: ClassVar[str] = "oom-kill"
    pid: int | None = None


@register
class ServiceLogged(ServiceEvent):
    """An error or warning a service logged. When a service logs more than the limit in one minute, one
    more ServiceLogged with `suppressed` > 0 stands for the rest (re-emitted with the final count)."""

    TYPE: ClassVar[str] = "ServiceLogged"
    ACTION: ClassVar[str] = "log"
    level: LogLevel
    priority: int | None = None
    suppressed: int = 0


@register
class ServiceFlapping(ServiceEvent):
    """The unit started/restarted `starts` times within `window_minutes`."""

    TYPE: ClassVar[str] = "ServiceFlapping"
    ACTION: ClassVar[str] = "flapping"
    starts: int
    window_minutes: int


@register
class ServiceFailureAlert(ServiceEvent):
    """The unit failed `failures` times within `window_minutes`."""

    TYPE: ClassVar[str] = "ServiceFailureAlert"
    ACTION: ClassVar[str] = "failure-alert"
    failures: int
    window_minutes: int


@register
class ServiceMetricsSampled(ServiceEvent):
    """One minute of a unit's metrics (downsampled: max CPU, max RSS, last IO counters, sample count)."""

    TYPE: ClassVar[str] = "ServiceMetricsSampled"
    ACTION: ClassVar[str] = "metrics"
    minute: datetime
    cpu_percent: float
    rss_bytes: int
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    processes: int
    samples: int = Field(ge=1)
    main_pid: int | None = None


@register
class ServiceHealthChanged(ServiceEvent):
    TYPE: ClassVar[str] = "ServiceHealthChanged"
    ACTION: ClassVar[str] = "health"
    check: str
    status: Literal["healthy", "unhealthy"]
    previous: Literal["healthy", "unhealthy"] | None = None


@register
class ServiceStateObserved(ServiceEvent):
    """The service manager reported a unit's state, and it differs from the last one it reported: the
    unit inventory (a unit found failed at start, one that went down without a journal line)."""

    TYPE: ClassVar[str] = "ServiceStateObserved"
    ACTION: ClassVar[str] = "state"
    state: str  # systemd's ActiveState: active, reloading, inactive, failed, activating, deactivating
    sub_state: str = ""
    load_state: str = ""
    previous: str | None = None


@register
class AutoRestartIssued(ServiceEvent):
    """Audit: the auto-restart policy issued a RestartService command (its id in `command_id`)."""

    TYPE: ClassVar[str] = "AutoRestartIssued"
    ACTION: ClassVar[str] = "auto-restart"
    check: str
    command_id: str
    restarts_in_window: int


@register
class AutoRestartSuppressed(ServiceEvent):
    """Audit: the policy would restart the unit but its limit forbids it (reason says which)."""

    TYPE: ClassVar[str] = "AutoRestartSuppressed"
    ACTION: ClassVar[str] = "auto-restart-suppressed"
    check: str
    reason: str


SERVICE_EVENTS: tuple[type[ServiceEvent], ...] = (
    ServiceStarted,
    ServiceFinished,
    ServiceStopped,
    ServiceReloaded,
    ServiceFailed,
    ServiceRestartScheduled,
    ServiceOOMKilled,
    ServiceLogged,
    ServiceFlapping,
    ServiceFailureAlert,
    ServiceMetricsSampled,
    ServiceHealthChanged,
    ServiceStateObserved,
    AutoRestartIssued,
    AutoRestartSuppressed,
)


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_JOURNAL = Topic(
    "watchman.raw.journal",
    partitions=4,
    retention_days=7,
    retention_bytes=256 * MiB,
    description="JournalEntryObserved records read from journald; key host/unit (or syslog identifier).",
)
RAW_SERVICES = Topic(
    "watchman.raw.services",
    partitions=4,
    retention_days=7,
    retention_bytes=128 * MiB,
    description="ServiceMetricsObserved samples, HealthCheckObserved results and UnitStateObserved "
    "inventory entries; key host/unit.",
)
EVENTS_SERVICES = Topic(
    "watchman.events.services",
    partitions=4,
    retention_days=None,
    description="Service* lifecycle, log, metrics, health and auto-restart audit events; key host/unit.",
)
SERVICE = NodeLabel(
    "Service",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),  # the unit name, e.g. nginx.service
        Prop("type", "STRING"),  # the unit type: service, socket, timer, scope...
        Prop("state", "STRING", "latest"),  # active | inactive | failed | reloading
        Prop("pid", "INT64", "latest"),
        Prop("started_at", "TIMESTAMP", "latest"),
        Prop("restarts", "INT64", "max"),
        Prop("health_status", "STRING", "latest"),
        Prop("cpu_percent", "DOUBLE", "latest"),
        Prop("rss_bytes", "INT64", "latest"),
        Prop("metrics_at", "TIMESTAMP", "max"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One systemd unit on one host; key host/unit.",
)
LOG_EVENT = NodeLabel(
    "LogEvent",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("service", "STRING"),  # the unit name
        Prop("level", "STRING"),  # error | warning
        Prop("priority", "INT64"),
        Prop("message", "STRING"),
        Prop("suppressed", "INT64"),  # >0: stands for this many messages over the per-minute limit
    ),
    description="An error or warning a service logged (rate-limited per service and minute).",
)
SERVICE_METRICS = NodeLabel(
    "ServiceMetrics",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),  # the minute
        Prop("host", "STRING"),
        Prop("service", "STRING"),
        Prop("cpu_percent", "DOUBLE"),
        Prop("rss_bytes", "INT64"),
        Prop("io_read_bytes", "INT64"),
        Prop("io_write_bytes", "INT64"),
        Prop("processes", "INT64"),
        Prop("samples", "INT64"),
    ),
    description="One minute of one service's resource use (downsampled samples).",
)
LOGGED_BY = RelType("LOGGED_BY", (("LogEvent", "Service"),), description="The service that logged it.")
METRICS_FOR = RelType("METRICS_FOR", (("ServiceMetrics", "Service"),), description="Metrics of this service.")
# This domain's entities that events act on, and nodes that happen on a host (the core types).
ACTED_ON = RelType("ACTED_ON", (("Event", "Service"),))
TOPICS: tuple[Topic, ...] = (
    RAW_JOURNAL,
    RAW_SERVICES,
    EVENTS_SERVICES,
)
NODES: tuple[NodeLabel, ...] = (
    SERVICE,
    LOG_EVENT,
    SERVICE_METRICS,
)
RELS: tuple[RelType, ...] = (
    LOGGED_BY,
    METRICS_FOR,
    ACTED_ON,
)
# The alerts this domain's events fire (schemas/alerts.py collects; one delivery stage sends them).
ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="ServiceFailing",
        fires_on="ServiceFailureAlert",
        severity="critical",
        subject="unit",
        summary="{unit} failed {failures} times within {window_minutes} minutes",
    ),
    AlertKind(
        name="ServiceFlapping",
        fires_on="ServiceFlapping",
        severity="warning",
        subject="unit",
        summary="{unit} started {starts} times within {window_minutes} minutes",
    ),
    AlertKind(
        name="ServiceUnhealthy",
        fires_on="ServiceHealthChanged",
        when=(("status", "unhealthy"),),
        severity="critical",
        subject="unit",
        summary="{unit}: health check {check} failed",
        resolves_on=("ServiceHealthChanged",),
        resolves_when=(("status", "healthy"),),
        ends_after_minutes=None,
    ),
    AlertKind(
        name="ServiceFoundFailed",
        fires_on="ServiceStateObserved",
        when=(("state", "failed"),),
        severity="critical",
        subject="unit",
        summary="{unit} is in the failed state ({sub_state})",
        resolves_on=("ServiceStateObserved", "ServiceStarted"),
        ends_after_minutes=None,
    ),
    AlertKind(
        name="ServiceOOMKilled",
        fires_on="ServiceOOMKilled",
        severity="warning",
        subject="unit",
        summary="{unit}: a process was killed for lack of memory",
    ),
)
