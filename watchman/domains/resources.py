"""The resources domain in the shell: its settings section (`[resources]`) and the host sampler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore


class ResourceSettings(BaseModel):
    """Host metrics (psutil) every `metrics_interval` seconds, and the thresholds that raise alerts.

    `mounts` limits the filesystems sampled (any type, tmpfs included); empty: every real filesystem.
    A filesystem at `disk_percent` or more is DiskSpaceLow until it drops below `disk_clear_percent`;
    DiskFillPredicted when, at the growth of the last `predict_window_minutes`, it is full within
    `predict_days`. MemoryPressure below `memory_available_percent` available (relieved at
    `memory_clear_percent`), Swapping at `swap_bytes_per_second` in+out, CpuSaturated at `cpu_percent`
    or more for `cpu_minutes` samples in a row.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    metrics_interval: float = Field(60.0, ge=1, description="seconds between host samples")
    mounts: tuple[str, ...] = ()
    top_processes: int = Field(5, ge=0, le=50, description="top N by CPU plus top N by memory")
    gpu: bool = True
    disk_percent: float = Field(90.0, gt=0, le=100)
    disk_clear_percent: float = Field(88.0, gt=0, le=100)
    predict_days: float = Field(7.0, gt=0)
    predict_window_minutes: float = Field(360.0, ge=5)
    memory_available_percent: float = Field(10.0, ge=0, le=100)
    memory_clear_percent: float = Field(15.0, ge=0, le=100)
    swap_bytes_per_second: float = Field(1048576.0, gt=0)
    cpu_percent: float = Field(90.0, gt=0, le=100)
    cpu_minutes: float = Field(5.0, ge=0)


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    r = settings.resources
    if not r.enabled:
        return []
    from producers.resources.sampler import HostSampler
    from schemas.events.resources import ResourceLimits

    limits = ResourceLimits(
        disk_percent=r.disk_percent,
        disk_clear_percent=r.disk_clear_percent,
        predict_days=r.predict_days,
        predict_window_minutes=r.predict_window_minutes,
        memory_available_percent=r.memory_available_percent,
        memory_clear_percent=r.memory_clear_percent,
        swap_bytes_per_second=r.swap_bytes_per_second,
        cpu_percent=r.cpu_percent,
        cpu_minutes=r.cpu_minutes,
    )
    return [
        HostSampler(
            settings.host,
            interval=r.metrics_interval,
            limits=limits,
            mounts=r.mounts,
            top=r.top_processes,
            gpu=r.gpu,
        )
    ]


def describe(settings: Settings) -> list[tuple[str, str]]:
    r = settings.resources
    if not r.enabled:
        return [("resources", "off")]
    where = ", ".join(r.mounts) if r.mounts else "every real filesystem"
    return [("resources", f"every {r.metrics_interval:g}s: {where}; disk alert at {r.disk_percent:g}%")]
