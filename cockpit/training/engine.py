"""The training loop. It knows nothing of Textual: it emits events and obeys commands.

Read `Engine.run` and `Engine._train_step` top to bottom: apply the commands due, take one
optimizer step, measure it, then evaluate / predict the pinned examples / checkpoint when due
(every `--save-minutes 10` of training by default; committed to disk in the background: `saving`).
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
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from cockpit.contract.commands import Command, parse_command
from cockpit.contract.enums import EndReason
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import (
    CheckpointSaved,
    EvalProgress,
    Notice,
    PinnedExample,
    RunEnded,
)
from cockpit.contract.stream import EventStream, Observer
from cockpit.data.splits import positions_of_rows
from cockpit.notify.notifier import Notifier
from cockpit.rundir import checkpoint as ckpt
from cockpit.rundir.journal import JournalWriteError, JournalWriter
from cockpit.rundir.layout import CONFIG_NAME, JOURNAL_NAME, MERGED_MODEL_DIR, MODEL_DIR
from cockpit.training.batches import Collator, EpochOrder, Evaluator, spare_cores
from cockpit.training.instruments import (
    Predictions,
    constant_loss,
    evaluation_result,
    positive_weights,
    predict,
    target_spread,
    training_loss,
)
from cockpit.training.lora import save_merged, save_model_files
from cockpit.training.lr_plan import LinearPlan
from cockpit.training.parallel import Parallel, SingleProcess
from cockpit.training.pins import PinCadence
from cockpit.training.prepare import SAID_ON_RESUME, PreparedRun
from cockpit.training.run_core import RunCore
from cockpit.training.saving import CheckpointSaver, SaveCadence
from cockpit.training.steering import Applied
from cockpit.training.target_scale import OutputScale

T = TypeVar("T")
Phase = Literal[
    "at_boundary",
    "at_step_start",
    "after_backward",
    "before_optimizer_step",
    "after_optimizer_step",
    "after_measure",
    "at_step_end",
]


class StepHooks:
    """Named phases of one optimizer step; subclass and override the ones you need.

    Called in the training thread with the engine, in this order per step: `at_boundary` (before
    the commands due are applied: the place to take commands from an inbox), `at_step_start`
    (the commands applied, any pause over: the batch is drawn next), `after_backward` (the whole
    batch's gradients are in place, unscaled, not yet measured or clipped),
    `before_optimizer_step` (measured and clipped), `after_optimizer_step` (weights updated,
    gradients dropped), `after_measure` (the step's relative update taken and its numbers
    complete), `at_step_end` (after the evaluation, pinned predictions and checkpoint due at this
    step). A non-finite step skips the two optimizer phases. Unlike observers, a hook that raises
    ends the run (reason `error`): a distributed wrapper that failed must not train on alone.
    """

    def at_boundary(self, engine: Engine) -> None: ...
    def at_step_start(self, engine: Engine) -> None: ...
    def after_backward(self, engine: Engine) -> None: ...
    def before_optimizer_step(self, engine: Engine) -> None: ...
    def after_optimizer_step(self, engine: Engine) -> None: ...
    def after_measure(self, engine: Engine) -> None: ...
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


class Engine(RunCore):
    """One training run of `cockpit train`. Construct, register observers, then call `run()`.

    The run core (`RunCore`) holds what every loop shares: the event stream, the steering surface,
    pins, the step's measure-and-flush; the engine adds its loop, its optimizer and lr plan, its
    batches, evaluation and checkpoints.

    Args:
        prepared: the run's data, model, device and directory (`prepare.prepare`).
        observers: called with every event, in the journal's order (the UI queue, a progress line).
        on_nonfinite: "pause" for a look (a cockpit is watching) or "stop" (headless).
        stream: the event stream to emit into (default: a new one; the journal is attached by `run`).
        hooks: `StepHooks` called at the loop's named phases (benchmarks, a distributed wrapper).
        parallel: the other processes training the same run (none by default;
            `training.distributed.DataParallelRanks` for one rank of a DDP job).
        diagnose: run the alarm rules on this run's events (on, except to measure without them).
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
        diagnose: bool = True,
    ) -> None:
        self.prepared = prepared
        self.config = cfg = prepared.config
        self.tokenizer = prepared.loaded.tokenizer
        self.hooks: list[StepHooks] = list(hooks)
        self.parallel: Parallel = parallel or SingleProcess()
        model = prepared.loaded.model.to(prepared.device)
        model.train()
        train = prepared.train
        super().__init__(
            prepared.run_dir,
            model,
            prepared.loaded.groups,
            task=train.task,
            labels=train.label_names,
            pins=self._pins_at(prepared.pin_positions),
            max_grad_norm=cfg.max_grad_norm,
            pin_cadence=PinCadence(cfg.pin_budget, cfg.pin_every_s),
            on_nonfinite=on_nonfinite,
            observers=observers or [],
            stream=stream,
            publishes=self.parallel.is_main,
            diagnose=diagnose,
            notifier=Notifier(
                command=cfg.notify,
                url=cfg.notify_url,
                kinds=cfg.notify_on,
                every_s=cfg.notify_every * 60,
            ),
        )
        self.effective_batch = cfg.effective_batch
        self.micro_batch = cfg.batch_size
        self.steps_per_epoch = max(1, math.ceil(len(train) / self.effective_batch))
        self.total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        self.warmup_steps = int(cfg.warmup_ratio * self.total_steps)
        # tokenizes per batch (#14), the next one beside the step where a core is free for it
        self.collator = Collator(self.tokenizer, cfg.max_length, self.device, ahead=spare_cores(self.device))
        self.epoch_order = EpochOrder(len(train), cfg.seed)
        self.evaluator = (
            Evaluator(prepared.evaluation, self.tokenizer, cfg.max_length, self.device) if prepared.evaluation else None
        )
        self.pos_weight = self._positive_weights(cfg.pos_weight)
        self.schedule: dict[int, list[Command]] = {}
        for scheduled in prepared.schedule:
            self.schedule.setdefault(scheduled.step, []).append(scheduled.command)
        # The fused kernel where torch has one: one pass over all tensors instead of a Python loop
        # per tensor (109 ms against 16 ms a step for MiniLM on CPU); HF Trainer uses it too.
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.AdamW(
            self._param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None
        )
        self.lr_plan = LinearPlan(self.total_steps, self.warmup_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lr_plan.factor)
        self.scheduler.lr_plan = self.lr_plan.state()  # rides in every checkpoint (lr_plan.py)
        # One autocast context and one scaler, both inert in fp32 (nanoGPT's `ctx`).
        self.amp_dtype = autocast_dtype(self.device, cfg.precision)
        self.autocast = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.last_saved_step = -1  # the newest checkpoint committed to disk
        self.save_cadence = SaveCadence(cfg.save_every, cfg.save_minutes, time.monotonic())
        self.saver = CheckpointSaver(prepared.run_dir, cfg.keep_checkpoints) if self.publishes else None
        if prepared.resume is not None and prepared.resume.full:  # full= before the checkpoint: base weights train
            self.frozen_groups.train_base(prepared.resume.full)
        self.frozen_groups.set(prepared.initial_frozen, frozen=True)
        # The module the training forward runs through (DDP's wrapper on a rank of a distributed
        # job); predictions always use the bare model. Only the main process writes the run
        # directory (journal, config, checkpoints, model), predicts the pinned examples and evaluates.
        spread = target_spread(train.targets) if self.task == "regression" else {}
        self.output_scale = OutputScale(model, spread["mean"], spread["std"]) if cfg.normalize_targets else None
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

    def _pins_at(self, positions: list[int]) -> list[PinnedExample]:
        train = self.prepared.train
        pins = []
        for p in positions:
            text, pair = train.text_at(p)
            pins.append(
                PinnedExample(index=train.row_ids[p], text=text, targets=train.targets[p].tolist(), text_pair=pair)
            )
        return pins

    def _restore(self, state: ckpt.TrainingState) -> None:
        try:
            self.optimizer.load_state_dict(state.optimizer)
        except ValueError as exc:  # a checkpoint of another model
            raise CockpitError(f"--resume: the checkpoint's optimizer state does not fit this model ({exc})") from None
        self.scheduler.load_state_dict(state.scheduler)
        said = self.lr_plan.resume(
            state.scheduler.get("lr_plan"), state.lr_factor, state.step, peak_lr=self.scheduler.base_lrs[0]
        )
        if said is not None:
            self.prepared.notices.append(said)
        self.scheduler.lr_plan = self.lr_plan.state()
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs, strict=True):
            group["lr"] = base * self.lr_plan.factor(state.step)
        torch.set_rng_state(state.rng_cpu)
        if torch.cuda.is_available() and state.rng_cuda:
            torch.cuda.set_rng_state_all(state.rng_cuda)
        if state.scaler:
            self.scaler.load_state_dict(state.scaler)  # a no-op when this run does not scale
        self.micro_batch = state.micro_batch
        self.step = state.step
        self.last_saved_step = state.step

    # ------------------------------------------------------------------ public API

    def submit(self, command: Command, source: str = "ui", id: str = "") -> None:
        """Thread-safe: queue a command for the next step boundary; `id` comes back in its CommandApplied."""
        self.steering.submit(command, source, id)

    def run(self) -> RunEnded:
        """Train to the end (or a stop), then save; never raises: failures end as reason=error."""
        journal = None
        if self.publishes:  # the other ranks of a distributed job write nothing there
            try:
                journal = self.stream.journal = JournalWriter(self.run_dir / JOURNAL_NAME)
                self.config.save(self.run_dir / CONFIG_NAME)
            except OSError as exc:
                return RunEnded(step=self.step, reason=EndReason.ERROR, message=f"{exc}; nothing was trained")
            self.listen()
        try:
            self._announce()
            self.save_cadence.saved(time.monotonic())  # training time counts from here
            if self.last_pin_step < 0:
                self.predict_pins()
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
            self.collator.close()
        self.emit(ended)  # to the journal too, unless writing it is what failed
        self.stream.journal = None
        if journal is not None:
            journal.close()
        self.notifier.close()  # the end's notification leaves before the process does
        return ended

    def _call_hooks(self, phase: Phase) -> None:
        for hook in self.hooks:
            getattr(hook, phase)(self)

    # ------------------------------------------------------------------ the loop

    def _announce(self) -> None:
        prepared, train = self.prepared, self.prepared.train
        self.emit(
            self.run_started(
                model=prepared.loaded.source,
                device=str(self.device) + (f" ({self.amp_dtype})" if self.amp_dtype else ""),
                config={
                    **self.config.public_dict(),  # a webhook URL's secret stays out of the journal
                    "warmup_steps": self.warmup_steps,
                    "effective_batch": self.effective_batch,
                },
                total_steps=self.total_steps,
                steps_per_epoch=self.steps_per_epoch,
                train_rows=len(train),
                eval_rows=len(prepared.evaluation) if prepared.evaluation else 0,
                constant_loss=constant_loss(train.targets, train.targets, self.task),
                head=prepared.loaded.head,
                resumed=prepared.resume is not None,
                targets=target_spread(train.targets) if self.task == "regression" else None,
            )
        )
        for notice in prepared.notices:
            if prepared.resume is None or notice.kind in SAID_ON_RESUME:
                self.emit(dataclasses.replace(notice, step=self.step))
        if self.output_scale is not None:
            scale = self.output_scale
            said = (
                f"--normalize-targets: the head learns z = (y - {scale.mean:.4g}) / {scale.std:.4g}; the loss, "
                "predictions, metrics and the saved model are in the targets' own units"
            )
            evidence = {"mean": scale.mean, "std": scale.std}
            self.emit(Notice(step=self.step, kind="normalize_targets", message=said, evidence=evidence))
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
        self._call_hooks("at_step_start")
        rows = self._batch_rows(self.step)
        started = time.perf_counter()
        if self.step + 1 < self.total_steps:  # the next step's first micro-batch, tokenized while this one runs
            upcoming = self.parallel.micro_batches(self._batch_rows(self.step + 1), self.micro_batch)[0][0]
            self.collator.prefetch(self.prepared.train, upcoming)
        loss = self._forward_backward(rows)
        self.scaler.unscale_(self.optimizer)  # a no-op unless fp16
        self._call_hooks("after_backward")
        lr = self.optimizer.param_groups[0]["lr"]
        numbers = self.measure(loss, lr, self.step + 1, scaled=self.scaler.is_enabled())
        if not numbers.skipped:
            self._call_hooks("before_optimizer_step")
            self.scaler.step(self.optimizer)  # optimizer.step() unless fp16
            self.scaler.update()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self._call_hooks("after_optimizer_step")
            self.measure_update(numbers)
        else:
            self.optimizer.zero_grad(set_to_none=True)
        self.step_done(numbers, time.perf_counter() - started, len(rows), epoch=numbers.step / self.steps_per_epoch)
        self._call_hooks("after_measure")
        if self.paused:  # a non-finite step paused the run (with a cockpit to look at): wait here
            self._boundary()

    def _after_step(self) -> None:
        cfg = self.config
        at_epoch_end = self.step % self.steps_per_epoch == 0
        if self.prepared.evaluation is not None and (
            at_epoch_end or (cfg.eval_every and self.step % cfg.eval_every == 0)
        ):
            self._evaluate()
        if self._evaluated_now() or self.pins_due():  # at every eval, and on their cadence
            self.predict_pins()
        if self.save_cadence.due(self.step, time.monotonic()):
            self._save_checkpoint()
        self._journal_checkpoints()

    def _evaluated_now(self) -> bool:
        return self.last_eval is not None and self.last_eval.step == self.step

    # ------------------------------------------------------------------ commands

    def _boundary(self) -> None:
        """Between two steps: the commands due take effect (in a distributed job rank 0 decides
        and every rank applies the same, in the same order). A paused run waits here, and that
        wait is no training time for the checkpoint cadence."""
        started = time.monotonic()
        self.parallel.boundary(self._decide, self._follow)
        self.save_cadence.waited(time.monotonic() - started)

    def _decide(self, applied: list[Applied]) -> None:
        """What is scheduled for the next step, then what arrived; while paused, wait for more."""
        self.steering.boundary(self.schedule.pop(self.step + 1, []), applied)

    def _follow(self, command: Applied) -> None:
        self.steering.apply(parse_command(command.text), command.source, command.id)

    # What only the loop's owner can do (the rest of `steering.Steerable` is the run core's).

    def set_lr(self, lr: float) -> None:
        """A new peak learning rate: warmup and decay go on from where they are."""
        self.scheduler.base_lrs = [lr for _ in self.scheduler.base_lrs]
        factor = self.lr_plan.factor(self.scheduler.last_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * factor

    def save_now(self) -> str:
        """`s` / `save`: asked for by a person, who waits for it (paused, too): committed before the next step."""
        self._save_checkpoint(wait=True)
        return "ok"

    def set_pos_weight(self, value: str) -> None:
        self.pos_weight = self._positive_weights(value)

    def pins_for_rows(self, rows: list[int]) -> list[PinnedExample]:
        return self._pins_at(positions_of_rows(self.prepared.train, rows))

    def thresholds_destination(self) -> str:
        return f"in {self.run_dir / MODEL_DIR} with the model at the end of the run"

    # ------------------------------------------------------------------ predictions

    def predict_examples(self, texts: list[str], pairs: list[str] | None, targets: np.ndarray) -> Predictions:
        return predict(self.model, self.collator, texts, targets, self.task, autocast=self.autocast, pairs=pairs)

    def _evaluate(self) -> None:
        evaluation = self.prepared.evaluation
        if evaluation is None or self._evaluated_now() or not self.publishes:
            return
        assert self.evaluator is not None

        def progress(done: int, total: int) -> None:
            self.emit(EvalProgress(step=self.step, rows_done=done, rows_total=total))

        predictions = self.evaluator.run(self.model, self.task, autocast=self.autocast, progress=progress)
        self.evaluated(
            evaluation_result(
                predictions.probs,
                np.asarray(evaluation.targets),  # dense is fine here: the eval split is capped
                self.prepared.train.targets,
                self.task,
                evaluation.label_names,
                step=self.step,
                epoch=self.step / self.steps_per_epoch,
                loss=float(predictions.losses.mean()),
            )
        )

    # ------------------------------------------------------------------ saving and ending

    def _save_checkpoint(self, wait: bool = False) -> None:
        """This step's checkpoint: written now, committed in the background unless `wait` (see `saving`)."""
        if self.saver is None or self.step in (self.last_saved_step, self.saver.committing):
            return
        state = ckpt.TrainingState(
            step=self.step,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            rng_cpu=torch.get_rng_state(),
            rng_cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            frozen=self.frozen_groups.in_order(),
            pin_rows=[p.index for p in self.pins],
            micro_batch=self.micro_batch,
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
            full=sorted(self.frozen_groups.full),
        )
        self.saver.save(self._save_model_files, state, wait=wait)
        self.save_cadence.saved(time.monotonic())
        self._journal_checkpoints()

    def _journal_checkpoints(self) -> None:
        """Journal each checkpoint committed since the last look; raise a failed commit's error."""
        for step, path in self.saver.collect() if self.saver is not None else ():
            self.last_saved_step = max(self.last_saved_step, step)
            self.emit(CheckpointSaved(step=step, path=str(path)))

    def _save_model_files(self, folder: Path) -> None:
        save_model_files(self.model, self.tokenizer, folder, self.frozen_groups.base_weights)

    def _save_model(self) -> str:
        if not self.publishes:
            return ""
        target = self.run_dir / MODEL_DIR
        merged = self.run_dir / MERGED_MODEL_DIR if self.config.merge_lora else None
        with self.output_scale.folded() if self.output_scale else contextlib.nullcontext():
            self._save_model_files(target)  # in the targets' units
            if merged is not None:
                save_merged(self.model, self.tokenizer, merged)
        self.keep_thresholds_in(target)
        if merged is not None:
            self.keep_thresholds_in(merged)
            said = f"LoRA: the adapter is in {target}, merged into the base model in {merged} (pipeline() loads it)"
            self.emit(Notice(step=self.step, kind="merged", message=said))
        return str(target)

    def _finish(self) -> RunEnded:
        if self.stop_reason in (None, EndReason.FINISHED):
            self._evaluate()
        if self.last_pin_step != self.step:
            self.predict_pins()
        self._save_checkpoint(wait=True)
        if self.saver is not None:
            self.saver.wait()
        self._journal_checkpoints()
        model_dir = self._save_model()
        return self._resumable(self.run_ended(model_dir=model_dir, checkpoint=self._latest()))

    def _fail(self, exc: BaseException) -> RunEnded:
        """Journal the error with where it happened, and save what can be saved."""
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {frame.filename}:{frame.lineno}" if frame else ""
        message = f"{type(exc).__name__}: {exc}{where}"
        if isinstance(exc, (JournalWriteError, ckpt.CheckpointWriteError)):  # a full disk: said in words
            message = str(exc)
        self.pending = None  # its update may be what failed
        full = disk_full(exc)
        try:
            if self.saver is not None:
                self.saver.wait()  # the checkpoint being committed, if any, is the last good one
            if not isinstance(exc, (JournalWriteError, ckpt.CheckpointWriteError)):  # the disk is full
                self._save_checkpoint(wait=True)
        except Exception as save_error:  # the original error matters more
            full = full or disk_full(save_error)
            message += f" (and the checkpoint failed: {save_error})"
        reason = EndReason.DISK_FULL if full else EndReason.ERROR
        return self._resumable(RunEnded(step=self.step, reason=reason, checkpoint=self._latest(), message=message))

    def _latest(self) -> str | None:
        latest = ckpt.latest_checkpoint(self.run_dir)
        return str(latest) if latest else None

    def _resumable(self, ended: RunEnded) -> RunEnded:
        """The `end` with the command that continues the run from its checkpoint (`cockpit runs` and clients say it)."""
        if ended.checkpoint and self.publishes:
            ended.resume = f"cockpit train --resume {self.run_dir}"
        return ended


def disk_full(exc: BaseException) -> bool:
    """A write failed for lack of space (a checkpoint's, or the journal's: its OSError is the context)."""
    if isinstance(exc, ckpt.CheckpointWriteError):
        return exc.disk_full
    cause = exc.__context__ if isinstance(exc, JournalWriteError) else exc
    return isinstance(cause, OSError) and cause.errno in ckpt.DISK_FULL_ERRNOS
