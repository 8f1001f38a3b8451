"""Commands, applied the same way in every loop the cockpit steers.

`cockpit train`'s engine and the Trainer bridge (`live_run.LiveRun`) own different loops, but a
command must mean the same in both: `freeze=layer.0` freezes exactly, `lr=1e-5` keeps the
schedule's shape, a refused command is journaled with why. So the dispatch (`apply_command`),
the arrival order and the wait while paused (`Steering`), and the mechanics of freezing
(`FrozenGroups`) live here once; each loop offers the small `Steerable` surface they act on.

A command arrives from this process (`Steering.submit`, thread-safe: the app, a signal handler)
or from another (the run's inbox: `cockpit attach`, `cockpit send`) and takes effect at the next
step boundary, never inside a step: that is what makes a freeze exact.
"""

from __future__ import annotations

import queue
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from torch import nn

from cockpit.contract.commands import (
    Command,
    Freeze,
    Pause,
    PinRows,
    PredictPins,
    Resume,
    SaveCheckpoint,
    SaveThresholds,
    SetLearningRate,
    SetNotify,
    SetPosWeight,
    Stop,
    TrainBase,
    Unfreeze,
    UnpinRows,
    shown_text,
)
from cockpit.contract.enums import EndReason
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import CommandApplied, Event, Notice
from cockpit.rundir.inbox import CommandInbox
from cockpit.training.instruments import GroupNorms
from cockpit.training.model import STACKS, LayerGroup, expand_groups, ratio_note

PAUSE_POLL_S = 0.2  # while paused: how often the inbox is looked at


class Applied(NamedTuple):
    """A command as applied at a boundary: what a distributed job's other ranks replay in order."""

    text: str
    source: str
    id: str


class Steerable(Protocol):
    """What a training loop offers to be steered. A method refuses by raising CockpitError."""

    step: int
    group_names: list[str]

    @property
    def paused(self) -> bool: ...
    @property
    def stopping(self) -> bool: ...
    def set_frozen(self, names: list[str], frozen: bool) -> str: ...
    def set_full(self, names: list[str]) -> str: ...
    def set_lr(self, lr: float) -> None: ...
    def set_paused(self, paused: bool, reason: str) -> None: ...
    def save_now(self) -> str: ...
    def stop(self, reason: EndReason) -> None: ...
    def change_pins(self, command: PinRows | UnpinRows) -> str: ...
    def save_thresholds(self) -> str: ...
    def predict_pins_now(self) -> str: ...
    def set_pos_weight(self, value: str) -> None: ...
    def set_notify(self, target: str) -> str: ...


def apply_command(loop: Steerable, command: Command, source: str) -> str:
    """Apply one command to `loop`; what it did in words ("ok" when there is nothing more to say),
    or "refused: why"."""
    try:
        match command:
            case Freeze() | Unfreeze():
                names = [n for spec in command.groups for n in expand_groups(spec, loop.group_names, flag=command.text)]
                said = loop.set_frozen(names, frozen=isinstance(command, Freeze))
                notes = [ratio_note(spec, loop.group_names) for spec in command.groups]
                return "; ".join([said, *filter(None, notes)])
            case TrainBase():
                return loop.set_full(named_groups(command, loop.group_names))
            case SetLearningRate():
                loop.set_lr(command.lr)
            case Pause() | Resume():
                loop.set_paused(isinstance(command, Pause), reason=source)
            case SaveCheckpoint():
                return loop.save_now()
            case Stop():
                loop.stop(command.reason)
            case PinRows() | UnpinRows():
                return loop.change_pins(command)
            case SaveThresholds():
                return loop.save_thresholds()
            case PredictPins():
                return loop.predict_pins_now()
            case SetPosWeight():
                loop.set_pos_weight(command.value)
            case SetNotify():
                return loop.set_notify(command.target)
    except CockpitError as exc:
        return f"refused: {exc}"
    return "ok"


def named_groups(command: TrainBase, names: list[str]) -> list[str]:
    """The groups `full=` names, one by one or as a range: a base weight trains only where the user
    named its group (never through `all`, a ratio or a whole stack)."""
    for spec in command.groups:
        if spec in ("all", "none", *STACKS) or re.fullmatch(r"[\d.]+", spec):
            raise CockpitError(
                f"{command.text}: name the groups whose base weights should train (e.g. full=layer.11 or "
                "full=layer.10-11); never all, a ratio or a whole stack"
            )
    return [n for spec in command.groups for n in expand_groups(spec, names, flag=command.text)]


class Steering:
    """The commands of one loop: queued from this process, read from the run's inbox, applied in
    arrival order at the loop's step boundaries, each journaled as a `CommandApplied`."""

    def __init__(self, loop: Steerable, emit: Callable[[Event], None], inbox: CommandInbox | None = None) -> None:
        self.loop = loop
        self.emit = emit
        self.inbox = inbox  # set once the run directory is the loop's (rank 0 of a distributed job)
        self.queue: queue.Queue[tuple[Command, str, str]] = queue.Queue()  # command, source, id

    def submit(self, command: Command, source: str = "ui", id: str = "") -> None:
        """Thread-safe: queue a command for the next step boundary; `id` comes back in its CommandApplied."""
        self.queue.put((command, source, id))

    def boundary(self, scheduled: Iterable[Command] = (), applied: list[Applied] | None = None) -> None:
        """Apply the scheduled commands, then those that arrived, in order; while the loop is
        paused, wait for more. Each applied command is appended to `applied`."""
        for command in scheduled:
            self.apply(command, "schedule", applied=applied)
        while not self.loop.stopping:
            self._take_inbox()
            try:
                if self.loop.paused:
                    command, source, id = self.queue.get(timeout=PAUSE_POLL_S)
                else:
                    command, source, id = self.queue.get_nowait()
            except queue.Empty:
                if self.loop.paused:
                    continue
                return
            self.apply(command, source, id, applied=applied)

    def apply(self, command: Command, source: str, id: str = "", applied: list[Applied] | None = None) -> None:
        result = apply_command(self.loop, command, source)
        if applied is not None:
            applied.append(Applied(command.text, source, id))
        step = self.loop.step  # journaled as `shown`: a notify URL without its secret path
        self.emit(CommandApplied(step=step, command=command.shown, source=source, result=result, id=id, parsed=command))

    def _take_inbox(self) -> None:
        """Commands from other processes join the queue behind those already in it; a file that is
        not the owner's, or not a command, is journaled as refused and never applied; what had to
        be done to the folder itself (its mode put back, a link replaced) is journaled as a notice."""
        if self.inbox is None:
            return
        items = self.inbox.take()
        for message in self.inbox.drain_notices():
            self.emit(Notice(step=self.loop.step, kind="inbox", message=message))
        for item in items:
            if item.command is None:
                self.emit(
                    CommandApplied(
                        step=self.loop.step,
                        command=shown_text(item.text),
                        source=item.source,
                        result=f"refused: {item.refused}",
                        id=item.id,
                    )
                )
            else:
                self.submit(item.command, item.source, item.id)


class FrozenGroups:
    """Which layer groups are frozen, and the mechanics that make (un)freezing exact mid-run.

    A frozen group's gradients are None (not zero: AdamW would still move a parameter with a zero
    gradient, through momentum and weight decay), so the optimizer skips it and its weights stay
    bit-identical; its optimizer state is kept for an unfreeze. `toggle_requires_grad` also stops
    autograd from computing them (the speed-up of not running backward below frozen layers); a loop
    whose gradient sync needs every parameter in every backward turns it off and relies on
    `drop_grads` before each optimizer step.

    In a LoRA run a group's parameters are its adapters (LayerGroup.params): freezing and unfreezing
    touch them only. A group with nothing to train (no adapters) counts as frozen; no unfreeze reaches
    a base weight (LayerGroup.fixed) until `full` is asked for that group by name.
    """

    def __init__(self, groups: list[LayerGroup], norms: GroupNorms, toggle_requires_grad: bool = True) -> None:
        self.groups = groups
        self.group_names = [g.name for g in groups]
        self.norms = norms
        self.toggle_requires_grad = toggle_requires_grad
        self.names: set[str] = {g.name for g in groups if g.size and not any(p.requires_grad for p in g.params)}
        self.full: set[str] = set()  # LoRA groups whose base weights train too (`full=`)
        self.base_weights: list[nn.Parameter] = []  # those base weights: saved beside the adapter

    def set(self, names: list[str], frozen: bool) -> str:
        """Freeze or unfreeze `names`; what changed in words ("froze embeddings, layer.0")."""
        idle = [g.name for g in self.groups if g.name in names and g.size and not g.params]
        if not frozen:
            names = [n for n in names if n not in idle]  # nothing of theirs may train: they stay frozen
        changed = [g for g in self.group_names if g in names and (g in self.names) != frozen]
        target = (self.names | set(names)) if frozen else (self.names - set(names))
        if len(target) == len(self.group_names):
            raise CockpitError("at least one layer group must stay trainable")
        for group in self.groups:
            if group.name in names:
                for param in group.params:
                    param.grad = None
                    if self.toggle_requires_grad or not frozen:
                        param.requires_grad_(not frozen)
        self.names = target
        self.norms.refresh()
        verb = "froze" if frozen else "unfroze"
        adapters = "the adapters of " if any(g.fixed for g in self.groups) else ""  # a LoRA run
        unchanged = [g for g in self.group_names if g in names and g not in changed]
        nothing = f"nothing to {'freeze' if frozen else 'unfreeze'}"
        said = f"{verb} {adapters}{', '.join(changed)}" if changed else nothing
        if unchanged:
            said += f" ({', '.join(unchanged)} already {'frozen' if frozen else 'trainable'})"
        if adapters and not frozen:
            said += "; base weights stay as loaded"
        if idle and not frozen:
            have = "has" if len(idle) == 1 else "have"
            said += f" ({', '.join(idle)} {have} no adapters; full={idle[0]} would train its base weights)"
        return said

    def train_base(self, names: list[str]) -> str:
        """Full fine-tuning of LoRA groups the user named: their base weights join their adapters from
        the next step (frozen with them, where the group is frozen; a group without adapters starts to train)."""
        moved = [g for g in self.groups if g.name in names and g.fixed]
        if not moved:
            return f"nothing to do: {', '.join(names)} {'has' if len(names) == 1 else 'have'} no base weights left out"
        count = sum(p.numel() for g in moved for p in g.fixed)
        for group in moved:
            if not group.params:
                self.names.discard(group.name)  # frozen only for having nothing to train
            for param in group.fixed:
                param.requires_grad_(group.name not in self.names)
            self.base_weights += group.fixed
            group.params += group.fixed
            group.fixed = []
            self.full.add(group.name)
        self.norms.regroup()
        frozen = [g.name for g in moved if g.name in self.names]
        return (
            f"full fine-tuning of {', '.join(g.name for g in moved)}: base weights train too ({count:,} parameters)"
            + (f" once {', '.join(frozen)} {'is' if len(frozen) == 1 else 'are'} unfrozen" if frozen else "")
            + "; they are saved beside the adapter, and merged by --merge-lora"
        )

    def drop_grads(self) -> None:
        """Right before an optimizer step: every frozen parameter's gradient is None."""
        for group in self.groups:
            if group.name in self.names:
                for param in group.params:
                    param.grad = None

    def in_order(self) -> list[str]:
        return [n for n in self.group_names if n in self.names]
