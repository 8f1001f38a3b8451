"""RunConfig: every knob of a run in one place, with its default and its validation."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.contract.commands import (
    DEFAULT_NOTIFY_KINDS,
    CommandSyntaxError,
    notify_kinds_spec,
    notify_url_spec,
    parse_schedule,
    pos_weight_spec,
    redact_target,
    shown_text,
)
from cockpit.contract.errors import CockpitError

DEFAULT_MODEL = "embedded:all-MiniLM-L6-v2"
DEFAULT_LR = 5e-5
LORA_LR = 1e-3  # --lr's default with --lora (peft's LoRA examples use it): adapters start at zero, need larger steps
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Files a resume reads again: config.json holds them as absolute paths, so that `--resume RUN_DIR`
# works from any folder. (--model is read from the checkpoint on resume; it stays as given.)
PATH_FIELDS = ("data", "eval_path")
TASK_CHOICES = ("auto", "binary", "multiclass", "multilabel", "regression")
DEFAULT_EVAL_SHARE = 0.1


@dataclass
class RunConfig:
    """What to train, on what, and how. Saved as config.json in the run directory."""

    data: str
    model: str = DEFAULT_MODEL
    out: str | None = None
    eval_path: str | None = None
    # A share of the rows held out (at most data.EVAL_ROWS_CAP unless eval_rows is set), or a split's name
    # (a datasets DatasetDict); None: the data's validation/test split if it has one, else DEFAULT_EVAL_SHARE.
    eval_split: float | str | None = None
    eval_rows: int | None = None  # hold out exactly this many rows (or cut an --eval file to them)
    train_split: str | None = None  # a DatasetDict's split to train on (None: "train")
    text_column: str | None = None  # one column, a pair "a,b", or columns joined "a+b"
    label_columns: list[str] | None = None
    label_names: list[str] | None = None
    task: str = "auto"  # auto | binary | multiclass | multilabel | regression
    normalize_targets: bool = False  # regression: the head learns z-scores of the targets (target_scale.py)
    max_length: int = 128
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = DEFAULT_LR
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    epochs: float = 3.0
    max_steps: int | None = None
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (autocast on CUDA only)
    freeze: str = "none"
    lora: str | None = None  # --lora r=16,alpha=32,dropout=0.1,targets=query,value ("on": the defaults)
    merge_lora: bool = False  # also save the adapter merged into the base model (model-merged/)
    schedule: list[str] = field(default_factory=list)  # --at STEP:COMMAND
    pins: list[int] | None = None
    # share of training time pinned-example inference may take (steady cost); 1%, as CockpitCallback's: at 3%
    # the pins were the largest part of what a step cost beside a Trainer script's (benchmarks/user_path.py)
    pin_budget: float = 0.01
    pin_every_s: float = 2.0  # pinned examples predicted about this often (wall time), budget permitting
    pos_weight: str = "off"  # multilabel BCE pos_weight: off | auto (negatives/positives per label) | FLOAT
    eval_every: int | None = None
    # Checkpoints: every `save_minutes` of training by default (nothing is lost for longer than that),
    # also every `save_every` steps if set; save_every 0 turns both off (the end still saves).
    save_every: int | None = None
    save_minutes: float = 10.0
    keep_checkpoints: int = 3
    trust_remote_code: bool = False
    headless: bool = False
    # Who hears about the run's alarms and its end while nobody watches (cockpit.notify)
    notify: str | None = None  # a shell command: the event as JSON on stdin, a one-line summary in $COCKPIT_SUMMARY
    notify_url: str | None = None  # POSTed the same (Slack, Discord and ntfy get their own shape)
    notify_on: list[str] = field(default_factory=lambda: list(DEFAULT_NOTIFY_KINDS))  # alarm, end, eval
    notify_every: float = 10.0  # minutes: at most one message per alarm kind (and for evals) this often
    # Ranks the run was started on (torchrun's world size): the global batch is batch_size x
    # grad_accum x ranks, and stays so when the run is resumed on another number of ranks.
    ranks: int = 1

    def validate(self) -> None:
        """Reject values that would fail later, with the flag's name and what to do."""
        checks: list[tuple[bool, str]] = [
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.batch_size <= 65536, f"--batch-size {self.batch_size} is too large"),
            (self.grad_accum >= 1, f"--grad-accum must be at least 1, got {self.grad_accum}"),
            (0 < self.lr < 1, f"--lr must be between 0 and 1 (e.g. 5e-5), got {self.lr:g}"),
            (0 < self.epochs < math.inf, f"--epochs must be a positive number, got {self.epochs:g}"),
            (self.max_steps is None or self.max_steps >= 1, f"--max-steps must be at least 1, got {self.max_steps}"),
            (8 <= self.max_length <= 8192, f"--max-length must be between 8 and 8192, got {self.max_length}"),
            (
                not isinstance(self.eval_split, (int, float)) or 0 <= self.eval_split < 1,
                f"--eval-split must be a share in [0, 1) or a split's name, got {self.eval_split}",
            ),
            (self.task in TASK_CHOICES, f"--task {self.task!r}: use one of {', '.join(TASK_CHOICES)}"),
            (self.eval_rows is None or self.eval_rows >= 0, f"--eval-rows must be 0 or more, got {self.eval_rows}"),
            (0 <= self.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio:g}"),
            (0 <= self.weight_decay < math.inf, f"--weight-decay must be 0 or more (0.01), got {self.weight_decay:g}"),
            (0 <= self.max_grad_norm < math.inf, f"--max-grad-norm must be >= 0 (0 = off), got {self.max_grad_norm:g}"),
            (0 <= self.seed < 2**32, f"--seed must be between 0 and 2**32 - 1, got {self.seed}"),
            (self.keep_checkpoints >= 1, f"--keep-checkpoints must be at least 1, got {self.keep_checkpoints}"),
            (self.eval_every is None or self.eval_every >= 1, "--eval-every must be at least 1"),
            (
                self.save_every is None or self.save_every >= 0,
                f"--save-every must be 0 (no checkpoint but the last) or more steps, got {self.save_every}",
            ),
            (
                0 <= self.save_minutes < math.inf,
                f"--save-minutes must be 0 (off) or more minutes, got {self.save_minutes:g}",
            ),
            (0 < self.pin_budget <= 1, f"--pin-budget must be in (0, 1], got {self.pin_budget:g}"),
            (self.ranks >= 1, f"ranks must be at least 1, got {self.ranks}"),
            (self.pin_every_s >= 0, f"--pin-every must be 0 or more seconds, got {self.pin_every_s:g}"),
            (self.precision in PRECISIONS, f"--precision {self.precision!r}: use auto, fp32, bf16 or fp16"),
            (0 <= self.notify_every < math.inf, f"--notify-every must be 0 or more minutes, got {self.notify_every:g}"),
        ]
        for ok, message in checks:
            if not ok:
                raise CockpitError(message)
        try:
            self.pos_weight = pos_weight_spec(str(self.pos_weight))
        except CommandSyntaxError as exc:
            raise CockpitError(f"--pos-weight: {exc}") from None
        try:
            self.notify_on = list(notify_kinds_spec(self.notify_on))
        except CommandSyntaxError as exc:
            raise CockpitError(f"--notify-on: {exc}") from None
        try:
            self.notify_url = notify_url_spec(self.notify_url) if self.notify_url else None
        except CommandSyntaxError as exc:
            raise CockpitError(f"--notify-url: {exc}") from None
        parse_schedule(self.schedule)

    @property
    def effective_batch(self) -> int:
        """Samples per optimizer step over all ranks; `--grad-accum` splits each rank's share into micro-batches."""
        return self.batch_size * self.grad_accum * self.ranks

    @property
    def eval_share(self) -> float:
        """The share of the training rows held out when no eval file or split is given."""
        return self.eval_split if isinstance(self.eval_split, (int, float)) else DEFAULT_EVAL_SHARE

    @property
    def eval_split_name(self) -> str | None:
        """`--eval-split NAME`: a DatasetDict's split to evaluate on."""
        return self.eval_split if isinstance(self.eval_split, str) else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def public_dict(self) -> dict[str, Any]:
        """What the journal shows of the config (`to_dict` is what config.json keeps): a webhook URL's
        path is its password, so it is left out, in `--notify-url` and in a scheduled `notify=`."""
        values = self.to_dict()
        values["notify_url"] = redact_target(self.notify_url)
        values["schedule"] = [_shown_entry(entry) for entry in self.schedule]
        return values

    def save(self, path: Path) -> None:
        values = self.to_dict()
        for name in PATH_FIELDS:
            if values[name] and os.path.exists(values[name]):  # (a Hub name stays a name)
                values[name] = os.path.abspath(values[name])  # abspath, not resolve: the user's links stay
        private = bool(self.notify or self.notify_url)  # a webhook URL is a password: owner-only, as the inbox
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
        if private:
            os.fchmod(fd, 0o600)  # (an existing file keeps its mode through O_CREAT)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(values, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read a config.json written by `save`; a damaged one is a CockpitError, not a traceback."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            reason = str(exc).splitlines()[0][:120]
            raise CockpitError(f"{path}: cannot be read ({reason}); is it a cockpit config.json?") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), str):
            raise CockpitError(f'{path}: not a cockpit config.json (no "data" entry naming the data file)')
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            kinds = [k.split("[")[0].strip() for k in str(f.type).split("|")]  # "float | str | None"
            known = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list,)}
            expected = tuple(t for k in kinds for t in known.get(k, (object,)) if k != "None")
            if (value is None and "None" not in kinds) or (value is not None and not isinstance(value, expected)):
                raise CockpitError(f"{path}: {f.name!r} is {value!r}, expected {f.type}; fix it or start a new run")
            values[f.name] = value
        config = cls(**values)
        config._find_relative_paths(path.parent)
        return config

    def _find_relative_paths(self, run_dir: Path) -> None:
        """A config.json written before paths were stored absolute holds them relative to the folder
        the run was started in, which a resume from elsewhere must find again.

        That folder is the run directory less its recorded `--out` (`runs/X` under it, the default
        layout); where that does not tell (an absolute or moved --out), the current folder, as before.
        """
        started_in = _started_in(run_dir, self.out)
        for name in PATH_FIELDS:
            value = getattr(self, name)
            if not value or Path(value).is_absolute():
                continue
            guesses = ([started_in / value] if started_in is not None else []) + [Path(os.path.abspath(value))]
            setattr(self, name, str(next((g for g in guesses if g.exists()), value)))  # else a Hub name, or gone


def _shown_entry(entry: str) -> str:
    """`--at STEP:COMMAND` as the journal shows it (a notify URL without its secret path)."""
    step, _, command = entry.partition(":")
    return f"{step}:{shown_text(command)}" if command else entry


def _started_in(run_dir: Path, out: str | None) -> Path | None:
    """The folder a run was started in, if its run directory still ends with the relative --out it was given."""
    if not out or Path(out).is_absolute():
        return None
    parts = Path(os.path.normpath(out)).parts
    where = Path(os.path.abspath(run_dir))
    if ".." in parts or where.parts[-len(parts) :] != parts:
        return None
    return Path(*where.parts[: -len(parts)])
