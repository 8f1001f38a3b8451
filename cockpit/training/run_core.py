"""What every loop the cockpit watches shares, written once: `cockpit train`'s `Engine` owns its loop,
`bridge.live_run.LiveRun` sits inside someone else's (HF Trainer); both are a `RunCore`.

The core holds:
- the run's one event stream (journal first, then observers, then the diagnostics as producers),
  and the rule that a step's metrics leave before any later event (`emit` flushes the pending step);
- the steering surface (`steering.Steerable`): freeze, pause, stop, pins, thresholds, predict now;
  what only the loop's owner can do (`set_lr`, `save_now`, `set_pos_weight`) each loop adds;
- the measure-and-flush of one optimizer step: frozen grads to None, per-group gradient norms, the
  one host transfer per step (this step's loss and norms with the previous step's update sizes),
  the non-finite check, clipping of the trainable gradients, the relative update;
- the pinned examples on one `PinCadence`, predicted the way inference predicts;
- `RunStarted`, evaluation results and the per-label thresholds they leave to keep.

A loop calls, per optimizer step: `measure(loss, lr, step)` after the last backward (before the
optimizer), `measure_update(numbers)` after the optimizer step, then `step_done(numbers, seconds,
rows)`. Between steps: `steering.boundary(...)`. The loop-specific parts are the few abstract
methods at the end of the class.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cockpit.contract.commands import PinRows, UnpinRows
from cockpit.contract.enums import EndReason, RunStatus
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import (
    EvalResult,
    Event,
    HeadFit,
    PinnedExample,
    PinsChanged,
    RunEnded,
    RunStarted,
    StateChanged,
)
from cockpit.contract.stream import EventStream, Observer
from cockpit.diagnostics import Diagnostics
from cockpit.rundir.inbox import CommandInbox
from cockpit.rundir.thresholds import THRESHOLDS_NAME, save_thresholds
from cockpit.training.instruments import GroupNorms, PendingStep, Predictions, clip_gradients, is_finite
from cockpit.training.model import LayerGroup
from cockpit.training.pins import PinCadence
from cockpit.training.steering import FrozenGroups, Steering


class RunCore:
    """One run as the cockpit sees it, whoever owns the loop; subclasses own the loop.

    `publishes`: this process writes the run directory, predicts the pins and evaluates (one rank
    of several does). `diagnose`: the alarm rules run on this stream (always, except a benchmark
    arm measuring without them). `toggle_requires_grad=False` freezes by dropping gradients only
    (what DDP without `find_unused_parameters` needs); `on_nonfinite` pauses for a look (a UI is
    watching) or stops (headless).
    """

    def __init__(
        self,
        run_dir: Path,
        model: torch.nn.Module,
        groups: list[LayerGroup],
        *,
        task: str,
        labels: list[str],
        pins: list[PinnedExample],
        max_grad_norm: float,
        pin_cadence: PinCadence,
        on_nonfinite: str,
        observers: Iterable[Observer] = (),
        stream: EventStream | None = None,
        publishes: bool = True,
        diagnose: bool = True,
        toggle_requires_grad: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.model = model
        self.groups = groups
        self.group_names = [g.name for g in groups]
        self.task, self.labels = task, labels
        self.pins = list(pins)
        self.max_grad_norm = max_grad_norm
        self.pin_cadence = pin_cadence
        self.on_nonfinite = on_nonfinite
        self.publishes = publishes
        self.device = next(model.parameters()).device
        self.stream = stream or EventStream()
        self.stream.observers += list(observers)
        if diagnose and publishes:
            self.stream.producers.append(Diagnostics())
        self.norms = GroupNorms(groups, self.device)
        self.frozen_groups = FrozenGroups(groups, self.norms, toggle_requires_grad)
        self.steering = Steering(self, self.emit)  # its inbox, the run's control endpoint: `listen()`
        self.step = 0
        self.paused = False
        self.stop_reason: EndReason | None = None
        self.stop_message = ""
        self.micro_batch = self.effective_batch = 0
        self.pending: PendingStep | None = None  # an ended step's numbers, waiting for its update sizes
        self.pin_seconds = 0.0  # what the last pinned prediction cost
        self.last_pin_step = -1
        self.last_eval: EvalResult | None = None
        self.thresholds_kept: EvalResult | None = None  # the eval whose thresholds go beside the model

    # ------------------------------------------------------------------ events

    @property
    def observers(self) -> list[Observer]:
        """The stream's observers: append to watch the run (the journal is always first)."""
        return self.stream.observers

    def emit(self, event: Event) -> None:
        """Every event of the run leaves here. A step still waiting for its update sizes is emitted
        first (one extra host transfer, off the hot path), so no later event reaches the journal
        before that step's metrics."""
        if self.stream.journal_error is not None and not isinstance(event, RunEnded):
            raise self.stream.journal_error  # never train on without a journal, even if an observer swallowed it
        self.flush_pending()
        self.stream.emit(event)

    def flush_pending(self, update_values: list[float] | None = None) -> None:
        """Emit the last ended step's metrics, with its update sizes (brought to the host now unless given)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        if update_values is None and pending.update is not None and not pending.skipped:
            update_values = pending.update.tolist()
        self.stream.emit(pending.metrics(self.group_names, update_values, self.micro_batch, self.effective_batch))

    def listen(self) -> None:
        """Take commands from the run directory's inbox too (`cockpit attach`, `cockpit send`)."""
        self.steering.inbox = CommandInbox(self.run_dir)

    def run_started(
        self,
        *,
        model: str,
        device: str,
        config: dict[str, Any],
        total_steps: int,
        steps_per_epoch: int,
        train_rows: int,
        eval_rows: int,
        constant_loss: float,
        head: HeadFit,
        resumed: bool,
    ) -> RunStarted:
        """The `run` event, with what the core knows filled in (labels, groups, pins, frozen)."""
        return RunStarted(
            step=self.step,
            model=model,
            task=self.task,
            labels=self.labels,
            layers=self.group_names,
            layer_params={g.name: g.size for g in self.groups},
            pins=list(self.pins),
            device=device,
            config=config,
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
            run_dir=str(self.run_dir),
            train_rows=train_rows,
            eval_rows=eval_rows,
            constant_loss=constant_loss,
            frozen=self.frozen_groups.in_order(),
            head=head,
            resumed_from=self.step if resumed else None,
        )

    # ------------------------------------------------------------------ one optimizer step

    def measure(self, loss: torch.Tensor, lr: float, step: int, *, scaled: bool = False) -> PendingStep:
        """After the last backward of optimizer step `step` (1-based), before the optimizer.

        Frozen gradients become None (exact freezing in every mode); the per-group gradient norms
        are taken before clipping; this step's loss and norms reach the host in one transfer with
        the previous step's update sizes (computed on the device after its update), and that
        previous step is emitted. A non-finite step (unless an fp16 scaler, `scaled`, handles it)
        drops every gradient so the optimizer skips it: the weights stay the last good ones.
        """
        self.frozen_groups.drop_grads()
        group_grads, grads = self.norms.gradient_norms()
        total = group_grads.pow(2).sum().sqrt()
        previous, self.pending = self.pending, None
        update = previous.update if previous is not None and not previous.skipped else None
        parts = [loss.detach().reshape(1).float().to(self.device), total.reshape(1), group_grads]
        values = torch.cat(parts + ([update] if update is not None else [])).tolist()
        count = len(self.group_names)
        if previous is not None:
            self.pending = previous
            self.flush_pending(values[2 + count :] if update is not None else None)
        numbers = PendingStep(
            step=step,
            loss=values[0],
            lr=lr,
            grad_norm=values[1],
            group_grads=values[2 : 2 + count],
            frozen=frozenset(self.frozen),
        )
        if not is_finite(numbers.loss, numbers.grad_norm) and not scaled:
            for param in self.norms.params:
                param.grad = None
            numbers.skipped = True
            return numbers
        clip_gradients(grads, numbers.grad_norm if math.isfinite(numbers.grad_norm) else 0.0, self.max_grad_norm)
        self.norms.before_update()
        return numbers

    def measure_update(self, numbers: PendingStep) -> None:
        """After the optimizer step: the relative update per group, left on the device."""
        if not numbers.skipped:
            numbers.update = self.norms.update_norms()

    def step_done(self, numbers: PendingStep, seconds: float, rows: int, epoch: float) -> None:
        """Optimizer step `numbers.step` is complete; a skipped (non-finite) one is emitted now and
        the run pauses or stops as `on_nonfinite` says."""
        self.step = numbers.step
        numbers.epoch = epoch
        numbers.samples_per_s = rows / max(seconds, 1e-9)
        self.pending = numbers
        self.pin_cadence.trained(seconds)
        if numbers.skipped:
            self.flush_pending()
            what = "loss" if not math.isfinite(numbers.loss) else "gradient norm"
            why = f"non-finite {what} at step {numbers.step}: update skipped, weights are the last good ones"
            if self.on_nonfinite == "stop":
                self.stop_reason, self.stop_message = EndReason.STOPPED, why
            else:
                self.set_paused(True, reason=why)

    # ------------------------------------------------------------------ the steering surface (steering.Steerable)

    @property
    def frozen(self) -> set[str]:
        return self.frozen_groups.names

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    def set_frozen(self, names: list[str], frozen: bool) -> str:
        return self.frozen_groups.set(names, frozen)

    def set_paused(self, paused: bool, reason: str) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        self.emit(StateChanged(step=self.step, state=RunStatus.PAUSED if paused else RunStatus.RUNNING, reason=reason))

    def stop(self, reason: EndReason) -> None:
        self.stop_reason = reason

    def change_pins(self, command: PinRows | UnpinRows) -> str:
        if isinstance(command, PinRows):
            known = {p.index for p in self.pins}
            self.pins += [p for p in self.pins_for_rows(list(command.rows)) if p.index not in known]
        else:
            pinned = {p.index for p in self.pins}
            self.pins_for_rows([r for r in command.rows if r not in pinned])  # refuses rows that are not training rows
            self.pins = [p for p in self.pins if p.index not in command.rows]
        self.emit(PinsChanged(step=self.step, pins=list(self.pins)))
        self.predict_pins()
        return "ok"

    def predict_pins_now(self) -> str:
        if not self.pins:
            raise CockpitError("no pinned examples to predict (pin=ROWS pins some)")
        self.predict_pins()
        return f"predicted the {len(self.pins)} pinned examples at step {self.step}"

    def save_thresholds(self) -> str:
        """Keep the latest evaluation's best per-label thresholds; they go beside the saved model as
        `thresholds.json` (`pipeline()` ignores anything cockpit-specific in config.json)."""
        result = self.last_eval
        if result is None or not result.thresholds:
            raise CockpitError("no multilabel evaluation yet: thresholds come from the eval split")
        self.thresholds_kept = result
        return (
            f"thresholds from the eval at step {result.step} ({result.rows} rows) will be saved as "
            f"{THRESHOLDS_NAME} {self.thresholds_destination()}: "
            + ", ".join(f"{n} {t['threshold']:g}" for n, t in result.thresholds.items())
        )

    def keep_thresholds_in(self, model_dir: Path | str) -> None:
        """Write the kept thresholds beside a saved model (nothing when none were kept)."""
        result = self.thresholds_kept
        if result is not None and self.publishes:
            save_thresholds(model_dir, result.thresholds, result.step, result.rows)

    # ------------------------------------------------------------------ pins and evaluations

    def pins_due(self) -> bool:
        """About every `pin_every_s` of wall time, if their steady cost fits in their budget of training time."""
        return self.pin_cadence.due(time.monotonic())

    def predict_pins(self) -> None:
        """Predict the pinned examples as inference does and emit them (the main process only)."""
        if not self.pins or not self.publishes:
            return
        self.flush_pending()
        started = time.perf_counter()
        targets = np.asarray([p.targets for p in self.pins], dtype=np.float32)
        predictions = self.predict_examples([p.text for p in self.pins], targets)
        self.pin_seconds = time.perf_counter() - started
        self.pin_cadence.predicted(self.pin_seconds, time.monotonic())
        self.last_pin_step = self.step
        self.emit(predictions.pinned(self.step))

    def evaluated(self, result: EvalResult) -> None:
        """An evaluation's result: journaled, and its thresholds are the ones `save_thresholds` keeps."""
        self.last_eval = result
        self.emit(result)

    def run_ended(self, model_dir: str | None = None, checkpoint: str | None = None) -> RunEnded:
        """The loop ended: the pins once more if the last prediction is older, and the `end` event."""
        if self.last_pin_step != self.step:
            self.predict_pins()
        self.flush_pending()
        return RunEnded(
            step=self.step,
            reason=self.stop_reason or EndReason.FINISHED,
            model_dir=model_dir,
            checkpoint=checkpoint,
            message=self.stop_message,
        )

    # ------------------------------------------------------------------ what each loop does its own way

    def predict_examples(self, texts: list[str], targets: np.ndarray) -> Predictions:
        """Predict `texts` exactly as inference does (eval mode, no grad, the loop's tokenizer)."""
        raise NotImplementedError

    def pins_for_rows(self, rows: list[int]) -> list[PinnedExample]:
        """Training rows (file row numbers, or dataset rows) as pinned examples; CockpitError if one is not."""
        raise NotImplementedError

    def thresholds_destination(self) -> str:
        """Where kept thresholds will be written, in words."""
        raise NotImplementedError

    def set_lr(self, lr: float) -> None:
        raise NotImplementedError

    def save_now(self) -> str:
        raise NotImplementedError

    def set_pos_weight(self, value: str) -> None:
        raise NotImplementedError
