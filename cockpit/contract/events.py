"""The one contract between the engine, the journal, the diagnostics and the UI.

Everything the engine observes leaves it as one of the event dataclasses below; everything the
user asks for reaches it as one of the command dataclasses (`cockpit.contract.commands`). Events are
plain data (numbers, strings, lists, dicts) so that the journal can write them as JSON and read them
back into the very same objects: a live run and a replayed journal feed the UI identically.
"""

from __future__ import annotations

import dataclasses
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


@dataclass
class PinnedExample:
    """A training row whose predictions are followed during the run."""

    index: int
    text: str
    targets: list[float]


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


@dataclass
class RunEnded(Event):
    type: ClassVar[str] = "end"
    reason: EndReason
    model_dir: str | None = None
    checkpoint: str | None = None
    message: str = ""

    def __post_init__(self) -> None:
        self.reason = EndReason(self.reason)


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
