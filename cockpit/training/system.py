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
from cockpit.training.engine import Engine, StepHooks

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


class SampleCadence:
    """When to sample: `first_after_s` after the first ask (past the first steps' warm-up), then
    every `every_s`, and at the run's last step whatever the clock says."""

    def __init__(self, every_s: float = DEFAULT_EVERY_S, first_after_s: float = FIRST_AFTER_S) -> None:
        self.every_s, self.first_after_s = every_s, first_after_s
        self._next_at: float | None = None

    def due(self, last: bool = False) -> bool:
        now = time.monotonic()
        if self._next_at is None:
            self._next_at = now + self.first_after_s
        if now < self._next_at and not last:
            return False
        self._next_at = now + self.every_s
        return True


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


class SystemSampler(StepHooks):
    """The engine's hook (`Engine(..., hooks=[SystemSampler()])`, as `cockpit train` runs it): clocks
    each step's parts at the loop's phases and emits a `SystemSample` about every `every_s` seconds
    (the first after `first_after_s`, once the first steps' warm-up is over) and at the last step.

    Parts of a step: data = the collator's clock; forward+backward = from the step's start to the
    last backward, less the data; optimizer = between the two optimizer phases; instruments = from
    the backward to the optimizer (norms, the transfer, the previous step's events, clipping), from
    the optimizer to the step's numbers being complete (update sizes), and the pinned predictions
    made at this step; the rest of the step (evaluation, a checkpoint) is `other`.
    """

    def __init__(self, every_s: float = DEFAULT_EVERY_S, first_after_s: float = FIRST_AFTER_S) -> None:
        self.cadence = SampleCadence(every_s, first_after_s)
        self.machine: MachineSampler | None = None  # made at the first step, on the engine's device
        self.clock = PhaseClock()
        self.samples = 0
        self._start = self._data = self._backward = self._measured = 0.0
        self._optimizer: tuple[float, float] | None = None

    def at_step_start(self, engine: Engine) -> None:
        self._start = time.perf_counter()
        self._data = engine.collator.seconds
        self._optimizer = None
        if self.machine is None:
            self.machine = MachineSampler(engine.device)

    def after_backward(self, engine: Engine) -> None:
        self._backward = time.perf_counter()

    def before_optimizer_step(self, engine: Engine) -> None:
        self._optimizer = (time.perf_counter(), 0.0)

    def after_optimizer_step(self, engine: Engine) -> None:
        if self._optimizer is not None:
            self._optimizer = (self._optimizer[0], time.perf_counter())

    def after_measure(self, engine: Engine) -> None:
        self._measured = time.perf_counter()

    def at_step_end(self, engine: Engine) -> None:
        if self.machine is None:  # a hook added mid-run: from the next step on
            return
        end = time.perf_counter()
        data = engine.collator.seconds - self._data
        instruments = self._measured - self._backward
        optimizer = 0.0
        if self._optimizer is not None and self._optimizer[1]:  # a non-finite step skips the optimizer
            optimizer = self._optimizer[1] - self._optimizer[0]
            instruments -= optimizer
        if engine.last_pin_step == engine.step:  # the pinned examples were predicted after this step
            instruments += min(engine.pin_seconds, end - self._measured)
        self.clock.add(end - self._start, data, self._backward - self._start - data, optimizer, instruments)
        if engine.publishes and self.cadence.due(last=engine.step >= engine.total_steps):
            engine.emit(self.machine.sample(engine.step, self.clock.means()))
            self.samples += 1
            self.clock = PhaseClock()
