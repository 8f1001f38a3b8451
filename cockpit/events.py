"""The one contract between the engine, the journal, the diagnostics and the UI.

Everything the engine observes leaves it as one of the event dataclasses below; everything the
user asks for reaches it as one of the command dataclasses. Events are plain data (numbers,
strings, lists, dicts) so that the journal can write them as JSON and read them back into the
very same objects: a live run and a replayed journal feed the UI identically.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal

# ---------------------------------------------------------------------------------------------
# The fixed vocabularies. StrEnums: written to the journal as their plain string values, equal to
# those strings, and a typo (`EndReason.FINSHED`) fails at once instead of never matching.
# ---------------------------------------------------------------------------------------------


class Task(StrEnum):
    BINARY = "binary"  # one label per row, two labels
    MULTICLASS = "multiclass"  # one label per row
    MULTILABEL = "multilabel"  # any number of labels per row


class RunStatus(StrEnum):
    """What `StateChanged` reports; the end of a run is `RunEnded` with an `EndReason`."""

    RUNNING = "running"
    PAUSED = "paused"


class EndReason(StrEnum):
    FINISHED = "finished"  # every step trained
    STOPPED = "stopped"  # a stop command, or a non-finite loss in a headless run
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM, SIGHUP
    ERROR = "error"  # an exception; `RunEnded.message` says which and where


class Severity(StrEnum):
    WARNING = "warning"  # the run goes on, and is probably wasting its time
    ERROR = "error"  # the run cannot give a useful model as it is


# ---------------------------------------------------------------------------------------------
# Events (engine -> observers)
# ---------------------------------------------------------------------------------------------


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
    """Per layer group, per optimizer step."""

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


# ---------------------------------------------------------------------------------------------
# Commands (UI / schedule / signals -> engine), applied between optimizer steps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """Base of every command. `text` is the form used by `--at STEP:COMMAND` and the journal."""

    @property
    def text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Freeze(Command):
    groups: tuple[str, ...]

    @property
    def text(self) -> str:
        return "freeze=" + ",".join(self.groups)


@dataclass(frozen=True)
class Unfreeze(Command):
    groups: tuple[str, ...]

    @property
    def text(self) -> str:
        return "unfreeze=" + ",".join(self.groups)


@dataclass(frozen=True)
class SetLearningRate(Command):
    lr: float

    @property
    def text(self) -> str:
        return f"lr={self.lr:g}"


@dataclass(frozen=True)
class Pause(Command):
    @property
    def text(self) -> str:
        return "pause"


@dataclass(frozen=True)
class Resume(Command):
    @property
    def text(self) -> str:
        return "resume"


@dataclass(frozen=True)
class SaveCheckpoint(Command):
    @property
    def text(self) -> str:
        return "save"


@dataclass(frozen=True)
class Stop(Command):
    """Finish the current step, save a checkpoint and end with `reason`.

    `interrupted` is what a signal asks for (exit status 130); a user's `stop` is `stopped`.
    """

    reason: Literal[EndReason.STOPPED, EndReason.INTERRUPTED] = EndReason.STOPPED

    def __post_init__(self) -> None:
        if self.reason not in (EndReason.STOPPED, EndReason.INTERRUPTED):
            raise CommandSyntaxError(f"a stop ends the run as stopped or interrupted, not {self.reason!r}")
        reason = EndReason(self.reason)
        object.__setattr__(self, "reason", reason)

    @property
    def text(self) -> str:
        return "stop" if self.reason == EndReason.STOPPED else f"stop={self.reason}"


@dataclass(frozen=True)
class PinRows(Command):
    rows: tuple[int, ...]

    @property
    def text(self) -> str:
        return "pin=" + ",".join(map(str, self.rows))


@dataclass(frozen=True)
class UnpinRows(Command):
    rows: tuple[int, ...]

    @property
    def text(self) -> str:
        return "unpin=" + ",".join(map(str, self.rows))


@dataclass(frozen=True)
class SaveThresholds(Command):
    """Multilabel: keep the latest evaluation's best per-label thresholds in the model's config."""

    @property
    def text(self) -> str:
        return "thresholds=save"


@dataclass(frozen=True)
class PredictPins(Command):
    """Predict the pinned examples at the next step boundary, whatever their cadence says."""

    @property
    def text(self) -> str:
        return "predict"


@dataclass(frozen=True)
class SetPosWeight(Command):
    """Multilabel: weigh each label's positive rows up in the loss (BCE `pos_weight`).

    `auto`: negatives/positives of each label in the training rows; a number: that weight for every
    label; `off`: 1 (plain BCE)."""

    value: str

    @property
    def text(self) -> str:
        return f"pos_weight={self.value}"


class CommandSyntaxError(ValueError):
    """A command string that cannot be parsed; the message says what forms exist."""


def pos_weight_spec(value: str) -> str:
    """`auto`, `off` or a positive number, as written back in the journal."""
    value = value.strip().lower()
    if value in ("auto", "off"):
        return value
    try:
        weight = float(value)
    except ValueError:
        weight = math.nan
    if not (0 < weight < math.inf):
        raise CommandSyntaxError(f"pos_weight needs auto, off or a positive number, got {value!r}")
    return f"{weight:g}"


COMMAND_FORMS = (
    "freeze=GROUPS, unfreeze=GROUPS, lr=FLOAT, pause, resume, save, stop, pin=ROWS, unpin=ROWS, thresholds=save, "
    "predict, pos_weight=auto|off|FLOAT"
)


def _int_list(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError as exc:
        raise CommandSyntaxError(f"expected row numbers like 3,17,42, got {value!r}") from exc


def parse_command(text: str) -> Command:
    """Parse the textual form (`freeze=layer.0-3`, `lr=1e-5`, `pause`, ...) into a Command.

    Group names are not checked here (the engine knows the model's groups and expands ranges).
    """
    name, _, value = text.strip().partition("=")
    name, value = name.strip().lower(), value.strip()
    if name in ("freeze", "unfreeze"):
        if not value:
            raise CommandSyntaxError(f"{name} needs layer groups, e.g. {name}=layer.0-3")
        groups = tuple(g.strip() for g in value.split(",") if g.strip())
        return Freeze(groups) if name == "freeze" else Unfreeze(groups)
    if name == "lr":
        try:
            lr = float(value)
        except ValueError as exc:
            raise CommandSyntaxError(f"lr needs a number, e.g. lr=1e-5, got {value!r}") from exc
        if not 0 < lr < 1:
            raise CommandSyntaxError(f"lr must be between 0 and 1, got {value}")
        return SetLearningRate(lr)
    if name in ("pin", "unpin"):
        rows = _int_list(value)
        if not rows:
            raise CommandSyntaxError(f"{name} needs row numbers, e.g. {name}=3,17")
        return PinRows(rows) if name == "pin" else UnpinRows(rows)
    if name == "thresholds" and value == "save":
        return SaveThresholds()
    if name == "pos_weight":
        return SetPosWeight(pos_weight_spec(value))
    simple: dict[str, Command] = {
        "pause": Pause(),
        "resume": Resume(),
        "save": SaveCheckpoint(),
        "predict": PredictPins(),
    }
    if name in simple and not value:
        return simple[name]
    if name == "stop" and value in ("", EndReason.INTERRUPTED):
        return Stop(EndReason(value or EndReason.STOPPED))
    raise CommandSyntaxError(f"unknown command {text!r}; known: {COMMAND_FORMS}")


_SCHEDULE = re.compile(r"^\s*(\d+)\s*:\s*(.+)$")


def parse_scheduled(text: str) -> tuple[int, Command]:
    """Parse `--at STEP:COMMAND` (e.g. `40:unfreeze=layer.4-5`)."""
    match = _SCHEDULE.match(text)
    if not match:
        raise CommandSyntaxError(f"--at {text!r} is not STEP:COMMAND, e.g. --at 40:unfreeze=layer.4-5")
    return int(match.group(1)), parse_command(match.group(2))
