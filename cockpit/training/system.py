"""The trainer's machine, sampled every few seconds, and where each step's time goes.

Two jobs, both for the `SystemSample` event (the status bar's RAM / GPU chips and the `m` view):
- **Machine**: the trainer's RSS and the machine's RAM (psutil where installed, else /proc), the
  process's CPU time; per CUDA device torch's allocated and reserved memory against the total, and,
  when pynvml (nvidia-ml-py, `pip install "cockpit[gpu]"`) is importable and the driver answers, the
  utilisation and power. Read every `every_s` seconds (10 by default), never per step: a sample costs
  about 0.1 ms on CPU (RSS, RAM, one journal line), NVML's two queries about as much again.
- **Step-time split**: five clock reads a step at the loop's phases (about 1 µs) give data wait
  (the collator's own clock: drawing and tokenizing the batch), forward+backward, optimizer, the
  cockpit's instruments (gradient norms, the step's one transfer, its events, update sizes) and the
  rest (commands, evaluation, pinned predictions, checkpoints). On CUDA these are host clocks: a
  kernel still running shows up where the host first waits for it (the transfer, in instruments).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from cockpit.contract.events import DeviceStats, StepTimes, SystemSample

MIB = 1024 * 1024
DEFAULT_EVERY_S = 10.0
FIRST_AFTER_S = 2.0  # the first sample, after the first steps' warm-up
NO_NVML = "pynvml is not installed (pip install 'cockpit[gpu]'): no GPU utilisation or power"

try:  # optional: /proc is read where it is missing
    import psutil
except ImportError:  # pragma: no cover - psutil ships with the test and trainer extras
    psutil = None  # type: ignore[assignment]


def rss_mib() -> float:
    """This process's resident memory."""
    if psutil is not None:
        return psutil.Process().memory_info().rss / MIB
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def ram_mib() -> tuple[float | None, float | None]:
    """(total, available) memory of the machine; None where neither psutil nor /proc/meminfo tells."""
    if psutil is not None:
        memory = psutil.virtual_memory()
        return memory.total / MIB, memory.available / MIB
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = {line.split(":")[0]: int(line.split()[1]) for line in handle if line.strip()}
    except (OSError, ValueError, IndexError):
        return None, None
    total, available = fields.get("MemTotal"), fields.get("MemAvailable")
    return (total / 1024 if total else None), (available / 1024 if available else None)


def open_nvml(importer: Callable[[str], ModuleType] = __import__) -> tuple[Any | None, str]:
    """pynvml, initialised, or None and why not (said once, in the sample's note)."""
    try:
        nvml = importer("pynvml")
    except ImportError:
        return None, NO_NVML
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - pynvml raises its own NVMLError_* for a missing driver
        return None, f"NVML did not start ({exc}): no GPU utilisation or power"
    return nvml, ""


def nvml_handle(nvml: Any, index: int) -> Any | None:
    """The NVML handle of torch's device `index`: by UUID (CUDA_VISIBLE_DEVICES renumbers the
    devices torch sees; NVML numbers them all), else by index."""
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    try:
        if uuid is not None:
            return nvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        if not os.environ.get("CUDA_VISIBLE_DEVICES"):
            return nvml.nvmlDeviceGetHandleByIndex(index)
    except Exception:  # noqa: BLE001 - NVMLError_*: this device is not NVML's to describe
        return None
    return None


def device_stats(index: int, nvml: Any | None, handle: Any | None) -> DeviceStats:
    """One device now: torch's allocator, and NVML's utilisation and power where it answers."""
    properties = torch.cuda.get_device_properties(index)
    stats = DeviceStats(
        index=index,
        name=properties.name,
        allocated_mib=torch.cuda.memory_allocated(index) / MIB,
        reserved_mib=torch.cuda.memory_reserved(index) / MIB,
        total_mib=properties.total_memory / MIB,
        peak_allocated_mib=torch.cuda.max_memory_allocated(index) / MIB,
    )
    if nvml is not None and handle is not None:
        try:
            stats.utilisation = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            stats.power_w = nvml.nvmlDeviceGetPowerUsage(handle) / 1000
            stats.power_limit_w = nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000
        except Exception:  # noqa: BLE001 - a device without power readings (some cards, MIG slices)
            pass
    return stats


@dataclass
class PhaseClock:
    """Sums of each part of the steps since the last sample (seconds), from the loop's phase marks."""

    steps: int = 0
    total: float = 0.0
    data: float = 0.0
    forward_backward: float = 0.0
    optimizer: float = 0.0
    instruments: float = 0.0

    def add(self, total: float, data: float, forward_backward: float, optimizer: float, instruments: float) -> None:
        self.steps += 1
        self.total += total
        self.data += data
        self.forward_backward += forward_backward
        self.optimizer += optimizer
        self.instruments += instruments

    def means(self) -> StepTimes | None:
        """Mean seconds per step of each part; `other` is what the named parts leave of the step."""
        if not self.steps:
            return None
        n = self.steps
        named = self.data + self.forward_backward + self.optimizer + self.instruments
        return StepTimes(
            steps=n,
            total_s=self.total / n,
            data_s=self.data / n,
            forward_backward_s=self.forward_backward / n,
            optimizer_s=self.optimizer / n,
            instruments_s=self.instruments / n,
            other_s=max(self.total - named, 0.0) / n,
        )


class MachineSampler:
    """`SystemSample`s of this process: call `sample(step, times)` every few seconds."""

    def __init__(self, device: torch.device, nvml: tuple[Any | None, str] | None = None) -> None:
        self.devices: list[int] = []
        if device.type == "cuda":
            self.devices = [device.index if device.index is not None else torch.cuda.current_device()]
        self.nvml, self.note = (nvml or open_nvml()) if self.devices else (None, "")
        self.handles = {i: nvml_handle(self.nvml, i) if self.nvml is not None else None for i in self.devices}
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def sample(self, step: int, times: StepTimes | None) -> SystemSample:
        wall, cpu = time.monotonic(), time.process_time()
        interval, used = wall - self._wall, cpu - self._cpu
        self._wall, self._cpu = wall, cpu
        total, available = ram_mib()
        return SystemSample(
            step=step,
            interval_s=interval,
            rss_mib=rss_mib(),
            ram_total_mib=total,
            ram_available_mib=available,
            cpu_percent=100 * used / interval if interval > 0 else None,
            devices=[device_stats(i, self.nvml, self.handles[i]) for i in self.devices],
            step_times=times,
            note=self.note,
        )
