"""producers/resources: which devices become series, and the GPU path against NVML's documented answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pynvml  # type: ignore[import-untyped,import-not-found,unused-ignore]

from processors.resources import series_values
from producers.resources.filters import is_real_filesystem, real_interfaces, whole_disks
from producers.resources.gpu import init, load_nvml, read_gpus
from producers.resources.sampler import HostSampler


def test_filters() -> None:
    names = ["loop0", "loop7", "vda", "vda1", "sda", "sda2", "nvme0n1", "nvme0n1p1", "zram0", "sr0", "md0"]
    assert whole_disks(names) == ["nvme0n1", "sda", "vda"]
    assert real_interfaces(["lo", "eth0", "veth12ab", "docker0", "br-1f", "ifb0", "wlp2s0"]) == [
        "eth0",
        "wlp2s0",
    ]
    assert is_real_filesystem("ext4") and is_real_filesystem("xfs") and is_real_filesystem("vfat")
    assert not any(map(is_real_filesystem, ("tmpfs", "proc", "overlay", "squashfs", "fuse.sshfs")))


@dataclass
class _Utilization:
    gpu: int
    memory: int


@dataclass
class _Memory:
    total: int
    free: int
    used: int


class StandInNVML:
    """A stand-in for pynvml: no NVIDIA device can run on this machine, so this answers what NVML's
    documentation says each call returns (nvmlDeviceGetCount: an int; nvmlDeviceGetName: str, bytes in
    bindings before 11.515; nvmlDeviceGetUtilizationRates: c_nvmlUtilization_t with .gpu/.memory in
    percent; nvmlDeviceGetMemoryInfo: c_nvmlMemory_t with .total/.free/.used in bytes;
    nvmlDeviceGetTemperature(h, NVML_TEMPERATURE_GPU): degrees C). Device 1 raises NVMLError_GpuIsLost,
    as a device that fell off the bus does."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, devices: int = 2, *, driver: bool = True) -> None:
        self.devices = devices
        self.driver = driver

    def nvmlInit(self) -> None:
        if not self.driver:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return self.devices

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if i == 1:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA A100-SXM4-40GB"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> _Utilization:
        return _Utilization(gpu=87, memory=40)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> _Memory:
        return _Memory(total=40 * 2**30, free=30 * 2**30, used=10 * 2**30)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return 64


def test_no_nvidia_driver_here_means_no_gpu() -> None:
    assert load_nvml() is None  # the real pynvml on this machine: no libnvidia-ml
    assert init(StandInNVML(driver=False)) is None
    assert init(StandInNVML(devices=0)) is None


def test_gpus_through_nvml_become_samples_and_series() -> None:
    nvml = init(StandInNVML())
    [gpu] = read_gpus(nvml)  # device 1 is lost: left out of this sample
    assert (gpu.index, gpu.name, gpu.utilization_percent, gpu.memory_used_bytes, gpu.temperature_celsius) == (
        0,
        "NVIDIA A100-SXM4-40GB",
        87.0,
        10 * 2**30,
        64.0,
    )
    sample = HostSampler("h", nvml=nvml, top=0, clock=lambda: datetime.now(UTC)).sample()
    assert sample.gpus == (gpu,)
    values = series_values(sample)
    assert values["gpu.0.utilization_percent"] == 87.0


def test_a_real_sample_of_this_machine() -> None:
    s = HostSampler("h", top=3, gpu=False).sample()
    assert s.memory_total_bytes > 0 and len(s.cpu_per_core) >= 1
    assert any(f.mount == "/" for f in s.filesystems)
    assert 1 <= len(s.top_processes) <= 6
