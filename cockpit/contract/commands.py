"""Commands (UI / schedule / signals / inbox -> the training loop), applied between optimizer steps.

Each command has one text form (`freeze=layer.0-3`), the one `--at STEP:COMMAND`, `cockpit send`
and the journal use; `parse_command` turns it back into the dataclass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

from cockpit.contract.enums import EndReason
from cockpit.contract.errors import CockpitError


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


class Scheduled(NamedTuple):
    """One `--at STEP:COMMAND`: applied at the boundary before optimizer step `step`."""

    step: int
    command: Command
    text: str  # as the user wrote it, for messages


def parse_scheduled(text: str) -> Scheduled:
    """Parse `--at STEP:COMMAND` (e.g. `40:unfreeze=layer.4-5`)."""
    match = _SCHEDULE.match(text)
    if not match:
        raise CommandSyntaxError(f"--at {text!r} is not STEP:COMMAND, e.g. --at 40:unfreeze=layer.4-5")
    return Scheduled(int(match.group(1)), parse_command(match.group(2)), text)


def parse_schedule(entries: list[str]) -> list[Scheduled]:
    """Every `--at` of a run, or a CockpitError naming the one that is wrong."""
    parsed = []
    for entry in entries:
        try:
            parsed.append(parse_scheduled(entry))
        except CommandSyntaxError as exc:
            message = str(exc)
            raise CockpitError(message if message.startswith("--at") else f"--at {entry}: {message}") from None
    return parsed
