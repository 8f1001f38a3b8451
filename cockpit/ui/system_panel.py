"""The trainer's machine: its memory, its GPUs, and where a step's time goes.

"How full is the GPU, is it busy, am I data-bound?" is asked beside the loss on a GPU box. The
trainer samples its machine every few seconds (`SystemSample`, journaled like every event): the
process's RAM; per CUDA device the memory torch holds (allocated by tensors, reserved by its cache)
against the total, and with pynvml the utilisation and power; and the mean step split into data
wait, forward+backward, optimizer, the cockpit's own instruments and the rest. A CUDA
out-of-memory retry (the micro-batch halved) is shown here and in the status bar, not only in the log.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from cockpit.contract.events import DeviceStats, StepTimes, SystemSample
from cockpit.ui.run_state import RunState
from cockpit.ui.series import bar, sparkline, update_static

BAR_WIDTH = 24
SPARK_WIDTH = 40
# (field of StepTimes, what the user calls it)
STEP_PARTS = (
    ("data_s", "data wait"),
    ("forward_backward_s", "forward+backward"),
    ("optimizer_s", "optimizer"),
    ("instruments_s", "cockpit instruments"),
    ("other_s", "other (eval, pins, saving, commands)"),
)


def fmt_mib(mib: float | None) -> str:
    """Memory as people read it: 812 MiB, 1.21 GiB, 79.6 GiB."""
    if mib is None:
        return "-"
    if mib < 1024:
        return f"{mib:.0f} MiB"
    gib = mib / 1024
    return f"{gib:.2f} GiB" if gib < 10 else f"{gib:.1f} GiB"


def device_text(device: DeviceStats) -> str:
    """`GPU0 5.1/79.6 GiB 97% 250 W`: reserved of total (what others cannot use), then the driver's numbers."""
    said = f"GPU{device.index} {fmt_mib(device.reserved_mib)}/{fmt_mib(device.total_mib)}"
    if device.utilisation is not None:
        said += f" {device.utilisation:.0f}%"
    if device.power_w is not None:
        said += f" {device.power_w:.0f} W"
    return said


def data_share(times: StepTimes | None) -> float | None:
    """The share of a step spent waiting for its batch."""
    if times is None or times.total_s <= 0:
        return None
    return times.data_s / times.total_s


def system_chips(state: RunState) -> list[Content]:
    """The status bar's part: RAM, each GPU, the data wait, and an OOM retry while it is news."""
    chips: list[Content] = []
    sample = state.system
    if sample is not None:
        chips.append(Content(f"RAM {fmt_mib(sample.rss_mib)}"))
        chips.extend(Content(device_text(d)) for d in sample.devices)
        share = data_share(sample.step_times)
        if share is not None:
            chips.append(Content(f"data {share:.0%} of step"))
    if state.oom_retries:
        last = state.oom_retries[-1]
        micro = last.evidence.get("micro_batch", "?")
        old = last.evidence.get("old_micro_batch", "?")
        chips.append(Content.styled(f"⚠ OOM at step {last.step}: micro-batch {old}→{micro}", "bold $text-warning"))
    return chips


class SystemPanel(Static):
    """Redrawn when a SystemSample or an OOM notice arrives (every few seconds at most)."""

    DEFAULT_CSS = """
    SystemPanel {
        height: auto;
        padding: 0 1;
    }
    """

    def show(self, state: RunState) -> None:
        update_static(self, self.body(state))

    @staticmethod
    def body(state: RunState) -> Content:
        sample = state.system
        lines: list[Content] = []
        if sample is None:
            lines.append(Content.styled("no system sample yet (the trainer samples every few seconds)", "$text-muted"))
        else:
            lines += SystemPanel._memory(sample, state)
            lines += SystemPanel._step_times(sample.step_times)
            if sample.note:
                lines.append(Content.styled(sample.note, "$text-muted"))
        if state.oom_retries:
            lines.append(Content(""))
            lines.append(Content.styled("CUDA out-of-memory retries", "bold $text-warning"))
            lines += [Content(f"step {notice.step}: {notice.message}") for notice in state.oom_retries[-5:]]
        return Content("\n").join(lines)

    @staticmethod
    def _memory(sample: SystemSample, state: RunState) -> list[Content]:
        lines = [Content.styled(f"at step {sample.step}, over the last {sample.interval_s:.0f} s", "$text-muted")]
        machine = ""
        if sample.ram_total_mib is not None:
            machine = f"   machine {fmt_mib(sample.ram_total_mib)}"
            if sample.ram_available_mib is not None:
                machine += f", {fmt_mib(sample.ram_available_mib)} available"
        cpu = f"   CPU {sample.cpu_percent:.0f}%" if sample.cpu_percent is not None else ""
        lines.append(Content.assemble(("trainer RAM ", "bold"), fmt_mib(sample.rss_mib), machine, cpu))
        spark = sparkline(state.rss_history.values(SPARK_WIDTH), SPARK_WIDTH)
        lines.append(Content.assemble("  ", (spark, "$accent"), " RSS over the run"))
        for device in sample.devices:
            used = bar(device.reserved_mib, device.total_mib, BAR_WIDTH)
            held = bar(device.allocated_mib, device.total_mib, BAR_WIDTH)
            lines.append(Content.styled(f"GPU {device.index} {device.name}", "bold"))
            lines.append(
                Content.assemble(
                    ("  allocated ", ""),
                    (f"{held:<{BAR_WIDTH}}", "$primary"),
                    f" {fmt_mib(device.allocated_mib)} (peak {fmt_mib(device.peak_allocated_mib)})",
                )
            )
            lines.append(
                Content.assemble(
                    ("  reserved  ", ""),
                    (f"{used:<{BAR_WIDTH}}", "$warning"),
                    f" {fmt_mib(device.reserved_mib)} of {fmt_mib(device.total_mib)}",
                )
            )
            driver = []
            if device.utilisation is not None:
                driver.append(f"busy {device.utilisation:.0f}% of the time")
            if device.power_w is not None:
                limit = f" of {device.power_limit_w:.0f} W" if device.power_limit_w else ""
                driver.append(f"power {device.power_w:.0f} W{limit}")
            if driver:
                lines.append(Content("  " + ", ".join(driver)))
        return lines

    @staticmethod
    def _step_times(times: StepTimes | None) -> list[Content]:
        if times is None or times.steps == 0 or times.total_s <= 0:
            return []
        lines = [
            Content(""),
            Content.assemble(("step time ", "bold"), f"{times.total_s * 1000:.0f} ms, mean of {times.steps} steps"),
        ]
        for name, said in STEP_PARTS:
            seconds = getattr(times, name)
            share = seconds / times.total_s
            lines.append(
                Content.assemble(
                    f"  {said:<36} {seconds * 1000:7.1f} ms {share:5.0%} ",
                    (bar(share, 1.0, BAR_WIDTH), "$primary"),
                )
            )
        return lines
