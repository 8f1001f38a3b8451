"""Everything a client shows of a run, folded from its events: `RunFold`, the cockpit's one model of a run.

Events arrive one by one; `RunFold.apply` does O(1) work per event (O(layers) for a step, O(pins x
labels) for pinned predictions), keeps only bounded series (`History`), and records which parts
(status, loss, pins, layers, eval, log) have something new, so a screen redraws only what changed.
A live run, a replayed journal and the run's summary file go through the very same code: the
trainer folds its own events as it journals them and writes the fold, from time to time, beside the
journal (`cockpit.rundir.summary`); a client restores that fold (`apply(FoldSnapshot)`) and folds
only the events written after it, and gets what a fold of the whole journal gives.

A crashed process's steps after its last checkpoint are taken again by the resumed run, so the
journal holds them twice. `read_journal` drops the crashed copies before a replay sees them; a live
view (`cockpit attach`, following the journal line by line) has already folded them in when the
resumed run's `run` event arrives, so `RunFold` forgets what it holds after the step the run
resumed from: the charts, the evaluations, the alarms and checkpoints in the log count each step
once, live as in replay.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cockpit.contract.commands import Freeze, SetLearningRate, TrainBase, Unfreeze
from cockpit.contract.events import (
    Alarm,
    CheckpointSaved,
    CommandApplied,
    EvalProgress,
    EvalResult,
    Event,
    Notice,
    PinnedExample,
    PinPredictions,
    PinsChanged,
    RunEnded,
    RunStarted,
    StateChanged,
    StepMetrics,
    SystemSample,
)
from cockpit.diagnostics.judgements import LossTracker
from cockpit.rundir.journal_lines import event_from_record, event_record
from cockpit.rundir.series import History

# Panels a change can concern; the app redraws only those named in `RunState.changed`.
STATUS, LOSS, PINS, PINS_LAYOUT, LAYERS, LAYERS_LAYOUT, EVAL, LOG, SYSTEM = (
    "status",
    "loss",
    "pins",
    "pins_layout",
    "layers",
    "layers_layout",
    "eval",
    "log",
    "system",
)
ALL_PANELS = frozenset({STATUS, LOSS, PINS, PINS_LAYOUT, LAYERS, LAYERS_LAYOUT, EVAL, LOG, SYSTEM})
OUT_OF_MEMORY = "out_of_memory"  # the engine's notice when a CUDA OOM halved the micro-batch

# Verdicts the panels show are the alarms' own: the alarm kind, and the panel that shows it.
PREDICTIONS_LAG = "predictions_disagree"  # pinned rows predicted far worse than the training loss says
PINS_NOT_LEARNED = "pins_not_learned"  # ...because those rows are not learned yet (the path is fine)
COLLAPSE = "collapse"  # predictions on one class, at the majority share, or no label at all
VERDICT_PANELS = {PREDICTIONS_LAG: PINS, PINS_NOT_LEARNED: PINS, COLLAPSE: EVAL}

LOG_LIMIT = 300
RATE_WINDOW = 50  # step events used for the steps/s behind the ETA
EVAL_MEMORY = 16  # evaluations kept, so that a resume can go back to the last one before it
# Alarm events kept for a resume to fold again: a run of a million steps whose alarm rises and clears
# every few thousand steps must not grow its summary with them. A resume goes back to its last
# checkpoint, a few alarm events at most; further back than these, only each kind's latest is kept.
ALARM_MEMORY = 128
# Log entries of per-step events, which a resumed run takes again (journal.PER_STEP's alarms and checkpoints).
_RETAKEN_LOG_KINDS = frozenset({"alarm", "cleared", "checkpoint"})


@dataclass
class LayerView:
    """One layer group as the layers table shows it."""

    name: str
    params: int
    frozen: bool
    trainable: int | None = None  # what training can move, where less than `params` (a LoRA run's adapters)
    grad_norm: float | None = None
    update_ratio: float | None = None
    grad_history: History = field(default_factory=lambda: History(256))
    # what the user asked for and the engine has not confirmed yet (None: nothing pending)
    requested_frozen: bool | None = None


@dataclass
class LogEntry:
    """A line of the alarms-and-log panel."""

    step: int
    kind: str  # "alarm" | "cleared" | "notice" | "command" | "checkpoint" | "state" | "end" | "error"
    title: str
    detail: str = ""
    severity: str = ""  # alarms: "warning" | "error" | "info"
    cleared_at: int | None = None  # for a raised alarm, the step it cleared at


class RunFold:
    """The run as a client shows it."""

    def __init__(self) -> None:
        self.started: RunStarted | None = None
        self.state = "waiting"  # running | paused | finished | stopped | interrupted | error
        self.state_reason = ""
        self.ended: RunEnded | None = None
        self.error: str | None = None
        self.step = 0
        self.epoch = 0.0
        self.samples_per_s: float | None = None
        self.loss: float | None = None
        self.lr: float | None = None
        self.peak_lr: float | None = None  # the schedule's peak: what SetLearningRate sets
        self.grad_norm: float | None = None
        self.micro_batch: int | None = None
        self.effective_batch: int | None = None
        self.last_checkpoint: str | None = None

        # the smoothed loss and its noise: the very numbers the alarms judge (cockpit.judgements)
        self.loss_tracker = LossTracker()
        self.loss_history = History()
        self.smoothed_history = History()
        self.lr_history = History(512)
        self.grad_history = History(512)
        self.eval_losses = History(512)
        self.pinned_losses = History(512)
        self._step_times: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)

        self.layers: dict[str, LayerView] = {}

        self.labels: list[str] = []
        self.pins: list[PinnedExample] = []
        self.pin_probs: list[list[float]] | None = None
        self.pin_losses: list[float] | None = None
        self.pin_loss: float | None = None
        self.pin_step: int | None = None
        self.pin_time: float | None = None  # wall-clock time of that prediction
        self.last_time: float | None = None  # the newest event's time ("ago" in a replay counts from it)
        self.pin_history: list[list[History]] = []  # [pin][label]

        self.last_eval: EvalResult | None = None
        self.previous_eval: EvalResult | None = None
        self._evals: deque[EvalResult] = deque(maxlen=EVAL_MEMORY)
        self.eval_progress: tuple[int, int] | None = None  # (rows done, rows) while a long evaluation runs

        # the trainer's machine, sampled every few seconds (SystemSample), and its CUDA OOM retries
        self.system: SystemSample | None = None
        self.rss_history = History(512)
        self.device_history: dict[int, History] = {}  # device index -> memory reserved (MiB)
        self.oom_retries: list[Notice] = []

        self.log: deque[LogEntry] = deque(maxlen=LOG_LIMIT)  # newest first
        self.active_alarms: dict[str, Alarm] = {}
        self._raised: dict[str, LogEntry] = {}
        # alarm events and their log lines, so that a resume can fold them again up to its step: the last
        # ALARM_MEMORY of them, and each kind's latest however old (see `_on_alarm`)
        self._alarms: list[tuple[Alarm, LogEntry]] = []

        self.changed: set[str] = set()

    # ------------------------------------------------------------------ folding events

    def apply(self, event: Event | FoldSnapshot) -> None:
        """Fold one event in, or take a snapshot's state whole; unknown event types (a newer engine)
        and loading stages (the loading screen's, before the run exists) are ignored."""
        if isinstance(event, FoldSnapshot):
            self.restore(event.state)
            return
        if event.type == "loading":
            return
        if self.last_time is None or event.time > self.last_time:
            self.last_time = event.time
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event)

    def _on_run(self, event: RunStarted) -> None:
        first = self.started is None
        resumed = not first and event.resumed_from is not None
        if resumed:
            self._forget_after(event.resumed_from)
        self.started = event
        self.step = event.step if resumed else max(self.step, event.step)
        if self.error is None and self.state in ("waiting", "finished", "stopped", "interrupted", "error"):
            self.state, self.ended = "running", None  # a resumed run appends to the same journal
        self.labels = list(event.labels)
        self.loss_tracker = LossTracker()  # as the diagnostics do: a resumed run judges its own steps
        frozen = set(event.frozen)
        if list(self.layers) != list(event.layers):
            self.layers = {
                name: LayerView(name, int(event.layer_params.get(name, 0)), name in frozen) for name in event.layers
            }
            self.changed.add(LAYERS_LAYOUT)
        else:
            for view in self.layers.values():
                view.frozen, view.requested_frozen = view.name in frozen, None
        for view in self.layers.values():
            view.trainable = event.layer_trainable.get(view.name)
        self._set_pins(list(event.pins))
        peak = event.config.get("lr")
        if isinstance(peak, (int, float)) and self.peak_lr is None:
            self.peak_lr = float(peak)
        effective = event.config.get("effective_batch")
        if isinstance(effective, int):
            self.effective_batch = effective
        if not first and event.resumed_from is not None:
            self._log(LogEntry(event.step, "notice", f"resumed from step {event.resumed_from}"))
        self.changed |= {STATUS, LAYERS, LOSS}

    def _on_step(self, event: StepMetrics) -> None:
        self.step, self.epoch = event.step, event.epoch
        self.loss, self.lr, self.grad_norm = event.loss, event.lr, event.grad_norm
        self.micro_batch, self.effective_batch = event.micro_batch, event.effective_batch
        if event.samples_per_s > 0 and math.isfinite(event.samples_per_s):
            previous = self.samples_per_s
            self.samples_per_s = event.samples_per_s if previous is None else 0.8 * previous + 0.2 * event.samples_per_s
        if self.state == "waiting" and self.error is None:
            self.state = "running"
        self._step_times.append((event.time, event.step))
        self.loss_history.append(event.step, event.loss)
        smoothed = self.loss_tracker.add(event.loss)
        if smoothed is not None:
            self.smoothed_history.append(event.step, smoothed)
        self.lr_history.append(event.step, event.lr)
        self.grad_history.append(event.step, event.grad_norm)
        for name, stats in event.layers.items():
            view = self.layers.get(name)
            if view is None:  # a step before any RunStarted (a journal cut at the front)
                view = self.layers[name] = LayerView(name, 0, stats.frozen)
                self.changed.add(LAYERS_LAYOUT)
            view.frozen = stats.frozen
            view.grad_norm, view.update_ratio = stats.grad_norm, stats.update_ratio
            view.grad_history.append(event.step, stats.grad_norm)
            if view.requested_frozen is not None and view.requested_frozen == stats.frozen:
                view.requested_frozen = None
        self.changed |= {STATUS, LOSS, LAYERS}

    def _on_pins(self, event: PinPredictions) -> None:
        self.pin_probs, self.pin_losses, self.pin_loss = event.probs, event.losses, event.loss
        self.pin_step, self.pin_time = event.step, event.time
        self.pinned_losses.append(event.step, event.loss)
        for pin, row in enumerate(event.probs[: len(self.pin_history)]):
            for label, prob in enumerate(row[: len(self.pin_history[pin])]):
                self.pin_history[pin][label].append(event.step, prob)
        self.changed |= {PINS, LOSS}

    def _on_eval_progress(self, event: EvalProgress) -> None:
        self.eval_progress = (event.rows_done, event.rows_total)
        self.changed.add(STATUS)

    def _on_eval(self, event: EvalResult) -> None:
        self.previous_eval, self.last_eval = self.last_eval, event
        self._evals.append(event)
        if self.eval_progress is not None:
            self.eval_progress = None
            self.changed.add(STATUS)
        self.eval_losses.append(event.step, event.loss)
        self.changed |= {EVAL, LOSS}

    def _on_command(self, event: CommandApplied) -> None:
        failed = event.result.startswith(("refused", "error"))  # else "ok" or what it did ("froze layer.0")
        self._log(
            LogEntry(
                event.step,
                "command",
                event.command,
                f"{event.source}: {event.result or 'ok'}",
                severity="warning" if failed else "",
            )
        )
        command = event.parsed
        if isinstance(command, SetLearningRate) and not failed:
            self.peak_lr = command.lr
        if isinstance(command, TrainBase) and event.result.startswith("full fine-tuning"):
            for name in command.groups:  # its base weights train too: every parameter of the group
                if name in self.layers:
                    self.layers[name].trainable = None
            self.changed.add(LAYERS)
        if isinstance(command, (Freeze, Unfreeze)):
            # Names the UI sent come back verbatim; ranges (layer.0-3) wait for the next step.
            for name in command.groups:
                view = self.layers.get(name)
                if view is not None:
                    if not failed and view.frozen != isinstance(command, Freeze):
                        view.frozen = isinstance(command, Freeze)
                        # the last step's numbers were measured in the other state: "-" until the next step
                        view.grad_norm = view.update_ratio = None
                    view.requested_frozen = None
            self.changed.add(LAYERS)

    def _on_pins_changed(self, event: PinsChanged) -> None:
        self._set_pins(list(event.pins))

    def _on_notice(self, event: Notice) -> None:
        self._log(LogEntry(event.step, "notice", event.message, event.kind))
        if event.kind == OUT_OF_MEMORY:
            self.oom_retries.append(event)
            self.changed |= {STATUS, SYSTEM}

    def _on_system(self, event: SystemSample) -> None:
        self.system = event
        self.rss_history.append(event.step, event.rss_mib)
        for device in event.devices:
            self.device_history.setdefault(device.index, History(512)).append(event.step, device.reserved_mib)
        self.changed |= {STATUS, SYSTEM}

    def _on_alarm(self, event: Alarm) -> None:
        if event.active:
            entry = LogEntry(event.step, "alarm", event.message, event.advice, severity=event.severity)
        else:
            entry = LogEntry(event.step, "cleared", f"cleared: {event.message}", event.kind)
        self._alarms.append((event, entry))
        if len(self._alarms) > ALARM_MEMORY:
            self._alarms = _recent_alarms(self._alarms)
        self._fold_alarm(event, entry)
        self._log(entry)
        self.changed.add(STATUS)
        if event.kind in VERDICT_PANELS:
            self.changed.add(VERDICT_PANELS[event.kind])

    def _on_state(self, event: StateChanged) -> None:
        if self.ended is None and self.error is None:
            self.state, self.state_reason = event.state, event.reason
        self._log(LogEntry(event.step, "state", event.state, event.reason))
        self.changed.add(STATUS)

    def _on_checkpoint(self, event: CheckpointSaved) -> None:
        self.last_checkpoint = event.path
        self._log(LogEntry(event.step, "checkpoint", "checkpoint saved", event.path))
        self.changed.add(STATUS)

    def _on_end(self, event: RunEnded) -> None:
        self.ended, self.state, self.state_reason = event, event.reason, event.message
        self.step = max(self.step, event.step)
        for view in self.layers.values():
            view.requested_frozen = None
        where = event.model_dir or event.checkpoint or ""
        self._log(
            LogEntry(
                event.step,
                "end",
                f"run {event.reason}",
                event.message or where,
                severity="error" if event.reason in ("error", "disk_full") else "",
            )
        )
        self.changed |= {STATUS, LAYERS}

    def _fold_alarm(self, event: Alarm, entry: LogEntry) -> None:
        if event.active:
            self.active_alarms[event.kind] = event
            self._raised[event.kind] = entry
        else:
            self.active_alarms.pop(event.kind, None)
            raised = self._raised.pop(event.kind, None)
            if raised is not None:
                raised.cleared_at = event.step

    def _forget_after(self, step: int) -> None:
        """A run resumed from `step`: what the crashed process did after it is taken again, so forget it.

        The same as if the journal had held each step once (what `read_journal` gives a replay).
        What the resumed run's `run` event resets anyway (the pins' latest predictions, the smoothed
        loss) is left to `_on_run`; the speed and the ETA start again from the resumed run's steps.
        """
        series = [self.loss_history, self.smoothed_history, self.lr_history, self.grad_history]
        series += [self.eval_losses, self.pinned_losses]
        series += [view.grad_history for view in self.layers.values()]
        series += [history for row in self.pin_history for history in row]
        series += [self.rss_history, *self.device_history.values()]
        for history in series:
            history.drop_after(step)
        self.samples_per_s = None
        self._step_times.clear()
        self.pin_probs = self.pin_losses = self.pin_loss = self.pin_step = self.pin_time = None
        while self._evals and self._evals[-1].step > step:
            self._evals.pop()
        self.last_eval = self._evals[-1] if self._evals else None
        self.previous_eval = self._evals[-2] if len(self._evals) > 1 else None
        self._alarms = [(event, entry) for event, entry in self._alarms if event.step <= step]
        self.active_alarms, self._raised = {}, {}
        for _event, entry in self._alarms:
            entry.cleared_at = None
        for event, entry in self._alarms:
            self._fold_alarm(event, entry)
        kept = [e for e in self.log if not (e.kind in _RETAKEN_LOG_KINDS and e.step > step)]
        self.log = deque(kept, maxlen=LOG_LIMIT)
        checkpoints = [e for e in kept if e.kind == "checkpoint"]
        self.last_checkpoint = checkpoints[0].detail if checkpoints else None
        self.changed |= {STATUS, LOSS, PINS, LAYERS, EVAL, LOG}

    # ------------------------------------------------------------------ the fold as data (the summary file)

    def snapshot(self) -> dict[str, Any]:
        """The whole fold as plain data, exactly: `restore` of it gives a fold equal to this one,
        which folds every later event as this one would. Its size does not grow with the run."""
        entries: dict[int, LogEntry] = {}  # alarm lines are shared by the log, `_raised` and `_alarms`
        for entry in [*self.log, *self._raised.values(), *(entry for _alarm, entry in self._alarms)]:
            entries.setdefault(id(entry), entry)
        index = {key: i for i, key in enumerate(entries)}
        return {
            "started": _record(self.started),
            "state": str(self.state),
            "state_reason": self.state_reason,
            "ended": _record(self.ended),
            "error": self.error,
            "step": self.step,
            "epoch": self.epoch,
            "samples_per_s": self.samples_per_s,
            "loss": self.loss,
            "lr": self.lr,
            "peak_lr": self.peak_lr,
            "grad_norm": self.grad_norm,
            "micro_batch": self.micro_batch,
            "effective_batch": self.effective_batch,
            "last_checkpoint": self.last_checkpoint,
            "loss_tracker": self.loss_tracker.to_dict(),
            "series": {name: getattr(self, name).to_dict() for name in _SERIES},
            "step_times": [list(pair) for pair in self._step_times],
            "layers": [
                {f.name: getattr(view, f.name) for f in dataclasses.fields(view) if f.name != "grad_history"}
                | {"grad_history": view.grad_history.to_dict()}
                for view in self.layers.values()
            ],
            "labels": list(self.labels),
            "pins": [dataclasses.asdict(pin) for pin in self.pins],
            "pin_probs": self.pin_probs,
            "pin_losses": self.pin_losses,
            "pin_loss": self.pin_loss,
            "pin_step": self.pin_step,
            "pin_time": self.pin_time,
            "last_time": self.last_time,
            "pin_history": [[history.to_dict() for history in row] for row in self.pin_history],
            "evals": [_record(e) for e in self._evals],
            "last_eval": _position(self.last_eval, self._evals),
            "previous_eval": _position(self.previous_eval, self._evals),
            "eval_progress": list(self.eval_progress) if self.eval_progress else None,
            "system": _record(self.system),
            "rss_history": self.rss_history.to_dict(),
            "device_history": [[index, history.to_dict()] for index, history in self.device_history.items()],
            "oom_retries": [_record(notice) for notice in self.oom_retries],
            "entries": [dataclasses.asdict(entry) for entry in entries.values()],
            "log": [index[id(entry)] for entry in self.log],
            "active_alarms": {kind: _record(alarm) for kind, alarm in self.active_alarms.items()},
            "raised": {kind: index[id(entry)] for kind, entry in self._raised.items()},
            "alarms": [[_record(alarm), index[id(entry)]] for alarm, entry in self._alarms],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Become the fold `snapshot` described (in place: whoever holds this fold sees the run).

        Raises ValueError (or KeyError, TypeError) for data that is not such a snapshot; the fold
        is then left as it was.
        """
        entries = [LogEntry(**entry) for entry in data["entries"]]
        evals: deque[EvalResult] = deque((_event(e, EvalResult) for e in data["evals"]), maxlen=EVAL_MEMORY)
        values: dict[str, Any] = {
            "started": _event(data["started"], RunStarted),
            "state": data["state"],
            "state_reason": data["state_reason"],
            "ended": _event(data["ended"], RunEnded),
            "error": data["error"],
            "loss_tracker": LossTracker.from_dict(data["loss_tracker"]),
            "_step_times": deque((tuple(pair) for pair in data["step_times"]), maxlen=RATE_WINDOW),
            "layers": {
                view["name"]: LayerView(**{**view, "grad_history": History.from_dict(view["grad_history"])})
                for view in data["layers"]
            },
            "labels": list(data["labels"]),
            "pins": [PinnedExample(**pin) for pin in data["pins"]],
            "pin_history": [[History.from_dict(h) for h in row] for row in data["pin_history"]],
            "_evals": evals,
            "last_eval": evals[data["last_eval"]] if data["last_eval"] is not None else None,
            "previous_eval": evals[data["previous_eval"]] if data["previous_eval"] is not None else None,
            "eval_progress": tuple(data["eval_progress"]) if data["eval_progress"] else None,
            "system": _event(data["system"], SystemSample),
            "rss_history": History.from_dict(data["rss_history"]),
            "device_history": {int(index): History.from_dict(h) for index, h in data["device_history"]},
            "oom_retries": [_event(notice, Notice) for notice in data["oom_retries"]],
            "log": deque((entries[i] for i in data["log"]), maxlen=LOG_LIMIT),
            "active_alarms": {kind: _event(alarm, Alarm) for kind, alarm in data["active_alarms"].items()},
            "_raised": {kind: entries[i] for kind, i in data["raised"].items()},
            "_alarms": [(_event(alarm, Alarm), entries[i]) for alarm, i in data["alarms"]],
            "changed": set(ALL_PANELS),
        }
        values |= {name: History.from_dict(data["series"][name]) for name in _SERIES}
        values |= {name: data[name] for name in _SCALARS}
        missing = set(vars(RunFold())) - set(values)
        if missing:  # a field added to the fold without its place in the snapshot
            raise ValueError(f"a fold snapshot without {sorted(missing)}")
        vars(self).update(values)

    # ------------------------------------------------------------------ derived numbers

    @property
    def regression(self) -> bool:
        """A regression run: the panels show predicted values against targets, not probabilities."""
        return self.started is not None and self.started.task == "regression"

    @property
    def value_range(self) -> tuple[float, float]:
        """The scale a regression run's values are drawn on: its training targets' range (0..1 otherwise)."""
        targets = self.started.targets if self.started is not None else {}
        low, high = targets.get("min", 0.0), targets.get("max", 1.0)
        return (low, high) if high > low else (low - 1.0, low + 1.0)

    @property
    def total_steps(self) -> int:
        return self.started.total_steps if self.started else 0

    @property
    def start_lr(self) -> float | None:
        """The learning rate the run started with (its --lr): what a new one is compared with."""
        lr = self.started.config.get("lr") if self.started else None
        return float(lr) if isinstance(lr, (int, float)) else self.peak_lr

    @property
    def smoothed_loss(self) -> float | None:
        return self.loss_tracker.ema

    @property
    def loss_noise(self) -> float | None:
        """How far single steps scatter around the smoothed loss (the noise alarm's measure)."""
        return self.loss_tracker.shown_noise()

    def raised(self, severity: str) -> list[Alarm]:
        """The alarms up now of one severity ("error", "warning", "info")."""
        return [alarm for alarm in self.active_alarms.values() if alarm.severity == severity]

    @property
    def problems(self) -> int:
        """Alarms up now that ask for something (errors and warnings; an info alarm only informs)."""
        return len(self.raised("error")) + len(self.raised("warning"))

    @property
    def steps_per_s(self) -> float | None:
        """From the step events' own clock, so time spent on evals and pins is counted too."""
        if len(self._step_times) >= 2:
            (t0, s0), (t1, s1) = self._step_times[0], self._step_times[-1]
            if t1 > t0 and s1 > s0:
                return (s1 - s0) / (t1 - t0)
        if self.samples_per_s and self.effective_batch:
            return self.samples_per_s / self.effective_batch
        return None

    @property
    def eta_s(self) -> float | None:
        rate = self.steps_per_s
        if not rate or self.state != "running" or not self.total_steps:
            return None
        return max(self.total_steps - self.step, 0) / rate

    @property
    def layer_names(self) -> list[str]:
        return list(self.layers)

    # ------------------------------------------------------------------ helpers

    def _set_pins(self, pins: list[PinnedExample]) -> None:
        old = {p.index: (p, hist) for p, hist in zip(self.pins, self.pin_history, strict=True)}
        self.pins = pins
        # keep the history of rows that stay pinned; predictions wait for the next PinPredictions
        self.pin_history = [old[p.index][1] if p.index in old else [History(256) for _ in self.labels] for p in pins]
        self.pin_probs = self.pin_losses = None
        self.changed |= {PINS, PINS_LAYOUT}

    def _log(self, entry: LogEntry) -> None:
        self.log.appendleft(entry)
        self.changed.add(LOG)


# The fold's plain fields, and its series, as `snapshot` names them.
_SCALARS = (
    "step", "epoch", "samples_per_s", "loss", "lr", "peak_lr", "grad_norm", "micro_batch", "effective_batch",
    "last_checkpoint", "pin_probs", "pin_losses", "pin_loss", "pin_step", "pin_time", "last_time",
)  # fmt: skip
_SERIES = ("loss_history", "smoothed_history", "lr_history", "grad_history", "eval_losses", "pinned_losses")


@dataclass
class FoldSnapshot:
    """A fold's state as `RunFold.snapshot` gives it, handed to a fold's `apply` like an event.

    A client's journal reader puts it on the event queue first (read from the run's summary file, or
    made by folding the journal itself), then the events written after `offset`.
    """

    state: dict[str, Any]
    offset: int = 0


def _recent_alarms(alarms: list[tuple[Alarm, LogEntry]]) -> list[tuple[Alarm, LogEntry]]:
    """The last `ALARM_MEMORY // 2` alarm events, and before them only each kind's latest."""
    older, recent = alarms[: -ALARM_MEMORY // 2], alarms[-ALARM_MEMORY // 2 :]
    latest = {alarm.kind: i for i, (alarm, _entry) in enumerate(older)}
    return [pair for i, pair in enumerate(older) if latest[pair[0].kind] == i] + recent


def _record(event: Event | None) -> dict[str, Any] | None:
    return None if event is None else event_record(event)


def _event(record: dict[str, Any] | None, cls: type[Event]) -> Any:
    """An event kept in a snapshot, checked as a journal line is."""
    if record is None:
        return None
    event = event_from_record(record)
    if not isinstance(event, cls):
        raise ValueError(f"a snapshot's {cls.type} event is a {type(event).__name__}")
    return event


def _position(event: EvalResult | None, evals: deque[EvalResult]) -> int | None:
    """Where `event` is in `evals` (counted from the end), so that the restored fold shares it."""
    if event is None:
        return None
    for back, kept in enumerate(reversed(evals), start=1):
        if kept is event:
            return -back
    raise ValueError("an evaluation shown that is not among those kept")
