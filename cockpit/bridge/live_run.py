"""The cockpit inside someone else's training loop (HF Trainer today, Lightning later).

`LiveRun` holds what `cockpit train`'s engine does around an optimizer step, without owning the
loop: per-group gradient norms (before clipping), clipping of the trainable gradients only, the
relative update, the frozen set, the commands from the run directory's inbox, pinned predictions
on a time budget, evaluation results, and the journal. It knows torch modules, optimizers and
schedulers, never a Trainer type: an adapter calls its methods in this order per optimizer step

    boundary()                    between steps: commands (a pause waits here)
    (forward/backward: the loss and eval predictions arrive through a forward hook)
    before_optimizer_step()       frozen grads -> None, norms, clip, snapshot for the update
    after_optimizer_step()        relative update, on the device
    end_step(step, epoch, secs)   the step's numbers are complete; pinned examples when due

and `begin`, `evaluated`, `saved`, `finish` around them. A step's numbers reach the host in one
transfer, at the next step's `before_optimizer_step` (or sooner when something must be emitted
after them), as the engine does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cockpit.contract.commands import Command
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import (
    CheckpointSaved,
    EvalResult,
    Event,
    HeadFit,
    Notice,
    PinnedExample,
    RunEnded,
)
from cockpit.notify.notifier import Notifier
from cockpit.rundir.journal import JournalWriter
from cockpit.rundir.layout import CONFIG_NAME, JOURNAL_NAME
from cockpit.rundir.lock import RunLock
from cockpit.training.engine import split_for_weight_decay
from cockpit.training.instruments import (
    PendingStep,
    Predictions,
    constant_loss,
    evaluation_result,
    per_row_loss,
    predict,
    probabilities,
    target_spread,
    training_loss,
)
from cockpit.training.model import LayerGroup
from cockpit.training.pins import DEFAULT_INTERVAL_S, PinCadence
from cockpit.training.run_core import RunCore
from cockpit.training.system import MachineSampler, SampleCadence


@dataclass
class Boundary:
    """What the loop around must do after the commands of a step boundary were applied."""

    stop: bool = False
    save: bool = False


def targets_matrix(labels: list[Any], count: int, task: str) -> np.ndarray:
    """Class ids, multi-hot rows or scores as the float [rows, labels] matrix the instruments take."""
    if task in ("multilabel", "regression"):
        return np.asarray(labels, dtype=np.float32).reshape(len(labels), count)
    ids = np.asarray(labels, dtype=np.float64).reshape(-1).astype(np.int64)
    return np.eye(count, dtype=np.float32)[ids]


def fit_columns(logits: torch.Tensor, count: int) -> torch.Tensor:
    """A head with fewer outputs than labels (seed 003's single output) scores the missing ones -inf."""
    if logits.shape[-1] == count:
        return logits
    if logits.shape[-1] > count:
        return logits[..., :count]
    missing = torch.full((*logits.shape[:-1], count - logits.shape[-1]), -torch.inf, device=logits.device)
    return torch.cat([logits.float(), missing], dim=-1)


class FittedHead(nn.Module):
    """The model with its logits fitted to the label count (`fit_columns`), for `predict`."""

    def __init__(self, model: nn.Module, label_count: int) -> None:
        super().__init__()
        self.model, self.label_count = model, label_count

    def forward(self, **batch: torch.Tensor) -> Any:
        output = self.model(**batch)
        return SimpleNamespace(logits=fit_columns(output.logits, self.label_count))


class ForwardTap:
    """A forward hook on the model: the training loss of each micro-batch, and eval predictions.

    The loss stays on the device (summed, no sync); a loop that accumulates gradients over
    micro-batches gets their mean, which is what it optimizes. Eval predictions (model in eval mode,
    labels passed, not our own pinned predictions) are kept on the host for `EvalResult`.
    """

    def __init__(self, model: nn.Module, task: str, label_count: int) -> None:
        self.task, self.label_count = task, label_count
        self.paused = False  # while the cockpit predicts its pins
        self.reset_step()
        self.reset_eval()
        self._handle = model.register_forward_hook(self._hook, with_kwargs=True)

    def remove(self) -> None:
        self._handle.remove()

    def reset_step(self) -> None:
        self.loss_sum: torch.Tensor | None = None
        self.batches = 0
        self.rows = 0

    def reset_eval(self) -> None:
        self.eval_probs: list[torch.Tensor] = []
        self.eval_targets: list[torch.Tensor] = []
        self.eval_losses: list[torch.Tensor] = []

    def _hook(self, module: nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
        if self.paused:
            return
        labels = kwargs.get("labels")
        logits = getattr(output, "logits", None)
        if logits is None and isinstance(output, (tuple, list)) and output:  # return_dict=False: (loss,) logits, ...
            logits = output[1] if labels is not None and len(output) > 1 else output[0]
        if module.training and torch.is_grad_enabled():
            loss = getattr(output, "loss", None)
            if loss is None and logits is not None and labels is not None:
                loss = training_loss(fit_columns(logits, self.label_count), self._targets(labels), self.task)
            if loss is None:
                return
            loss = loss.detach().float()
            self.loss_sum = loss if self.loss_sum is None else self.loss_sum + loss
            self.batches += 1
            self.rows += int(logits.shape[0]) if logits is not None else 0
        elif not module.training and logits is not None and labels is not None:
            fitted = fit_columns(logits.detach(), self.label_count)
            targets = self._targets(labels)
            self.eval_probs.append(probabilities(fitted, self.task).cpu())
            self.eval_targets.append(targets.cpu())
            self.eval_losses.append(per_row_loss(fitted, targets, self.task).cpu())

    def _targets(self, labels: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            return labels.float().reshape(-1, 1)
        if self.task == "multilabel":
            return labels.float()
        return F.one_hot(labels.long().reshape(-1), self.label_count).float()

    def step_loss(self) -> torch.Tensor:
        """Mean loss of this step's micro-batches (NaN if none came through the model)."""
        if self.loss_sum is None:
            return torch.tensor(float("nan"))
        return self.loss_sum / max(self.batches, 1)


class LiveRun(RunCore):
    """One run observed and steered from inside another loop; see the module docstring for the order.

    The run core (`RunCore`) does the measuring, steering, pins and journaling; what is left here
    is what differs inside a loop someone else owns: the loss and eval predictions come through a
    forward hook (`ForwardTap`), the optimizer and schedule are theirs (an unfreeze may have to add
    a parameter group, #21236), and saving is a request to the loop.

    `toggle_requires_grad=False` keeps every parameter trainable for autograd and freezes only by
    dropping gradients before the optimizer step: what DDP without `find_unused_parameters` needs.
    `publish`: this process writes the run directory (one rank of several does); `listen`: it takes
    commands from the run's inbox (off where a command could not reach every rank alike).
    """

    def __init__(
        self,
        run_dir: Path,
        model: nn.Module,
        groups: list[LayerGroup],
        *,
        task: str,
        labels: list[str],
        pins: list[PinnedExample],
        encode: Callable[[list[str], list[str] | None], dict[str, torch.Tensor]],
        pin_rows: Callable[[list[int]], list[PinnedExample]] | None = None,
        max_grad_norm: float = 0.0,
        pin_budget: float = 0.01,
        pin_every_s: float = DEFAULT_INTERVAL_S,
        toggle_requires_grad: bool = True,
        on_nonfinite: str = "stop",
        observers: list[Callable[[Event], None]] | None = None,
        publish: bool = True,
        listen: bool = True,
        notifier: Notifier | None = None,
    ) -> None:
        super().__init__(
            run_dir,
            model,
            groups,
            task=task,
            labels=labels,
            pins=pins,
            max_grad_norm=max_grad_norm,
            pin_cadence=PinCadence(pin_budget, pin_every_s),
            on_nonfinite=on_nonfinite,
            observers=observers or [],
            publishes=publish,
            toggle_requires_grad=toggle_requires_grad,
            notifier=notifier,
        )
        self.encode = encode
        self.pin_rows = pin_rows
        self.tap = ForwardTap(model, task, len(labels))
        # One trainer per run directory (contract 4): a second one, or `cockpit train --out` here, is refused.
        self.lock = RunLock(self.run_dir).acquire() if publish else None
        self.journal = JournalWriter(self.run_dir / JOURNAL_NAME) if publish else None
        self.stream.journal = self.journal
        if publish and listen:
            self.listen()
        self.outside_optimizer: list[str] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self._measuring: PendingStep | None = None  # this step's numbers, from before_optimizer_step to end_step
        self._step_rows = 0
        self._train_targets: np.ndarray | None = None
        self._save_requested = False
        # The machine (RAM; on CUDA each device's memory, utilisation, power) every few seconds. The
        # step-time split needs the loop's phases, which only `cockpit train`'s engine has.
        self.machine = MachineSampler(self.device) if publish else None
        self.machine_cadence = SampleCadence()
        self.total_steps = 0

    def submit(self, command: Command, source: str = "python") -> None:
        """Thread-safe: queue a command for the next step boundary (the inbox is the other door)."""
        self.steering.submit(command, source)

    # ------------------------------------------------------------------ start

    def begin(
        self,
        *,
        step: int,
        model_name: str,
        config: dict[str, Any],
        total_steps: int,
        steps_per_epoch: int,
        micro_batch: int,
        effective_batch: int,
        train_targets: np.ndarray,
        eval_rows: int,
        head: HeadFit,
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        notices: list[Notice] | None = None,
    ) -> None:
        """Announce the run, say which groups the optimizer cannot move, predict the pins once."""
        self.step, self.total_steps = step, total_steps
        self.optimizer, self.scheduler = optimizer, scheduler
        self.micro_batch, self.effective_batch = micro_batch, effective_batch
        self._train_targets = train_targets
        if self.publishes:
            text = json.dumps(config, indent=2, default=str) + "\n"
            (self.run_dir / CONFIG_NAME).write_text(text, encoding="utf-8")
        self.outside_optimizer = groups_outside(self.groups, optimizer)
        self.emit(
            self.run_started(
                model=model_name,
                device=str(self.device),
                config=config,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                train_rows=len(train_targets),
                eval_rows=eval_rows,
                constant_loss=constant_loss(train_targets, train_targets, self.task) if len(train_targets) else 0.0,
                head=head,
                resumed=step > 0,
                targets=target_spread(train_targets) if self.task == "regression" else None,
            )
        )
        for notice in notices or []:
            self.emit(notice)
        if self.outside_optimizer:
            self.emit(self._outside_notice())
        self.predict_pins()

    def _outside_notice(self) -> Notice:
        names = ", ".join(self.outside_optimizer)
        if self._can_extend_optimizer():
            what = "an unfreeze adds them to the optimizer as a new parameter group, so they do train"
        else:
            what = "an unfreeze of them is refused: they cannot train in this run"
        return Notice(
            step=self.step,
            kind="not_in_optimizer",
            message=f"{names} had no trainable parameters when the optimizer was built, so it does not hold "
            f"them (transformers issue #21236); {what}",
            evidence={"groups": list(self.outside_optimizer)},
        )

    # ------------------------------------------------------------------ commands

    def boundary(self) -> Boundary:
        """Apply the commands that arrived since the last step; while paused, wait for more."""
        self.steering.boundary()
        boundary = Boundary(stop=self.stopping, save=self._save_requested)
        self._save_requested = False
        return boundary

    # What differs inside someone else's loop (the rest of `steering.Steerable` is the run core's).

    def set_frozen(self, names: list[str], frozen: bool) -> str:
        """Freeze or unfreeze groups; exact because frozen grads are None before every optimizer step.
        A group the optimizer never held is first added to it (#21236), where that can work."""
        outside = [n for n in names if n in self.outside_optimizer]
        added = self._extend_optimizer(outside) if outside and not frozen else ""
        return super().set_frozen(names, frozen) + added

    def set_full(self, names: list[str]) -> str:
        raise CockpitError(
            "full= is for `cockpit train`: the Trainer saves a PEFT model's adapter only, so trained base "
            "weights would be lost; here base weights stay as loaded"
        )

    def save_now(self) -> str:
        self._save_requested = True
        return "saving at the end of this step"

    def set_pos_weight(self, value: str) -> None:
        raise CockpitError("pos_weight= is for `cockpit train`: the Trainer computes its own loss")

    def pins_for_rows(self, rows: list[int]) -> list[PinnedExample]:
        if self.pin_rows is None:
            raise CockpitError("this run cannot look up training rows by number")
        return self.pin_rows(rows)

    def thresholds_destination(self) -> str:
        return "in each checkpoint the loop saves from now on and in the output folder at the end"

    def _can_extend_optimizer(self) -> bool:
        """A new parameter group needs a scheduler that can follow it, and no gradient sync that missed it."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return False  # never registered with DDP: its gradients would not be all-reduced
        scheduler = getattr(self.scheduler, "scheduler", self.scheduler)  # accelerate wraps it
        return scheduler is None or hasattr(scheduler, "lr_lambdas")

    def _extend_optimizer(self, names: list[str]) -> str:
        """#21236: give groups the optimizer never held a parameter group, scheduled like the others."""
        if not self._can_extend_optimizer():
            raise CockpitError(
                f"{', '.join(names)} were frozen when the optimizer was built and are not in it "
                "(transformers #21236); they cannot train in this run: unfreeze them before building the Trainer"
            )
        assert self.optimizer is not None
        held = {id(p) for group in self.optimizer.param_groups for p in group["params"]}
        wanted = {id(p) for g in self.groups if g.name in names for p in g.params} - held
        decay, no_decay = split_for_weight_decay((n, p) for n, p in self.model.named_parameters() if id(p) in wanted)
        template = self.optimizer.param_groups[0]
        scheduler = getattr(self.scheduler, "scheduler", self.scheduler)
        for params, decayed in ((decay, True), (no_decay, False)):
            if not params:
                continue
            group = {k: v for k, v in template.items() if k != "params"}
            group["params"] = params
            if not decayed:
                group["weight_decay"] = 0.0
            self.optimizer.add_param_group(group)
            if scheduler is not None:
                scheduler.base_lrs.append(scheduler.base_lrs[0])
                scheduler.lr_lambdas.append(scheduler.lr_lambdas[0])
        self.outside_optimizer = [n for n in self.outside_optimizer if n not in names]
        return f" ({', '.join(names)} added to the optimizer)"

    def set_lr(self, lr: float) -> None:
        """A new peak learning rate; the schedule's shape (warmup, decay) goes on from where it is."""
        assert self.optimizer is not None
        scheduler = getattr(self.scheduler, "scheduler", self.scheduler)
        base = list(getattr(scheduler, "base_lrs", []) or [g["lr"] for g in self.optimizer.param_groups])
        for i, group in enumerate(self.optimizer.param_groups):
            old = base[i] if i < len(base) else group["lr"]
            group["lr"] = group["lr"] * lr / old if old else lr
        if scheduler is not None and hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [lr for _ in scheduler.base_lrs]

    # ------------------------------------------------------------------ one optimizer step

    def before_optimizer_step(self) -> None:
        """After the last backward, before the optimizer: make freezing exact, measure, clip."""
        lr = self.optimizer.param_groups[0]["lr"] if self.optimizer else 0.0
        self._measuring = self.measure(self.tap.step_loss(), lr, self.step + 1, scaled=self._scaled())
        self._step_rows = self.tap.rows
        self.tap.reset_step()

    def _scaled(self) -> bool:
        """fp16 with a gradient scaler: an inf step is the scaler's business (it skips and lowers its scale)."""
        return getattr(self.optimizer, "scaler", None) is not None

    def after_optimizer_step(self) -> None:
        if self._measuring is not None:
            self.measure_update(self._measuring)

    def end_step(self, step: int, epoch: float, seconds: float) -> None:
        """The loop finished optimizer step `step` (1-based) in `seconds`; pinned predictions when due."""
        ended, self._measuring = self._measuring, None
        if ended is not None:
            ended.step = step
            self.step_done(ended, seconds, self._step_rows, epoch)
        self.step = step
        if self.pins_due():
            self.predict_pins()
        if self.machine is not None and self.machine_cadence.due(last=step >= self.total_steps > 0):
            self.emit(self.machine.sample(step, None))

    # ------------------------------------------------------------------ predictions and results

    def predict_examples(self, texts: list[str], pairs: list[str] | None, targets: np.ndarray) -> Predictions:
        self.tap.paused = True  # our own predictions are no eval of theirs
        try:
            model = FittedHead(self.model, len(self.labels))
            return predict(model, self.encode, texts, targets, self.task, pairs=pairs)
        finally:
            self.tap.paused = False

    def evaluated_by_loop(self, step: int, epoch: float, metrics: dict[str, float]) -> None:
        """The loop evaluated: its own metrics, plus distributions from the predictions the tap saw."""
        self.flush_pending()
        tap = self.tap
        theirs = {}
        for key, value in metrics.items():
            name = key.split("_", 1)[1] if key.startswith("eval_") else key
            if isinstance(value, (int, float)) and name not in ("runtime", "samples_per_second", "steps_per_second"):
                theirs[name] = float(value)
        theirs.pop("epoch", None)
        if tap.eval_probs:
            targets = torch.cat(tap.eval_targets).numpy()
            train = self._train_targets if self._train_targets is not None and len(self._train_targets) else targets
            loss = theirs.pop("loss", float(torch.cat(tap.eval_losses).mean()))
            result = evaluation_result(
                torch.cat(tap.eval_probs).numpy(), targets, train, self.task, self.labels,
                step=step, epoch=epoch, loss=loss, extra_metrics=theirs,
            )  # fmt: skip
        else:  # the tap saw no predictions with labels: the Trainer's own numbers only
            loss = theirs.pop("loss", float("nan"))
            last = self.last_eval.thresholds if self.last_eval is not None else {}
            result = EvalResult(
                step=step, epoch=epoch, loss=loss, metrics=theirs, per_label_f1={}, predicted_distribution={},
                true_distribution={}, baselines={}, rows=0, thresholds=last,
            )  # fmt: skip
        tap.reset_eval()
        self.evaluated(result)

    def saved(self, step: int, path: str) -> None:
        """The loop saved a checkpoint folder: journaled, and kept thresholds written into it."""
        self.keep_thresholds_in(path)
        self.emit(CheckpointSaved(step=step, path=path))

    def finish(self, step: int, model_dir: str | None = None, checkpoint: str | None = None) -> RunEnded:
        """The loop ended: last metrics, last pinned predictions, the end event; the journal is closed."""
        self.step = step
        if model_dir is not None:
            self.keep_thresholds_in(model_dir)
        ended = self.run_ended(model_dir=model_dir, checkpoint=checkpoint)
        self.emit(ended)
        self.close()
        return ended

    def close(self) -> None:
        self.tap.remove()
        if self.journal is not None:
            self.journal.close()
        if self.lock is not None:
            self.lock.release()
        self.notifier.close()  # the end's notification leaves before the script goes on


def groups_outside(groups: list[LayerGroup], optimizer: torch.optim.Optimizer) -> list[str]:
    """Groups with a parameter the optimizer does not hold: an unfreeze would never move it (#21236)."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    return [g.name for g in groups if any(id(p) not in held for p in g.params)]
