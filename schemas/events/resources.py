"""Host resources: the psutil sampler's observations, the sampled/rolled-up metrics and the threshold events.

One `HostMetricsObserved` per `metrics_interval` (default 60 s) reaches the raw topic; the processor turns
it into one `ResourcesSampled` (the sample's series values plus the running hourly and daily aggregates
it keeps) and, when a threshold is crossed, an alert event (DiskSpaceLow, DiskFillPredicted,
MemoryPressure, Swapping, CpuSaturated) and later its resolving twin. The projection keeps rollups on
ring keys that overwrite themselves (docs/domains/resources.md), so the graph stays bounded with no delete.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FilesystemSample(_Frozen):
    mount: str
    device: str
    fstype: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    used_percent: float
    inodes_total: int | None = None
    inodes_used: int | None = None


class RateSample(_Frozen):
    """Bytes per second since the previous sample (a disk's read/write, an interface's rx/tx)."""

    name: str
    read_bps: float
    write_bps: float


class TemperatureSample(_Frozen):
    sensor: str  # chip/label, e.g. coretemp/Package id 0
    celsius: float


class ProcessSample(_Frozen):
    """One of the top processes. The command line is left out on purpose: it is where secrets live."""

    pid: int
    name: str
    user: str | None = None
    cpu_percent: float  # since the previous sample; 100 = one core
    rss_bytes: int


class GpuSample(_Frozen):
    index: int
    name: str
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    temperature_celsius: float | None = None


class ResourceLimits(_Frozen):
    """The thresholds the processor decides with (settings `[resources]`), carried by each observation so
    the decision stays a pure function of its input."""

    disk_percent: float = 90.0
    disk_clear_percent: float = 88.0
    predict_days: float = 7.0
    predict_window_minutes: float = 360.0
    memory_available_percent: float = 10.0
    memory_clear_percent: float = 15.0
    swap_bytes_per_second: float = float(MiB)
    cpu_percent: float = 90.0
    cpu_minutes: float = 5.0


class _Timed(EventPayload):
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class HostMetricsObserved(_Timed):
    """One psutil sample of the whole host (producers/resources/sampler.py)."""

    TYPE: ClassVar[str] = "HostMetricsObserved"
    VERSION: ClassVar[int] = 1

    interval_seconds: float
    cpu_percent: float
    cpu_per_core: tuple[float, ...] = ()
    load1: float
    load5: float
    load15: float
    memory_total_bytes: int
    memory_used_bytes: int
    memory_available_bytes: int
    memory_cached_bytes: int = 0
    memory_free_bytes: int = 0
    swap_total_bytes: int = 0
    swap_used_bytes: int = 0
    swap_in_bps: float = 0.0
    swap_out_bps: float = 0.0
    filesystems: tuple[FilesystemSample, ...] = ()
    disks: tuple[RateSample, ...] = ()
    interfaces: tuple[RateSample, ...] = ()  # read = rx, write = tx
    temperatures: tuple[TemperatureSample, ...] = ()
    top_processes: tuple[ProcessSample, ...] = ()
    gpus: tuple[GpuSample, ...] = ()
    limits: ResourceLimits = ResourceLimits()


@register
class ResourcesSampled(_Timed):
    """A sample as the graph keeps it: each series' value now, and the running aggregates of its hour
    and day ([average, maximum]), which the projection writes over the ring point of that hour/day."""

    TYPE: ClassVar[str] = "ResourcesSampled"
    VERSION: ClassVar[int] = 1

    values: dict[str, float]
    hour: datetime
    hourly: dict[str, tuple[float, float]] = Field(default_factory=dict)
    daily: dict[str, tuple[float, float]] = Field(default_factory=dict)
    load1: float = 0.0
    memory_total_bytes: int = 0
    memory_available_bytes: int = 0
    swap_used_bytes: int = 0
    filesystems: tuple[FilesystemSample, ...] = ()
    # Days until each filesystem (mount) is full at its recent growth; absent when it is not growing.
    fill_days: dict[str, float] = Field(default_factory=dict)
    top_processes: tuple[ProcessSample, ...] = ()
    gpus: tuple[GpuSample, ...] = ()

    @field_validator("hour")
    @classmethod
    def _hour_utc(cls, v: datetime) -> datetime:
        return utc(v)


class ResourceAlertEvent(_Timed):
    """A threshold crossed (or left again). `resource` is what the alert is about: a mount point, or
    "memory", "swap", "cpu" for the host-wide ones."""

    VERSION: ClassVar[int] = 1

    resource: str
    value: float
    threshold: float
    message: str = ""


@register
class DiskSpaceLow(ResourceAlertEvent):
    TYPE: ClassVar[str] = "DiskSpaceLow"


@register
class DiskSpaceRecovered(ResourceAlertEvent):
    TYPE: ClassVar[str] = "DiskSpaceRecovered"


@register
class DiskFillPredicted(ResourceAlertEvent):
    """At the growth of the last `predict_window_minutes`, the filesystem is full in `value` days."""

    TYPE: ClassVar[str] = "DiskFillPredicted"
    full_at: datetime | None = None


@register
class DiskFillPredictionCleared(ResourceAlertEvent):
    TYPE: ClassVar[str] = "DiskFillPredictionCleared"


@register
class MemoryPressure(ResourceAlertEvent):
    TYPE: ClassVar[str] = "MemoryPressure"


@register
class MemoryPressureRelieved(ResourceAlertEvent):
    TYPE: ClassVar[str] = "MemoryPressureRelieved"


@register
class Swapping(ResourceAlertEvent):
    TYPE: ClassVar[str] = "Swapping"


@register
class SwappingStopped(ResourceAlertEvent):
    TYPE: ClassVar[str] = "SwappingStopped"


@register
class CpuSaturated(ResourceAlertEvent):
    """CPU at or above the threshold for `cpu_minutes` in a row (`value`: the latest percentage)."""

    TYPE: ClassVar[str] = "CpuSaturated"


@register
class CpuSaturationEnded(ResourceAlertEvent):
    TYPE: ClassVar[str] = "CpuSaturationEnded"


RESOURCE_ALERT_EVENTS: tuple[type[ResourceAlertEvent], ...] = (
    DiskSpaceLow,
    DiskSpaceRecovered,
    DiskFillPredicted,
    DiskFillPredictionCleared,
    MemoryPressure,
    MemoryPressureRelieved,
    Swapping,
    SwappingStopped,
    CpuSaturated,
    CpuSaturationEnded,
)


# --- topics, graph and alerts: what this domain declares ---

RAW_RESOURCES = Topic(
    "watchman.raw.resources",
    partitions=1,
    retention_days=7,
    retention_bytes=256 * MiB,
    description="HostMetricsObserved: one psutil sample of the host per metrics_interval; key host/host.",
)
EVENTS_RESOURCES = Topic(
    "watchman.events.resources",
    partitions=1,
    retention_days=None,
    description="ResourcesSampled (series values + hourly/daily aggregates) and the threshold events "
    "(DiskSpaceLow, DiskFillPredicted, MemoryPressure, Swapping, CpuSaturated and their ends); key host/...",
)
SYSTEM_METRICS = NodeLabel(
    "SystemMetrics",
    key="host",
    props=(
        Prop("host", "STRING"),
        Prop("cpu_percent", "DOUBLE", "latest"),
        Prop("load1", "DOUBLE", "latest"),
        Prop("memory_used_percent", "DOUBLE", "latest"),
        Prop("memory_available_bytes", "INT64", "latest"),
        Prop("memory_total_bytes", "INT64", "latest"),
        Prop("swap_used_bytes", "INT64", "latest"),
        Prop("sampled_at", "TIMESTAMP", "latest"),
        UPDATED_AT,
    ),
    description="The host's current CPU, load, memory and swap (the latest sample); key host.",
)
FILESYSTEM = NodeLabel(
    "Filesystem",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("mount", "STRING"),
        Prop("device", "STRING", "latest"),
        Prop("fstype", "STRING", "latest"),
        Prop("total_bytes", "INT64", "latest"),
        Prop("used_bytes", "INT64", "latest"),
        Prop("free_bytes", "INT64", "latest"),
        Prop("used_percent", "DOUBLE", "latest"),
        Prop("inodes_used_percent", "DOUBLE", "latest"),
        Prop("fill_days", "DOUBLE", "latest"),  # -1: not growing
        Prop("sampled_at", "TIMESTAMP", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        UPDATED_AT,
    ),
    description="One mounted filesystem of a host, its space and inodes now (the seed's DiskMetrics); "
    "key host|mount.",
)
TOP_PROCESS = NodeLabel(
    "TopProcess",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("rank", "INT64"),
        Prop("pid", "INT64", "latest"),
        Prop("name", "STRING", "latest"),
        Prop("user", "STRING", "latest"),
        Prop("cpu_percent", "DOUBLE", "latest"),
        Prop("rss_bytes", "INT64", "latest"),
        Prop("sampled_at", "TIMESTAMP", "latest"),
        UPDATED_AT,
    ),
    description="The Nth process by CPU (then memory) at the latest sample; key host|rank (overwritten).",
)
METRIC_POINT = NodeLabel(
    "MetricPoint",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("series", "STRING"),
        Prop("resolution", "STRING"),  # m (24 h ring), h (90-day ring), d (kept)
        Prop("ts", "TIMESTAMP", "latest"),  # the start of the minute/hour/day the point covers now
        Prop("value", "DOUBLE", "latest"),  # the sample (m) or the average (h, d)
        Prop("max", "DOUBLE", "latest"),
        UPDATED_AT,
    ),
    description="One point of a time series on a ring key host|series|resolution|slot that later "
    "samples overwrite (docs/domains/resources.md).",
)
# No relationship from these nodes to their Host: each carries `host` (match on it). LadybugDB takes ~12 MB
# of memory at the first write into each (relationship, from, to) pair, measured: three such pairs were
# most of what the sampler added to a daemon's RSS, for an edge no question walks.
ACTED_ON = RelType("ACTED_ON", (("Event", "Filesystem"), ("Event", "SystemMetrics")))

TOPICS: tuple[Topic, ...] = (RAW_RESOURCES, EVENTS_RESOURCES)
NODES: tuple[NodeLabel, ...] = (SYSTEM_METRICS, FILESYSTEM, TOP_PROCESS, METRIC_POINT)
RELS: tuple[RelType, ...] = (ACTED_ON,)


def _pair(name: str, fires: str, resolves: str, severity: str, summary: str) -> AlertKind:
    return AlertKind(
        name=name,
        fires_on=fires,
        severity=severity,  # type: ignore[arg-type]
        subject="resource",
        summary=summary,
        resolves_on=(resolves,),
        ends_after_minutes=None,
    )


ALERTS: tuple[AlertKind, ...] = (
    _pair(
        "DiskSpaceLow", "DiskSpaceLow", "DiskSpaceRecovered", "critical", "{resource} is {value:.1f}% full"
    ),
    _pair(
        "DiskFillPredicted",
        "DiskFillPredicted",
        "DiskFillPredictionCleared",
        "warning",
        "{resource} will be full in {value:.1f} days at its recent growth",
    ),
    _pair(
        "MemoryPressure",
        "MemoryPressure",
        "MemoryPressureRelieved",
        "warning",
        "only {value:.1f}% of memory is available",
    ),
    _pair("Swapping", "Swapping", "SwappingStopped", "warning", "swapping {value:.0f} bytes/s"),
    _pair("CpuSaturated", "CpuSaturated", "CpuSaturationEnded", "warning", "{message}"),
)


# The rollup rings (docs/domains/resources.md): a point's key names its slot, and a later sample of the
# same slot overwrites it ("latest"), so each series holds at most RING_MINUTES + RING_HOURS points plus
# one per day, with no delete and the same graph on replay.
RING_MINUTES = 24 * 60  # one point per minute of the day: the last 24 hours
RING_HOURS = 90 * 24  # one point per hour of a 90-day cycle: the last 90 days
# Points of one series in a year: 1,440 + 2,160 + 365 = 3,965.
POINTS_PER_SERIES_YEAR = RING_MINUTES + RING_HOURS + 365
