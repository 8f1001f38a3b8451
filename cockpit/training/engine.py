"""The training loop. It knows nothing of Textual: it emits events and obeys commands.

Read `Engine.run` and `Engine._train_step` top to bottom: apply the commands due, take one
optimizer step, measure it, then evaluate / predict the pinned examples / checkpoint when due.
Commands arrive on a thread-safe queue and take effect between optimizer steps, so a freeze is
exact: from the next step on the group's gradients are None, the optimizer skips it, and its
weights stay bit-identical.

Every event leaves through `Engine.emit` into one `EventStream` (journal, observers, then the
diagnostics as producers). Instruments, the overhead benchmark, a distributed wrapper or a
Trainer bridge attach to the loop's named phases with a `StepHooks` subclass, never by
overriding private methods.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from cockpit.contract.commands import Command, PinRows, UnpinRows, parse_command, parse_scheduled
from cockpit.contract.enums import EndReason, RunStatus
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import (
    CheckpointSaved,
    EvalProgress,
    Event,
    Notice,
    PinnedExample,
    PinsChanged,
    RunEnded,
    RunStarted,
    StateChanged,
)
from cockpit.contract.stream import EventStream, Observer
from cockpit.rundir import checkpoint as ckpt
from cockpit.rundir.inbox import CommandInbox
from cockpit.rundir.journal import JournalWriteError, JournalWriter
from cockpit.rundir.layout import CONFIG_NAME, JOURNAL_NAME, MODEL_DIR, THRESHOLDS_NAME
from cockpit.rundir.thresholds import thresholds_document, write_thresholds
from cockpit.training.batches import Collator, EpochOrder, Evaluator
from cockpit.training.instruments import (
    GroupNorms,
    PendingStep,
    clip_gradients,
    constant_loss,
    evaluation_result,
    is_finite,
    positive_weights,
    predict,
    training_loss,
)
from cockpit.training.parallel import Parallel, SingleProcess
from cockpit.training.pins import PinCadence
from cockpit.training.prepare import SAID_ON_RESUME, PreparedRun
from cockpit.training.steering import Applied, FrozenGroups, Steering

T = TypeVar("T")
Phase = Literal["at_boundary", "after_backward", "before_optimizer_step", "after_optimizer_step", "at_step_end"]


class StepHooks:
    """Named phases of one optimizer step; subclass and override the ones you need.

    Called in the training thread with the engine, in this order per step: `at_boundary` (before
    the commands due are applied: the place to take commands from an inbox), `after_backward`
    (the whole batch's gradients are in place, unscaled, not yet measured or clipped),
    `before_optimizer_step` (measured and clipped), `after_optimizer_step` (weights updated,
    gradients dropped), `at_step_end` (after the evaluation, pinned predictions and checkpoint
    due at this step). Unlike observers, a hook that raises ends the run (reason `error`): a
    distributed wrapper that failed must not train on alone.
    """

    def at_boundary(self, engine: Engine) -> None: ...
    def after_backward(self, engine: Engine) -> None: ...
    def before_optimizer_step(self, engine: Engine) -> None: ...
    def after_optimizer_step(self, engine: Engine) -> None: ...
    def at_step_end(self, engine: Engine) -> None: ...


def split_for_weight_decay(named: Iterable[tuple[str, torch.nn.Parameter]]) -> tuple[list, list]:
    """(decayed, not decayed): biases and normalisation weights are not decayed (as HF Trainer does)."""
    decay, no_decay = [], []
    for name, param in named:
        lowered = name.lower()
        skip = lowered.endswith(".bias") or "norm" in lowered or ".ln_" in lowered
        (no_decay if skip else decay).append(param)
    return decay, no_decay


def autocast_dtype(device: torch.device, wanted: str) -> torch.dtype | None:
    """Autocast on CUDA only: bf16 where supported, else fp16 (with a gradient scaler); None: fp32."""
    if device.type != "cuda" or wanted == "fp32":
        return None
    if wanted == "auto":
        wanted = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return torch.bfloat16 if wanted == "bf16" else torch.float16


class Engine:
    """One training run. Construct, register observers, then call `run()`.

    `parallel` is the engine's view of the other processes training the same run (none by
    default; `cockpit.distributed.DataParallelRanks` for one rank of a DDP job).
    """

    def __init__(
        self,
        prepared: PreparedRun,
        observers: list[Observer] | None = None,
        on_nonfinite: Literal["pause", "stop"] = "pause",
        *,
        stream: EventStream | None = None,
        hooks: Iterable[StepHooks] = (),
        parallel: Parallel | None = None,
    ) -> None:
        self.prepared = prepared
        self.config = prepared.config
        self.run_dir = prepared.run_dir
        self.model = prepared.loaded.model
        self.tokenizer = prepared.loaded.tokenizer
        self.groups = prepared.loaded.groups
        self.group_names = [g.name for g in self.groups]
        self.task = prepared.train.task
        self.device = prepared.device
        self.on_nonfinite = on_nonfinite  # "pause" with a UI to look at, "stop" headless
        self.stream = stream or EventStream()
        self.stream.observers += observers or []
        self.hooks: list[StepHooks] = list(hooks)
        self.parallel: Parallel = parallel or SingleProcess()
        self.steering = Steering(self, self.emit)  # its inbox, the run's control endpoint, is opened by run()

        cfg = self.config
        self.effective_batch = cfg.effective_batch
        self.micro_batch = cfg.batch_size
        rows = len(prepared.train)
        self.steps_per_epoch = max(1, math.ceil(rows / self.effective_batch))
        self.total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        self.warmup_steps = int(cfg.warmup_ratio * self.total_steps)
        self.collator = Collator(self.tokenizer, cfg.max_length, self.device)  # tokenizes per batch (#14)
        self.epoch_order = EpochOrder(rows, cfg.seed)
        self.evaluator = (
            Evaluator(prepared.evaluation, self.tokenizer, cfg.max_length, self.device) if prepared.evaluation else None
        )
        self.pos_weight = self._positive_weights(cfg.pos_weight)
        self.schedule: dict[int, list[Command]] = {}
        for entry in cfg.schedule:
            at, command = parse_scheduled(entry)
            self.schedule.setdefault(at, []).append(command)

        self.model.to(self.device)
        self.model.train()
        # The fused kernel where torch has one: one pass over all tensors instead of a Python loop
        # per tensor (109 ms against 16 ms a step for MiniLM on CPU); HF Trainer uses it too.
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.AdamW(
            self._param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None
        )
        # Where a run resumed with another total joins its schedule (see _lr_factor): (step, factor
        # there, warm-up end or None); None: the plan as planned.
        self._lr_from: tuple[int, float, int | None] | None = None
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self._record_lr_plan()
        # One autocast context and one scaler, both inert in fp32 (nanoGPT's `ctx`).
        self.amp_dtype = autocast_dtype(self.device, cfg.precision)
        self.autocast = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.norms = GroupNorms(self.groups, self.device)
        self.frozen_groups = FrozenGroups(self.groups, self.norms)
        self.pin_positions = list(prepared.pin_positions)
        self.step = 0
        self.paused = False
        self._stop_reason: EndReason | None = None
        self._stop_message = ""
        self.pending: PendingStep | None = None  # the last step's numbers, emitted with the next transfer
        self.pin_cadence = PinCadence(cfg.pin_budget, cfg.pin_every_s)
        self.pin_seconds = 0.0  # what the last pinned prediction cost
        self._thresholds_kept: dict[str, Any] | None = None  # written beside the model when it is saved
        self._last_eval_step = -1
        self._best_thresholds: dict[str, dict[str, float]] = {}
        self._last_pin_step = -1
        self.last_saved_step = -1
        self.frozen_groups.set(prepared.initial_frozen, frozen=True)
        # The module the training forward runs through (DDP's wrapper on a rank of a distributed
        # job); predictions always use the bare model. Only the main process writes the run
        # directory (journal, config, checkpoints, model), predicts the pinned examples and evaluates.
        self.train_model = self.parallel.wrap(self.model, self.optimizer)
        if prepared.resume is not None:
            self._restore(prepared.resume)

    # ------------------------------------------------------------------ setup helpers

    def _param_groups(self) -> list[dict[str, Any]]:
        """Every parameter is in the optimizer from the start; freezing only drops its grad."""
        decay, no_decay = split_for_weight_decay(self.model.named_parameters())
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def _positive_weights(self, spec: str) -> torch.Tensor | None:
        """BCE pos_weight from `--pos-weight` / `pos_weight=`: multilabel only (softmax has no positives)."""
        if spec != "off" and self.task != "multilabel":
            raise CockpitError(f"pos_weight={spec}: only for multilabel data (this run is {self.task})")
        weights = positive_weights(self.prepared.train.targets, spec)
        return weights.to(self.device) if weights is not None else None

    def _lr_factor(self, step: int) -> float:
        """Linear warmup, then linear decay to zero (as HF's get_linear_schedule_with_warmup).

        A resumed run whose total changed (`--max-steps`) goes on from where its schedule stood at
        the step it resumed from (`_lr_from`, set by `_restore`): the rest of its warm-up as it was,
        then a linear decay to zero at the new total, so the lr never jumps.
        """
        joined = self._lr_from
        if joined is not None and step >= joined[0]:
            start, factor, warmup = joined
            if warmup is not None:
                if step < warmup:
                    return (step + 1) / (warmup + 1)
                start, factor = warmup, 1.0
            return max(0.0, factor * (self.total_steps - step) / max(1, self.total_steps - start))
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))

    def _record_lr_plan(self) -> None:
        """The plan rides in the scheduler's state, so every checkpoint says which plan its lr came from."""
        plan = {"total_steps": self.total_steps, "warmup_steps": self.warmup_steps, "joined": self._lr_from}
        self.scheduler.lr_plan = plan

    def _restore(self, state: ckpt.TrainingState) -> None:
        try:
            self.optimizer.load_state_dict(state.optimizer)
        except ValueError as exc:  # a checkpoint of another model
            raise CockpitError(f"--resume: the checkpoint's optimizer state does not fit this model ({exc})") from None
        self.scheduler.load_state_dict(state.scheduler)
        # The run's plan as its checkpoint recorded it (older checkpoints: none) against this run's
        # total: the same, the plan goes on as it was (bit-exact). Another total (--max-steps): the
        # schedule goes on from where it stood (its lr over its peak, as saved), down to 0 at the new
        # total; a run that had already decayed to 0 (extended past its end) has no lr to go on from,
        # and the extra steps follow the plan for the new total. Either is said in a notice.
        plan, saved, step = state.scheduler.get("lr_plan"), state.lr_factor, state.step
        plan = plan if isinstance(plan, dict) else None
        if plan is not None and plan.get("total_steps") == self.total_steps:
            joined = plan.get("joined")
            self._lr_from = tuple(joined) if joined is not None else None
        elif (
            saved is not None
            and step < self.total_steps
            and (plan is not None or not math.isclose(saved, self._lr_factor(step), rel_tol=1e-9))
        ):
            peak = self.scheduler.base_lrs[0]
            if saved > 1e-12:
                # still warming up at `step`? (known from the recorded plan; an older checkpoint: decay on)
                joined = (plan or {}).get("joined")
                warmup = joined[2] if joined is not None else (plan or {}).get("warmup_steps")
                warming = isinstance(warmup, int) and step < warmup < self.total_steps
                self._lr_from = (step, saved, warmup if warming else None)
                message = (
                    f"lr schedule for the new total of {self.total_steps} steps: on from {peak * saved:.3g} at "
                    f"step {step + 1}" + (f", up to the peak {peak:.3g} at step {warmup + 1}," if warming else "")
                    + f" down to 0 at step {self.total_steps} (no jump)"
                )  # fmt: skip
            else:
                self._lr_from = None
                message = (
                    f"the run's lr had decayed to 0 by step {step} (its old end): the {self.total_steps - step} "
                    f"extra steps follow a schedule planned for {self.total_steps} steps, from lr "
                    f"{peak * self._lr_factor(step):.3g} at step {step + 1} down to 0 at step {self.total_steps}"
                )
            evidence = {"step": step, "lr": peak * self._lr_factor(step), "total_steps": self.total_steps}
            self.prepared.notices.append(Notice(step=step, kind="resume", message=message, evidence=evidence))
        self._record_lr_plan()
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs, strict=True):
            group["lr"] = base * self._lr_factor(state.step)
        torch.set_rng_state(state.rng_cpu)
        if torch.cuda.is_available() and state.rng_cuda:
            torch.cuda.set_rng_state_all(state.rng_cuda)
        if state.scaler:
            self.scaler.load_state_dict(state.scaler)  # a no-op when this run does not scale
        self.micro_batch = state.micro_batch
        self.step = state.step
        self.last_saved_step = state.step

    # ------------------------------------------------------------------ public API

    @property
    def observers(self) -> list[Observer]:
        """The stream's observers: append to watch the run (the journal is always first)."""
        return self.stream.observers

    @property
    def frozen(self) -> set[str]:
        return self.frozen_groups.names

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    def submit(self, command: Command, source: str = "ui", id: str = "") -> None:
        """Thread-safe: queue a command for the next step boundary; `id` comes back in its CommandApplied."""
        self.steering.submit(command, source, id)

    def emit(self, event: Event) -> None:
        """Every event of the engine leaves here. A step still waiting for its update sizes is
        emitted first (one extra host transfer, only off the hot path), so no event of a step
        reaches the journal before that step's metrics."""
        if self.stream.journal_error is not None and not isinstance(event, RunEnded):
            raise self.stream.journal_error  # never train on without a journal, even if an observer swallowed it
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self._emit_step(pending, pending.update.tolist() if pending.update is not None else None)
        self.stream.emit(event)

    def run(self) -> RunEnded:
        """Train to the end (or a stop), then save; never raises: failures end as reason=error."""
        journal = None
        if self.parallel.is_main:  # the other ranks of a distributed job write nothing there
            try:
                journal = self.stream.journal = JournalWriter(self.run_dir / JOURNAL_NAME)
                self.config.save(self.run_dir / CONFIG_NAME)
            except OSError as exc:
                return RunEnded(step=self.step, reason=EndReason.ERROR, message=f"{exc}; nothing was trained")
            self.steering.inbox = CommandInbox(self.run_dir)
        try:
            self._announce()
            if self._last_pin_step < 0:
                self._predict_pins()
            while self.step < self.total_steps and not self.stopping:
                self._call_hooks("at_boundary")
                self._boundary()
                if self.stopping:
                    break
                self._train_step()
                if self.step < self.total_steps and not self.stopping:
                    self.parallel.main_works_alone()
                self._after_step()
                self._call_hooks("at_step_end")
            ended = self._finish()
        except Exception as exc:
            ended = self._fail(exc)
        finally:
            self.parallel.close()
        self.emit(ended)  # to the journal too, unless writing it is what failed
        self.stream.journal = None
        if journal is not None:
            journal.close()
        return ended

    def _call_hooks(self, phase: Phase) -> None:
        for hook in self.hooks:
            getattr(hook, phase)(self)

    # ------------------------------------------------------------------ the loop

    def _announce(self) -> None:
        prepared, train = self.prepared, self.prepared.train
        evaluation = prepared.evaluation
        self.emit(
            RunStarted(
                step=self.step,
                model=prepared.loaded.source,
                task=self.task,
                labels=train.label_names,
                layers=self.group_names,
                layer_params={g.name: g.size for g in self.groups},
                pins=self._pins(),
                device=str(self.device) + (f" ({self.amp_dtype})" if self.amp_dtype else ""),
                config={
                    **self.config.to_dict(),
                    "warmup_steps": self.warmup_steps,
                    "effective_batch": self.effective_batch,
                },
                total_steps=self.total_steps,
                steps_per_epoch=self.steps_per_epoch,
                run_dir=str(self.run_dir),
                train_rows=len(train),
                eval_rows=len(evaluation) if evaluation else 0,
                constant_loss=constant_loss(train.targets, train.targets, self.task),
                frozen=self.frozen_groups.in_order(),
                head=prepared.loaded.head,
                resumed_from=self.step if prepared.resume else None,
            )
        )
        for notice in prepared.notices:
            if prepared.resume is None or notice.kind in SAID_ON_RESUME:
                self.emit(dataclasses.replace(notice, step=self.step))
        if prepared.resume is None:
            head = prepared.loaded.head
            if head.reinitialised and head.reason:
                self.emit(
                    Notice(
                        step=0,
                        kind="head_reinitialised",
                        message=f"classification head re-initialised: {head.reason}",
                        evidence=dataclasses.asdict(head),
                    )
                )

    def _batch_rows(self, step: int) -> list[int]:
        """Rows of optimizer step `step` (0-based): a seeded shuffle per epoch, so resuming needs only the step."""
        return self.epoch_order.batch(step, self.steps_per_epoch, self.effective_batch)

    def _collate(self, rows: list[int]) -> dict[str, torch.Tensor]:
        """Tokenize this batch's texts, padded to its longest row only (dynamic padding)."""
        return self.collator.rows(self.prepared.train, rows)

    def _forward_backward(self, rows: list[int]) -> torch.Tensor:
        """Loss of the whole batch, accumulated over micro-batches; halves them on CUDA OOM.

        In a distributed job every rank retries together: each asks the others after every
        forward, and after every backward that does not sync gradients, whether any ran out
        (an OOM inside the backward that syncs them stays fatal: the others are in its all-reduce).
        """
        while True:
            try:
                return self._accumulate(rows)
            except torch.cuda.OutOfMemoryError:
                self.optimizer.zero_grad(set_to_none=True)
                self.parallel.forget_partial_step(self.train_model)
                if self.micro_batch == 1:
                    raise
                torch.cuda.empty_cache()
                old, self.micro_batch = self.micro_batch, max(1, self.micro_batch // 2)
                self.emit(
                    Notice(
                        step=self.step + 1,
                        kind="out_of_memory",
                        message=f"CUDA out of memory at micro-batch {old}: retrying with {self.micro_batch} "
                        f"and {math.ceil(self.effective_batch / self.micro_batch)} accumulation steps "
                        f"(effective batch stays {self.effective_batch})",
                        evidence={"old_micro_batch": old, "micro_batch": self.micro_batch},
                    )
                )

    def _accumulate(self, rows: list[int]) -> torch.Tensor:
        """Forward and backward of this process's micro-batches, each loss weighed by its share of
        the batch: the gradient is the batch's mean, as one big batch would give."""
        total = torch.zeros((), device=self.device)
        micro_batches = self.parallel.micro_batches(rows, self.micro_batch)
        for i, (chunk, share) in enumerate(micro_batches):
            last = i == len(micro_batches) - 1
            with self.parallel.accumulating(self.train_model, last):
                scaled = self._everywhere(lambda chunk=chunk, share=share: self._chunk_loss(chunk, share))
                if last:
                    self.scaler.scale(scaled).backward()  # scale() returns `scaled` itself unless fp16
                else:
                    self._everywhere(self.scaler.scale(scaled).backward)
            total += scaled.detach()
        return self.parallel.global_loss(total)

    def _chunk_loss(self, chunk: list[int], share: float) -> torch.Tensor:
        batch = self._collate(chunk)
        with self.autocast or contextlib.nullcontext():
            logits = self.train_model(**batch).logits
        loss = training_loss(logits, self.collator.targets(self.prepared.train, chunk), self.task, self.pos_weight)
        return loss * share

    def _everywhere(self, work: Callable[[], T]) -> T:
        """`work()`, unless it, or the same work on another process, ran out of CUDA memory: then
        every process raises, so that all retry with smaller micro-batches together."""
        try:
            result, failed = work(), False
        except torch.cuda.OutOfMemoryError:
            result, failed = None, True
        if self.parallel.any_process(failed):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory" + ("" if failed else " on another rank"))
        return result  # type: ignore[return-value]

    def _train_step(self) -> None:
        """One optimizer step: forward and backward, measure, clip, update; its metrics wait for the next transfer."""
        rows = self._batch_rows(self.step)
        started = time.perf_counter()
        loss = self._forward_backward(rows)
        self.scaler.unscale_(self.optimizer)  # a no-op unless fp16
        self._call_hooks("after_backward")
        group_grads, grads = self.norms.gradient_norms()
        total_grad = group_grads.pow(2).sum().sqrt()
        # The one device-to-host transfer of this step: its loss and gradient norms, plus the
        # previous step's update sizes, which were computed on the device after its update.
        previous, self.pending = self.pending, None
        update = previous.update if previous is not None else torch.zeros(0, device=self.device)
        values = torch.cat([loss.reshape(1).float(), total_grad.reshape(1), group_grads, update]).tolist()
        count = len(self.group_names)
        if previous is not None:
            self._emit_step(previous, values[2 + count :])
        self.step += 1
        numbers = PendingStep(
            step=self.step,
            epoch=self.step / self.steps_per_epoch,
            loss=values[0],
            lr=self.optimizer.param_groups[0]["lr"],
            grad_norm=values[1],
            group_grads=values[2 : 2 + count],
            frozen=frozenset(self.frozen),
        )
        if not is_finite(numbers.loss, numbers.grad_norm) and not self.scaler.is_enabled():
            # (with fp16 the scaler skips such a step itself and lowers its scale)
            self.optimizer.zero_grad(set_to_none=True)
            numbers.samples_per_s = len(rows) / max(time.perf_counter() - started, 1e-9)
            numbers.skipped = True
            self._emit_step(numbers, None)
            self._nonfinite(numbers.loss, numbers.grad_norm)
            self.pin_cadence.trained(time.perf_counter() - started)
            return
        clip_gradients(grads, numbers.grad_norm if is_finite(numbers.grad_norm) else 0.0, self.config.max_grad_norm)
        self.norms.before_update()
        self._call_hooks("before_optimizer_step")
        self.scaler.step(self.optimizer)  # optimizer.step() unless fp16
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._call_hooks("after_optimizer_step")
        numbers.update = self.norms.update_norms()
        seconds = time.perf_counter() - started
        numbers.samples_per_s = len(rows) / max(seconds, 1e-9)
        self.pending = numbers
        self.pin_cadence.trained(seconds)

    def _emit_step(self, numbers: PendingStep, update_values: list[float] | None) -> None:
        """StepMetrics from a step's numbers and its update sizes (ratios, then weight norms, per group)."""
        self.stream.emit(numbers.metrics(self.group_names, update_values, self.micro_batch, self.effective_batch))

    def _nonfinite(self, loss: float, grad: float) -> None:
        """Keep the last good weights (this update was skipped) and stop or pause for a look.

        The diagnostics turn the non-finite step into an alarm with advice; here only the run's
        state changes.
        """
        what = "loss" if not math.isfinite(loss) else "gradient norm"
        why = f"non-finite {what} at step {self.step}: update skipped, weights are the last good ones"
        if self.on_nonfinite == "stop":
            self._stop_reason, self._stop_message = EndReason.STOPPED, why
        else:
            self.set_paused(True, reason=why)
            self._boundary()

    def _after_step(self) -> None:
        cfg = self.config
        at_epoch_end = self.step % self.steps_per_epoch == 0
        if self.prepared.evaluation is not None and (
            at_epoch_end or (cfg.eval_every and self.step % cfg.eval_every == 0)
        ):
            self._evaluate()
        if self._last_eval_step == self.step or self._pins_due():  # at every eval, and on their cadence
            self._predict_pins()
        if cfg.save_every and self.step % cfg.save_every == 0:
            self._save_checkpoint()

    def _pins_due(self) -> bool:
        """About every `pin_every_s` of wall time, if their steady cost fits in `pin_budget` of training."""
        return self.pin_cadence.due(time.monotonic())

    # ------------------------------------------------------------------ commands

    def _boundary(self) -> None:
        """Between two steps: the commands due take effect (in a distributed job rank 0 decides
        and every rank applies the same, in the same order)."""
        self.parallel.boundary(self._decide, self._follow)

    def _decide(self, applied: list[Applied]) -> None:
        """What is scheduled for the next step, then what arrived; while paused, wait for more."""
        self.steering.boundary(self.schedule.pop(self.step + 1, []), applied)

    def _follow(self, command: Applied) -> None:
        self.steering.apply(parse_command(command.text), command.source, command.id)

    # The `steering.Steerable` surface: what a command can do to this run.

    def set_frozen(self, names: list[str], frozen: bool) -> str:
        return self.frozen_groups.set(names, frozen)

    def set_lr(self, lr: float) -> None:
        """A new peak learning rate: warmup and decay go on from where they are."""
        self.scheduler.base_lrs = [lr for _ in self.scheduler.base_lrs]
        factor = self._lr_factor(self.scheduler.last_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * factor

    def set_paused(self, paused: bool, reason: str) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        self.emit(StateChanged(step=self.step, state=RunStatus.PAUSED if paused else RunStatus.RUNNING, reason=reason))

    def save_now(self) -> str:
        self._save_checkpoint()
        return "ok"

    def stop(self, reason: EndReason) -> None:
        self._stop_reason = reason

    def change_pins(self, command: PinRows | UnpinRows) -> str:
        from cockpit.data.splits import positions_of_rows

        positions = positions_of_rows(self.prepared.train, list(command.rows))
        if isinstance(command, PinRows):
            self.pin_positions += [p for p in positions if p not in self.pin_positions]
        else:
            self.pin_positions = [p for p in self.pin_positions if p not in positions]
        self.emit(PinsChanged(step=self.step, pins=self._pins()))
        self._predict_pins()
        return "ok"

    def predict_pins_now(self) -> str:
        if not self.pin_positions:
            raise CockpitError("no pinned examples to predict (pin=ROWS pins some)")
        self._predict_pins()
        return f"predicted the {len(self.pin_positions)} pinned examples at step {self.step}"

    def set_pos_weight(self, value: str) -> None:
        self.pos_weight = self._positive_weights(value)

    def _pins(self) -> list[PinnedExample]:
        train = self.prepared.train
        return [
            PinnedExample(index=train.row_ids[p], text=train.texts[p], targets=train.targets[p].tolist())
            for p in self.pin_positions
        ]

    def save_thresholds(self) -> str:
        """Keep the latest evaluation's best thresholds; they are written as model/thresholds.json.

        `pipeline()` ignores anything cockpit-specific in config.json, so they go in a file of
        their own beside the model, with the eval they came from (README shows how to apply them).
        """
        if not self._best_thresholds or self.prepared.evaluation is None:
            raise CockpitError("no multilabel evaluation yet: thresholds come from the eval split")
        rows = len(self.prepared.evaluation)
        self._thresholds_kept = thresholds_document(self._best_thresholds, self._last_eval_step, rows)
        return (
            f"thresholds from the eval at step {self._last_eval_step} ({rows} rows) will be saved as "
            f"model/{THRESHOLDS_NAME}: "
            + ", ".join(f"{n} {t['threshold']:g}" for n, t in self._best_thresholds.items())
        )

    # ------------------------------------------------------------------ predictions

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenize exactly as inference does."""
        limit = self.config.max_length
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}

    def _predict_pins(self) -> None:
        if not self.pin_positions or not self.parallel.is_main:
            return
        started = time.perf_counter()
        train = self.prepared.train
        texts = [train.texts[p] for p in self.pin_positions]
        predictions = predict(
            self.model, self.encode, texts, train.targets[self.pin_positions], self.task, autocast=self.autocast
        )
        self.pin_seconds = time.perf_counter() - started
        self.pin_cadence.predicted(self.pin_seconds, time.monotonic())
        self._last_pin_step = self.step
        self.emit(predictions.pinned(self.step))

    def _evaluate(self) -> None:
        evaluation = self.prepared.evaluation
        if evaluation is None or self._last_eval_step == self.step or not self.parallel.is_main:
            return
        assert self.evaluator is not None

        def progress(done: int, total: int) -> None:
            self.emit(EvalProgress(step=self.step, rows_done=done, rows_total=total))

        predictions = self.evaluator.run(self.model, self.task, autocast=self.autocast, progress=progress)
        result = evaluation_result(
            predictions.probs,
            np.asarray(evaluation.targets),  # dense is fine here: the eval split is capped
            self.prepared.train.targets,
            self.task,
            evaluation.label_names,
            step=self.step,
            epoch=self.step / self.steps_per_epoch,
            loss=float(predictions.losses.mean()),
        )
        self._last_eval_step = self.step
        self._best_thresholds = result.thresholds
        self.emit(result)

    # ------------------------------------------------------------------ saving and ending

    def _save_checkpoint(self) -> None:
        if self.last_saved_step == self.step or not self.parallel.is_main:
            return
        state = ckpt.TrainingState(
            step=self.step,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            rng_cpu=torch.get_rng_state(),
            rng_cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            frozen=self.frozen_groups.in_order(),
            pin_rows=[self.prepared.train.row_ids[p] for p in self.pin_positions],
            micro_batch=self.micro_batch,
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
        )
        path = ckpt.save_checkpoint(self.run_dir, self.model, self.tokenizer, state, self.config.keep_checkpoints)
        self.last_saved_step = self.step
        self.emit(CheckpointSaved(step=self.step, path=str(path)))

    def _save_model(self) -> str:
        if not self.parallel.is_main:
            return ""
        target = self.run_dir / MODEL_DIR
        self.model.save_pretrained(target, safe_serialization=True)
        self.tokenizer.save_pretrained(target)
        if self._thresholds_kept is not None:
            write_thresholds(target, self._thresholds_kept)
        return str(target)

    def _finish(self) -> RunEnded:
        reason = self._stop_reason or EndReason.FINISHED
        if reason == EndReason.FINISHED:
            self._evaluate()
        if self._last_pin_step != self.step:
            self._predict_pins()
        self._save_checkpoint()
        model_dir = self._save_model()
        latest = ckpt.latest_checkpoint(self.run_dir)
        return RunEnded(
            step=self.step,
            reason=reason,
            model_dir=model_dir,
            checkpoint=str(latest) if latest else None,
            message=self._stop_message,
        )

    def _fail(self, exc: BaseException) -> RunEnded:
        """Journal the error with where it happened, and save what can be saved."""
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {frame.filename}:{frame.lineno}" if frame else ""
        message = f"{type(exc).__name__}: {exc}{where}"
        if isinstance(exc, (JournalWriteError, ckpt.CheckpointWriteError)):  # a full disk: said in words
            message = str(exc)
        self.pending = None  # its update may be what failed
        saved = None
        try:
            if not isinstance(exc, (JournalWriteError, ckpt.CheckpointWriteError)):  # the disk is full
                self._save_checkpoint()
        except Exception as save_error:  # the original error matters more
            message += f" (and the checkpoint failed: {save_error})"
        latest = ckpt.latest_checkpoint(self.run_dir)
        saved = str(latest) if latest else None
        if "last good checkpoint" not in message:
            message += f"; last good checkpoint: {saved or 'none'}"
        return RunEnded(step=self.step, reason=EndReason.ERROR, checkpoint=saved, message=message)
