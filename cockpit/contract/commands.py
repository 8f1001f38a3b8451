"""Commands (UI / schedule / signals / inbox -> the training loop), applied between optimizer steps.

Each command has one text form (`freeze=layer.0-3`), the one `--at STEP:COMMAND`, `cockpit send`
and the journal use; `parse_command` turns it back into the dataclass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple
from urllib.parse import urlsplit

from cockpit.contract.enums import EndReason
from cockpit.contract.errors import CockpitError


@dataclass(frozen=True)
class Command:
    """Base of every command. `text` is the form used by `--at STEP:COMMAND` and the journal."""

    @property
    def text(self) -> str:
        raise NotImplementedError

    @property
    def shown(self) -> str:
        """The form written to the journal, which people share: `text` less any secret it holds."""
        return self.text


@dataclass(frozen=True)
class GroupCommand(Command):
    """A command on layer groups (`freeze=layer.0-3`): names, ranges or specs the loop expands."""

    groups: tuple[str, ...]
    name: ClassVar[str] = ""

    @property
    def text(self) -> str:
        return f"{self.name}=" + ",".join(self.groups)


@dataclass(frozen=True)
class Freeze(GroupCommand):
    name: ClassVar[str] = "freeze"


@dataclass(frozen=True)
class Unfreeze(GroupCommand):
    name: ClassVar[str] = "unfreeze"


@dataclass(frozen=True)
class TrainBase(GroupCommand):
    """LoRA runs: full fine-tuning of these groups, named one by one: their base weights train too."""

    name: ClassVar[str] = "full"


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


@dataclass(frozen=True)
class SetNotify(Command):
    """Where the run's alarms and its end are told: an http(s) URL (a JSON POST), a shell command
    (the event as JSON on its stdin), or `off` (neither). A URL replaces the URL, a command the
    command; `off` clears both."""

    target: str

    @property
    def text(self) -> str:
        return f"notify={self.target}"

    @property
    def shown(self) -> str:
        return f"notify={redact_target(self.target)}"


NOTIFY_OFF = "off"
# What a run can tell (`--notify-on`): a raised alarm, the run's end (finished, stopped, interrupted,
# crashed, disk full), an evaluation.
NOTIFY_KINDS = ("alarm", "end", "eval")
DEFAULT_NOTIFY_KINDS = ("alarm", "end")


def notify_kinds_spec(kinds: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The kinds to tell, checked and without repeats; CommandSyntaxError naming an unknown one."""
    chosen = tuple(dict.fromkeys(k.strip().lower() for k in kinds if k.strip()))
    unknown = [k for k in chosen if k not in NOTIFY_KINDS]
    if unknown:
        raise CommandSyntaxError(f"{', '.join(unknown)}: notifications are for {', '.join(NOTIFY_KINDS)}")
    return chosen


def is_url(target: str) -> bool:
    return target.lower().startswith(("http://", "https://"))


def notify_url_spec(url: str) -> str:
    """An http(s) URL with a host, as `--notify-url` and `notify=` take it; else CommandSyntaxError."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CommandSyntaxError(f"a notify URL is http(s)://HOST/..., got {url!r}")
    return url.strip()


def redact_target(target: str | None) -> str | None:
    """A webhook URL's path and query are its password (Slack, Discord, an ntfy topic): the journal
    and the UI show `https://hooks.slack.com/…`; a command is shown as written."""
    if not target or not is_url(target):
        return target
    parts = urlsplit(target)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


class CommandSyntaxError(ValueError):
    """A command string that cannot be parsed; the message says what forms exist."""


def shown_text(text: str) -> str:
    """`text` as written, less any secret it holds (`Command.shown`); text that is no command, as it is."""
    try:
        command = parse_command(text)
    except CommandSyntaxError:
        return text
    return text if command.shown == command.text else command.shown


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
    "freeze=GROUPS, unfreeze=GROUPS, full=GROUPS (LoRA), lr=FLOAT, pause, resume, save, stop, pin=ROWS, "
    "unpin=ROWS, thresholds=save, predict, pos_weight=auto|off|FLOAT, notify=URL|COMMAND|off"
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
    if name in ("freeze", "unfreeze", "full"):
        if not value:
            raise CommandSyntaxError(f"{name} needs layer groups, e.g. {name}=layer.0-3")
        groups = tuple(g.strip() for g in value.split(",") if g.strip())
        return {kind.name: kind for kind in (Freeze, Unfreeze, TrainBase)}[name](groups)
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
    if name == "notify":
        if not value:
            raise CommandSyntaxError("notify needs a URL, a command or off, e.g. notify=https://ntfy.sh/my-topic")
        if value.lower() == NOTIFY_OFF:
            return SetNotify(NOTIFY_OFF)
        return SetNotify(notify_url_spec(value) if is_url(value) else value)
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
