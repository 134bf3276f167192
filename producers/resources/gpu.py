"""GPUs through NVML (nvidia-ml-py's `pynvml`), only where an NVIDIA driver answers (I/O)."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from schemas.events.resources import GpuSample

log = logging.getLogger(__name__)


def load_nvml() -> ModuleType | None:
    """pynvml, initialised; None where there is no library or no NVIDIA driver/device (most hosts)."""
    try:
        import pynvml  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    return init(pynvml)


def init(nvml: Any) -> Any | None:
    try:
        nvml.nvmlInit()
        if nvml.nvmlDeviceGetCount() < 1:
            nvml.nvmlShutdown()
            return None
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...: no GPU here
        log.debug("no NVML: %s", exc)
        return None
    return nvml


def read_gpus(nvml: Any) -> tuple[GpuSample, ...]:
    """One GpuSample per device; a device that fails to answer is left out of this sample."""
    out = []
    for i in range(nvml.nvmlDeviceGetCount()):
        try:
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(h)
            util = nvml.nvmlDeviceGetUtilizationRates(h)
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            try:
                temp: float | None = float(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
            except Exception:
                temp = None
        except Exception as exc:
            log.debug("GPU %d did not answer: %s", i, exc)
            continue
        out.append(
            GpuSample(
                index=i,
                name=name.decode() if isinstance(name, bytes) else str(name),
                utilization_percent=float(util.gpu),
                memory_used_bytes=int(mem.used),
                memory_total_bytes=int(mem.total),
                temperature_celsius=temp,
            )
        )
    return tuple(out)
