"""`CockpitCallback`: the cockpit for an existing `transformers.Trainer` script, in two lines.

    from cockpit import CockpitCallback
    trainer = Trainer(..., callbacks=[CockpitCallback()])

It writes a normal cockpit run directory (journal.jsonl, config.json) in `output_dir/cockpit`
(not `output_dir` itself, where Trainer saves the model's own config.json), which `cockpit replay`
shows and whose inbox `cockpit send` / `cockpit attach` write to. Everything but the translation
from Trainer's hooks lives in `cockpit.live_run.LiveRun`.

Trainer's order per optimizer step (transformers 5.x `_run_epoch`): on_step_begin -> forward and
backward per micro-batch -> clipping (if max_grad_norm > 0) -> on_pre_optimizer_step ->
optimizer.step -> on_optimizer_step -> scheduler -> zero_grad -> on_step_end -> log / evaluate
(on_evaluate) / save (on_save). Clipping runs before the hook, so its factor would include the
frozen groups' gradients and the hook would see clipped norms: the callback sets
`args.max_grad_norm = 0` at on_train_begin, clips the trainable gradients itself, and puts the
value back at on_train_end.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from cockpit.bridge.live_run import LiveRun, targets_matrix
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Event, HeadFit, Notice, PinnedExample
from cockpit.data.columns import LABEL_COLUMN_NAMES, TEXT_COLUMN_NAMES
from cockpit.data.labeled import LabeledTexts
from cockpit.data.splits import default_pins, rows_below_thresholds
from cockpit.training.model import PROBLEM_TYPES, describe_head, head_parameter_names, layer_groups

# Labels are read from at most this many rows of a dataset that is not a column store (a torch
# Dataset may tokenize in __getitem__); an Arrow `datasets.Dataset` gives its label column whole.
LABEL_SCAN_LIMIT = 100_000
DEFAULT_PIN_SCAN = 2_000

PinSpec = int | str | tuple[str, Any]


class CockpitCallback(TrainerCallback):
    """The cockpit's instruments, alarms, journal and live control for `transformers.Trainer`.

    `pins`: training rows to follow, as row numbers of `train_dataset` or `(text, label)` pairs
    (a label is needed to follow the example's loss); default: a few rows covering the labels,
    chosen as `cockpit train` does. `run_dir`: where the journal goes (default
    `output_dir/cockpit`). `pin_budget`: the share of training time pinned predictions may take.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike | None = None,
        pins: Sequence[PinSpec] | None = None,
        pin_budget: float = 0.01,
        observers: list[Callable[[Event], None]] | None = None,
    ) -> None:
        if not 0 < pin_budget <= 1:
            raise CockpitError(f"CockpitCallback(pin_budget={pin_budget}): must be in (0, 1]")
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.pin_specs = list(pins) if pins is not None else None
        self.pin_budget = pin_budget
        self.observers = list(observers or [])
        self.live: LiveRun | None = None
        self._max_grad_norm = 0.0
        self._step_started = 0.0
        self._last_checkpoint: str | None = None

    # ------------------------------------------------------------------ start

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        if model is None or optimizer is None:
            raise CockpitError("CockpitCallback needs a Trainer that built its model and optimizer before training")
        tokenizer = kwargs.get("processing_class")
        dataloader = kwargs.get("train_dataloader")
        dataset = getattr(dataloader, "dataset", None)
        task, labels, targets, column = read_labels(dataset, model.config)
        counts = None if task == "multilabel" or len(targets) < len(dataset or ()) else targets.sum(axis=0)
        below = len(targets) and rows_below_thresholds(
            "train_dataset", len(dataset), None if counts is None else dict(zip(labels, counts.astype(int).tolist()))
        )
        parallel = args.world_size > 1
        self._max_grad_norm = args.max_grad_norm or 0.0
        run_dir = self.run_dir or Path(args.output_dir) / "cockpit"
        notices: list[Notice] = [Notice(step=state.global_step, kind="too_few_rows", message=below)] if below else []
        pins, pin_rows = [], None
        if tokenizer is None or not callable(tokenizer):
            notices.append(
                Notice(
                    step=state.global_step,
                    kind="no_pins",
                    message="no tokenizer given to the Trainer (processing_class): no pinned examples",
                )
            )
        elif len(targets):
            pin_rows = rows_as_pins(dataset, column, labels, task, tokenizer)
            pins = self._pins(pin_rows, targets, labels, task)
        groups = layer_groups(model)
        self.live = LiveRun(
            run_dir,
            model,
            groups,
            task=task,
            labels=labels,
            pins=pins,
            encode=encoder(tokenizer, model) if tokenizer is not None else None,
            pin_rows=pin_rows,
            max_grad_norm=self._max_grad_norm,
            pin_budget=self.pin_budget,
            # Under DDP only dropping grads before the optimizer step is exact in every mode.
            toggle_requires_grad=not parallel,
            observers=self.observers,
            publish=state.is_world_process_zero,
            listen=not parallel,  # a command would have to reach every rank alike
        )
        if parallel:
            notices.append(
                Notice(
                    step=state.global_step,
                    kind="no_live_control",
                    message=f"{args.world_size} processes: live commands are off under Trainer's DDP for now; "
                    "the instruments, pins (rank 0) and alarms work; eval distributions are rank 0's shard",
                )
            )
        micro = args.per_device_train_batch_size
        effective = micro * args.gradient_accumulation_steps * args.world_size
        batches = len(dataloader) if dataloader is not None and hasattr(dataloader, "__len__") else 0
        steps_per_epoch = max(1, math.ceil(batches / args.gradient_accumulation_steps)) if batches else state.max_steps
        eval_rows = self._eval_rows(kwargs.get("eval_dataloader"))
        self.live.begin(
            step=state.global_step,
            model_name=str(getattr(model.config, "_name_or_path", "") or type(model).__name__),
            config=run_config(args, state, self._max_grad_norm, effective, self.pin_budget),
            total_steps=state.max_steps,
            steps_per_epoch=steps_per_epoch,
            micro_batch=micro,
            effective_batch=effective,
            train_targets=targets,
            eval_rows=eval_rows,
            head=head_report(model, task, len(labels)),
            optimizer=optimizer,
            scheduler=lr_scheduler,
            notices=notices,
        )
        args.max_grad_norm = 0.0  # clipping is ours from here (see the module docstring); put back at the end
        self._boundary(control)
        return control

    def _pins(self, pin_rows, targets: np.ndarray, labels: list[str], task: str) -> list[PinnedExample]:
        if self.pin_specs is None:
            count = min(len(targets), DEFAULT_PIN_SCAN)
            scanned = LabeledTexts([""] * count, targets[:count], labels, task, "train_dataset", list(range(count)))
            return pin_rows(default_pins(scanned))
        rows = [spec for spec in self.pin_specs if isinstance(spec, int)]
        by_row = {p.index: p for p in pin_rows(rows)} if rows else {}
        pins = []
        for position, spec in enumerate(self.pin_specs):
            if isinstance(spec, int):
                pins.append(by_row[spec])
                continue
            if isinstance(spec, str) or not (isinstance(spec, (tuple, list)) and len(spec) == 2):
                raise CockpitError(
                    f"CockpitCallback(pins=...): {spec!r}: give a row number of train_dataset or a (text, label) pair"
                )
            text, label = spec
            pins.append(PinnedExample(index=-1 - position, text=str(text), targets=label_row(label, labels, task)))
        return pins

    @staticmethod
    def _eval_rows(dataloader: Any) -> int:
        try:
            return len(dataloader.dataset)
        except (AttributeError, TypeError):
            return 0

    # ------------------------------------------------------------------ each step

    def on_step_begin(self, args, state, control, **kwargs):
        # Also a boundary: what arrived since the last step's end (or since on_train_begin) applies
        # before this step's first forward pass.
        if self.live is not None:
            self._boundary(control)
        self._step_started = time.perf_counter()

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if self.live is not None:
            self.live.before_optimizer_step()

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self.live is not None:
            self.live.after_optimizer_step()

    def on_step_end(self, args, state, control, **kwargs):
        if self.live is None:
            return control
        self.live.end_step(state.global_step, float(state.epoch or 0.0), time.perf_counter() - self._step_started)
        self._boundary(control)
        return control

    def _boundary(self, control) -> None:
        assert self.live is not None
        boundary = self.live.boundary()
        if boundary.stop:
            control.should_training_stop = True
        if boundary.save:
            control.should_save = True

    # ------------------------------------------------------------------ results and the end

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.live is not None:
            self.live.evaluated_by_loop(state.global_step, float(state.epoch or 0.0), dict(metrics or {}))

    def on_save(self, args, state, control, **kwargs):
        if self.live is not None:
            self._last_checkpoint = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            self.live.saved(state.global_step, self._last_checkpoint)

    def on_train_end(self, args, state, control, **kwargs):
        args.max_grad_norm = self._max_grad_norm
        if self.live is not None:
            live, self.live = self.live, None
            live.keep_thresholds_in(args.output_dir)  # where `trainer.save_model()` puts the model by default
            live.finish(state.global_step, checkpoint=state.best_model_checkpoint or self._last_checkpoint)


# ---------------------------------------------------------------------------------------------
# What the Trainer's objects say about the run
# ---------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def read_labels(dataset: Any, config: Any) -> tuple[str, list[str], np.ndarray, str | None]:
    """(task, label names, targets [rows, labels], label column) from the training data and the model's config.

    The label count comes from the data and the model together, so that seed 003's one-output
    head on two-class data shows up as a head with 1 output for 2 labels.
    """
    column, values, names = None, [], None
    columns = getattr(dataset, "column_names", None)
    if isinstance(columns, list):
        column = next((c for c in LABEL_COLUMN_NAMES if c in columns), None)
        if column is not None:
            values = list(dataset[column])
            feature = getattr(dataset, "features", {}).get(column)
            names = list(getattr(feature, "names", None) or []) or None
    elif dataset is not None and hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__") and len(dataset):
        first = dataset[0]
        if isinstance(first, Mapping):
            column = next((c for c in LABEL_COLUMN_NAMES if c in first), None)
            if column is not None:
                values = [dataset[i][column] for i in range(min(len(dataset), LABEL_SCAN_LIMIT))]
    values = [_plain(v) for v in values]
    multilabel = getattr(config, "problem_type", None) == PROBLEM_TYPES["multilabel"] or (
        bool(values) and isinstance(values[0], list)
    )
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    configured = int(getattr(config, "num_labels", len(id2label)) or 0)
    if multilabel:
        count = len(values[0]) if values else configured
        task = "multilabel"
    else:
        if values and any(float(v) != int(float(v)) for v in values[:1000]):
            raise CockpitError(
                f"CockpitCallback: the '{column}' column holds non-integer numbers (a regression target); "
                "the cockpit follows classifiers"
            )
        seen = int(max(float(v) for v in values)) + 1 if values else 0
        count = max(seen, configured if configured > 1 else 0, 1)
        task = "binary" if count == 2 else "multiclass"
    if names is None or len(names) != count:
        names = [id2label.get(i, f"LABEL_{i}") for i in range(count)]
    targets = targets_matrix(values, count, task) if values else np.zeros((0, count), dtype=np.float32)
    return task, names, targets, column


def label_row(label: Any, labels: list[str], task: str) -> list[float]:
    """A pin's label (a name, a class id, or a multi-hot list) as its target row."""
    label = _plain(label)
    if isinstance(label, str):
        if label not in labels:
            raise CockpitError(f"CockpitCallback(pins=...): unknown label {label!r}; known: {', '.join(labels)}")
        label = labels.index(label)
    if isinstance(label, list):
        return [float(v) for v in label]
    return targets_matrix([label], len(labels), task)[0].tolist()


def rows_as_pins(
    dataset: Any, column: str | None, labels: list[str], task: str, tokenizer: Any
) -> Callable[[list[int]], list[PinnedExample]]:
    """Row numbers of train_dataset -> pinned examples, with the row's text (decoded if only ids are left)."""

    def resolve(rows: list[int]) -> list[PinnedExample]:
        pins = []
        for row in rows:
            if not 0 <= row < len(dataset):
                raise CockpitError(f"pin {row}: train_dataset has rows 0..{len(dataset) - 1}")
            item = dataset[row]
            text = next((item[c] for c in TEXT_COLUMN_NAMES if isinstance(item.get(c), str)), None)
            if text is None:
                text = tokenizer.decode(_plain(item["input_ids"]), skip_special_tokens=True)
            pins.append(PinnedExample(index=row, text=text, targets=label_row(item[column], labels, task)))
        return pins

    return resolve


def encoder(tokenizer: Any, model: torch.nn.Module) -> Callable[[list[str]], dict[str, torch.Tensor]]:
    """Tokenize as inference does, onto the model's device."""
    limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    names = set(getattr(tokenizer, "model_input_names", ["input_ids", "attention_mask"]))

    def encode(texts: list[str]) -> dict[str, torch.Tensor]:
        device = next(model.parameters()).device
        batch = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return {k: v.to(device) for k, v in batch.items() if k in names}

    return encode


def head_report(model: torch.nn.Module, task: str, label_count: int) -> HeadFit:
    """What the head alarm needs. HF treats num_labels=1 with no problem type as regression: say so."""
    configured = getattr(model.config, "problem_type", None)
    if configured is None and getattr(model.config, "num_labels", 0) == 1:
        configured = "regression"
    head = describe_head(model, label_count, configured or PROBLEM_TYPES[task], None, [], head_parameter_names(model))
    return dataclasses.replace(head, problem_type=configured or head.problem_type, group="head")


def run_config(args: Any, state: Any, max_grad_norm: float, effective: int, pin_budget: float) -> dict[str, Any]:
    """The run's settings as `cockpit train` names them, plus where they came from."""
    return {
        "source": "transformers.Trainer (CockpitCallback)",
        "output_dir": str(args.output_dir),
        "lr": args.learning_rate,
        "batch_size": args.per_device_train_batch_size,
        "grad_accum": args.gradient_accumulation_steps,
        "weight_decay": args.weight_decay,
        "warmup_steps": args.get_warmup_steps(state.max_steps),
        "lr_scheduler_type": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
        "max_grad_norm": max_grad_norm,
        "epochs": args.num_train_epochs,
        "max_steps": state.max_steps,
        "seed": args.seed,
        "pin_budget": pin_budget,
        "effective_batch": effective,
        "world_size": args.world_size,
    }
