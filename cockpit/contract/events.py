"""The one contract between the engine, the journal, the diagnostics and the UI.

Everything the engine observes leaves it as one of the event dataclasses below; everything the
user asks for reaches it as one of the command dataclasses (`cockpit.contract.commands`). Events are
plain data (numbers, strings, lists, dicts) so that the journal can write them as JSON and read them
back into the very same objects: a live run and a replayed journal feed the UI identically.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cockpit.contract.commands import Command, CommandSyntaxError, parse_command
from cockpit.contract.enums import EndReason, RunStatus, Severity, Task


@dataclass
class Event:
    """Base of every event: the optimizer step it belongs to and the wall-clock time."""

    type: ClassVar[str] = "event"
    step: int
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the event's `type` first, as the journal stores it."""
        return {"type": self.type, **dataclasses.asdict(self)}


PAIR_MARK = " ║ "  # how a sentence pair is shown as one line: "first ║ second"


@dataclass
class PinnedExample:
    """A training row whose predictions are followed during the run."""

    index: int
    text: str
    targets: list[float]  # per label (regression: the one target value)
    text_pair: str | None = None  # a sentence pair's second segment

    @property
    def shown(self) -> str:
        """The text as one line (a pair as `first ║ second`)."""
        return self.text if self.text_pair is None else self.text + PAIR_MARK + self.text_pair


@dataclass
class HeadFit:
    """How the classification head fits the data's labels, as the model loader found it."""

    outputs: int | None  # rows of the head's last linear layer: what the model emits per text
    labels: int  # labels in the data
    problem_type: str | None  # the model config's: single_label_classification / multi_label_classification
    checkpoint_outputs: int | None = None  # outputs of the checkpoint's own head, if it had one
    reinitialised: bool = False
    reinitialised_params: list[str] = field(default_factory=list)
    reason: str = ""  # why it was re-initialised, in words ("" when it was not, or needed no reason)
    group: str = "head"  # the layer group that holds it (model.py always names it so)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadFit:
        """From the journal (older journals lack some keys; unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**{"outputs": None, "labels": 0, "problem_type": None, **known})


@dataclass
class RunStarted(Event):
    """Written once before step 1 (and again on resume): what is trained on what."""

    type: ClassVar[str] = "run"
    model: str
    task: Task
    labels: list[str]
    layers: list[str]
    layer_params: dict[str, int]
    pins: list[PinnedExample]
    device: str
    config: dict[str, Any]
    total_steps: int
    steps_per_epoch: int
    run_dir: str
    train_rows: int
    eval_rows: int
    constant_loss: float  # loss of always predicting the training label frequencies
    frozen: list[str]
    head: HeadFit
    resumed_from: int | None = None
    # regression: the training targets' spread (mean, std, min, max), for the scale rule and the panels
    targets: dict[str, float] = field(default_factory=dict)
    # What training can move per group, where it is less than layer_params: a LoRA run's adapters
    # (and its head). Older journals and full fine-tuning: empty (every parameter trains).
    layer_trainable: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.task = Task(self.task)
        if isinstance(self.head, dict):  # read from a journal
            self.head = HeadFit.from_dict(self.head)


@dataclass
class LayerStats:
    """Per layer group, per optimizer step (the instruments keep 6 significant digits: see `PendingStep`)."""

    grad_norm: float  # before clipping; 0.0 when frozen
    weight_norm: float
    update_ratio: float  # ||w_after - w_before|| / ||w_before||; exactly 0.0 when frozen
    frozen: bool


@dataclass
class StepMetrics(Event):
    """One optimizer step: the loss the optimizer saw and what it did to each layer group."""

    type: ClassVar[str] = "step"
    epoch: float
    loss: float
    lr: float
    samples_per_s: float
    grad_norm: float  # total, before clipping
    layers: dict[str, LayerStats]
    micro_batch: int
    effective_batch: int


@dataclass
class PinPredictions(Event):
    """Pinned examples predicted exactly as inference does: eval mode, no grad, sigmoid/softmax."""

    type: ClassVar[str] = "pins"
    probs: list[list[float]]  # [pin][label]
    losses: list[float]  # each pin's own loss
    loss: float  # their mean: comparable with the training loss


@dataclass
class EvalResult(Event):
    """Evaluation on the held-out split, with the baselines a constant predictor would get."""

    type: ClassVar[str] = "eval"
    epoch: float
    loss: float
    metrics: dict[str, float]  # accuracy, micro_f1, macro_f1, ...
    per_label_f1: dict[str, float]
    predicted_distribution: dict[str, int]  # label -> rows predicted (multilabel: rows positive)
    true_distribution: dict[str, int]
    baselines: dict[str, float]  # majority_accuracy, constant_loss
    rows: int
    # multilabel only: label -> {"threshold": best, "f1": F1 at best, "f1_at_half": F1 at 0.5}
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)


# The metric people quote, in order of preference, each the higher the better: a classifier's
# micro-F1 (every classification eval has it), a regression's R^2 against the constant predictor.
HEADLINE_METRICS = ("micro_f1", "accuracy", "macro_f1", "r2", "pearson")


def headline_metric(metrics: dict[str, float]) -> tuple[str, float] | None:
    """(name, value) of the first of HEADLINE_METRICS that `metrics` holds."""
    for name in HEADLINE_METRICS:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return name, float(value)
    return None


def headline_text(metrics: dict[str, float]) -> str:
    """`micro_f1 0.512`, or "" when no headline metric is there."""
    found = headline_metric(metrics)
    return f"{found[0]} {found[1]:.3f}" if found else ""


@dataclass
class EvalProgress(Event):
    """A long evaluation is under way: rows predicted so far (every few seconds, never for a short one)."""

    type: ClassVar[str] = "eval_progress"
    rows_done: int
    rows_total: int


@dataclass
class CommandApplied(Event):
    """A user or scheduled command, journaled at the step it took effect."""

    type: ClassVar[str] = "command"
    command: str  # the command's text form (`freeze=layer.0-3`), as `--at` and `cockpit send` take it
    source: str  # who sent it, free text: "ui", "schedule", "signal", "attach pid 123", "send", ...
    result: str = ""  # "ok", or "refused: why", or what it did
    id: str = ""  # the inbox's id for the command, so that a sender can wait for this event
    # The command as an object: the engine hands over the one it applied; read from a journal, the
    # text is parsed once here. None when the text is no command (a refused inbox item). Not journaled.
    parsed: Command | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.parsed is None:
            try:
                self.parsed = parse_command(self.command)
            except CommandSyntaxError:
                pass

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        del data["parsed"]
        return data


@dataclass
class Notice(Event):
    """Something the user should know that is not a problem (head re-initialised, rows dropped)."""

    type: ClassVar[str] = "notice"
    kind: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class PinsChanged(Event):
    """The pinned examples after a pin=/unpin= command: later PinPredictions rows follow this list."""

    type: ClassVar[str] = "pins_changed"
    pins: list[PinnedExample]


@dataclass(kw_only=True)
class LoadingStage(Event):
    """Before step 1: what is being loaded (data, tokenizer, model, tokenization), for a waiting screen."""

    type: ClassVar[str] = "loading"
    step: int = 0
    stage: str
    detail: str = ""


@dataclass
class Alarm(Event):
    """A problem named in plain words, with the numbers behind it and what to try.

    `active` is False when the condition that raised it has cleared (alarms do not flap: each
    rule raises once, then releases once).
    """

    type: ClassVar[str] = "alarm"
    kind: str
    severity: Severity
    message: str
    advice: str
    evidence: dict[str, Any] = field(default_factory=dict)
    active: bool = True

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)


@dataclass
class StateChanged(Event):
    """The run's state as the status panel shows it."""

    type: ClassVar[str] = "state"
    state: RunStatus
    reason: str = ""  # the command's source, or why the engine paused itself

    def __post_init__(self) -> None:
        self.state = RunStatus(self.state)


@dataclass
class CheckpointSaved(Event):
    type: ClassVar[str] = "checkpoint"
    path: str


END_WORDS = {
    EndReason.FINISHED: "finished",
    EndReason.STOPPED: "stopped",
    EndReason.INTERRUPTED: "interrupted",
    EndReason.ERROR: "crashed",
    EndReason.DISK_FULL: "stopped: disk full",
}


@dataclass
class RunEnded(Event):
    """The run's last event: how it ended, and all a person needs to go on from there.

    `step` is the last step taken, `checkpoint` the last good checkpoint (None: none was saved),
    `message` the cause in one line ("" when there is nothing to add), and `resume` the command
    that continues the run from that checkpoint ("" where cockpit cannot: a Trainer script, no
    checkpoint). `cockpit runs`, the attached clients and the trainer's own last line all say it
    with `in_words`, so a run's end reads the same wherever one looks.
    """

    type: ClassVar[str] = "end"
    reason: EndReason
    model_dir: str | None = None
    checkpoint: str | None = None
    message: str = ""
    resume: str = ""

    def __post_init__(self) -> None:
        self.reason = EndReason(self.reason)

    def in_words(self) -> str:
        """One line: "stopped: disk full at step 1460 (...); last checkpoint step-1400; resume with: ..."."""
        what = f"{END_WORDS[self.reason]} at step {self.step}" + (f" ({self.message})" if self.message else "")
        if self.reason == EndReason.FINISHED:
            return what + (f"; model in {self.model_dir}" if self.model_dir else "")
        name = os.path.basename(os.path.normpath(self.checkpoint)) if self.checkpoint else ""
        saved = f"last checkpoint {name}" if name else "no checkpoint was saved"
        return "; ".join([what, saved] + ([f"resume with: {self.resume}"] if self.resume and name else []))


@dataclass
class DeviceStats:
    """One CUDA device, as torch's allocator and (with pynvml) the driver see it."""

    index: int
    name: str
    allocated_mib: float  # held by live tensors (torch.cuda.memory_allocated)
    reserved_mib: float  # held by torch's caching allocator, free to others only after empty_cache
    total_mib: float
    peak_allocated_mib: float = 0.0  # since the previous sample
    utilisation: float | None = None  # percent of the time a kernel ran (NVML); None without pynvml
    power_w: float | None = None
    power_limit_w: float | None = None


@dataclass
class StepTimes:
    """Where a step's wall time went, mean seconds per step over the steps since the last sample.

    On CUDA the clocks are the host's: kernels run asynchronously, so device time shows up where the
    host waits for it (the step's one transfer, in `instruments`)."""

    steps: int
    total_s: float
    data_s: float  # drawing the batch's rows and tokenizing them (the collator)
    forward_backward_s: float  # forward and backward less the data
    optimizer_s: float  # optimizer step, scheduler, zero_grad
    instruments_s: float  # the cockpit's measurements, the step's transfer and its events
    other_s: float  # what is left: commands, evaluations, pinned predictions, checkpoints


@dataclass
class SystemSample(Event):
    """The trainer's machine, a few times a minute (never per step): memory, devices, the step's parts."""

    type: ClassVar[str] = "system"
    interval_s: float  # wall time this sample covers
    rss_mib: float  # the trainer process's resident memory
    ram_total_mib: float | None = None  # the machine's
    ram_available_mib: float | None = None
    cpu_percent: float | None = None  # the trainer's CPU time over the interval; 100 = one core busy
    devices: list[DeviceStats] = field(default_factory=list)
    step_times: StepTimes | None = None
    note: str = ""  # why a part is missing ("pynvml is not installed: pip install cockpit[gpu]")

    def __post_init__(self) -> None:
        self.devices = [DeviceStats(**d) if isinstance(d, dict) else d for d in self.devices]
        if isinstance(self.step_times, dict):  # read from a journal
            self.step_times = StepTimes(**self.step_times)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        StepMetrics,
        PinPredictions,
        EvalResult,
        EvalProgress,
        CommandApplied,
        Notice,
        PinsChanged,
        Alarm,
        StateChanged,
        CheckpointSaved,
        RunEnded,
        LoadingStage,
        SystemSample,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """Rebuild an event from its journal dict; unknown types (a newer journal) give None."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        return None
    if cls is Notice and data.get("kind") == "pins_changed":  # journals before PinsChanged existed
        old = data
        data = {k: old[k] for k in ("step", "time") if k in old}
        data["pins"] = (old.get("evidence") or {}).get("pins", [])
        cls = PinsChanged
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in fields}
    if cls in (RunStarted, PinsChanged):
        kwargs["pins"] = [PinnedExample(**p) for p in kwargs.get("pins", [])]
    elif cls is StepMetrics:
        kwargs["layers"] = {name: LayerStats(**s) for name, s in kwargs.get("layers", {}).items()}
    return cls(**kwargs)
