"""Checkpoints that a run can be resumed from exactly.

A checkpoint is a folder `checkpoints/step-N/` holding the model and tokenizer as
`save_pretrained` writes them (safetensors) and `training_state.pt`: optimizer, scheduler, RNG
states, frozen groups, pinned rows and the micro-batch size. Data order is a function of the
step (see engine), so the step alone says where in the data to continue. Everything is loaded
with `weights_only=True`: no pickle from disk is ever executed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cockpit.contract.errors import CockpitError
from cockpit.rundir.layout import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    CHECKPOINTS,
    MODEL_CONFIG_NAME,
    STATE_FILE,
)


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, an unwritable run directory): the run must stop."""


@dataclass
class TrainingState:
    step: int
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng_cpu: torch.Tensor
    rng_cuda: list[torch.Tensor]
    frozen: list[str]
    pin_rows: list[int]
    micro_batch: int
    scaler: dict[str, Any] | None = None
    full: list[str] = field(default_factory=list)  # LoRA groups whose base weights train too (`full=`)
    # Set on loading (not saved): the lr the run had after `step` over its peak lr, i.e. where its
    # schedule stood, read before a --lr given with --resume replaces the peak in `scheduler`;
    # `Engine._restore` continues the schedule from it when the run's total changes.
    lr_factor: float | None = None


def save_checkpoint(run_dir: Path, save_model: Callable[[Path], None], state: TrainingState, keep: int) -> Path:
    """Write atomically (temp folder, then rename) and keep only the newest `keep` checkpoints.

    `save_model(folder)` writes the model and tokenizer files (save_pretrained; a LoRA run's adapter).

    A failed write (a full disk: torch says only "enforce fail at inline_container.cc") removes
    the partial folder and raises CheckpointWriteError naming the last good checkpoint.
    """
    root = run_dir / CHECKPOINTS
    final = root / f"step-{state.step}"
    temporary = root / f".step-{state.step}.partial"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temporary, ignore_errors=True)
        _write(temporary, save_model, state)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temporary, final)
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        last = latest_checkpoint(run_dir)
        reason = getattr(exc, "strerror", None) or _first_line(exc)
        raise CheckpointWriteError(
            f"could not write checkpoint step-{state.step} ({reason}); "
            + (f"last good checkpoint: {last}" if last else "no checkpoint was saved before")
        ) from None
    _rotate(run_dir, state.step, keep)
    return final


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "enforce fail" in text or "PytorchStreamWriter" in text:  # torch's word for a failed write
        return "writing the file failed: is the disk full?"
    return (text.splitlines() or [type(exc).__name__])[0][:160]


def _rotate(run_dir: Path, saved_step: int, keep: int) -> None:
    """Delete this run's checkpoints older than the newest `keep`: by step number, only steps before the one just saved.

    A later step's folder was not written by this run's past (a run directory belongs to one run,
    and a resume continues from the newest good checkpoint), so it is never deleted here.
    """
    older = [p for p in list_checkpoints(run_dir) if checkpoint_step(p) < saved_step]
    for old in older[: max(0, len(older) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-", 1)[1])


def _write(temporary: Path, save_model: Callable[[Path], None], state: TrainingState) -> None:
    temporary.mkdir(parents=True, exist_ok=True)
    save_model(temporary)
    torch.save(
        {
            "step": state.step,
            "optimizer": state.optimizer,
            "scheduler": state.scheduler,
            "rng_cpu": state.rng_cpu,
            "rng_cuda": state.rng_cuda,
            "frozen": state.frozen,
            "pin_rows": state.pin_rows,
            "micro_batch": state.micro_batch,
            "scaler": state.scaler,
            "full": state.full,
        },
        temporary / STATE_FILE,
    )


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [
        p for p in root.iterdir() if p.name.startswith("step-") and p.name[5:].isdigit() and (p / STATE_FILE).exists()
    ]
    return sorted(found, key=checkpoint_step)


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def load_training_state(checkpoint: Path) -> TrainingState:
    """The checkpoint's training state, or CockpitError saying why it is broken."""
    try:
        data = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign, or a pickle that weights_only refuses
        raise CockpitError(f"{STATE_FILE} cannot be loaded ({_first_line(exc)[:80]})") from None
    names = {f.name for f in dataclasses.fields(TrainingState)}
    if not isinstance(data, dict) or not {"step", "optimizer", "scheduler"} <= data.keys() or not data.keys() <= names:
        raise CockpitError(f"{STATE_FILE} is not a cockpit training state")
    state = TrainingState(**data)
    if state.step != checkpoint_step(checkpoint):
        raise CockpitError(f"{STATE_FILE} is for step {state.step}, not {checkpoint_step(checkpoint)}")
    state.lr_factor = _schedule_factor(state)
    return state


def _schedule_factor(state: TrainingState) -> float | None:
    """The optimizer's lr over the scheduler's peak lr, as saved (None for a state without them)."""
    try:
        return float(state.optimizer["param_groups"][0]["lr"]) / float(state.scheduler["base_lrs"][0])
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
        return None


def _check_model_files(checkpoint: Path) -> None:
    if (checkpoint / ADAPTER_CONFIG_NAME).is_file():  # a LoRA run's checkpoint: the adapter
        if not (checkpoint / ADAPTER_WEIGHTS_NAME).is_file():
            raise CockpitError(f"{ADAPTER_WEIGHTS_NAME} is missing")
        return
    if not (checkpoint / MODEL_CONFIG_NAME).is_file():
        raise CockpitError("config.json is missing")
    if not any(checkpoint.glob("*.safetensors")):
        raise CockpitError("model.safetensors is missing")


def resumable_checkpoint(run_dir: Path) -> tuple[Path, TrainingState, list[str]]:
    """The newest checkpoint that loads, and a notice for each newer one that does not.

    A checkpoint whose files were cut short (a crash, a full disk, a copy that stopped) or replaced
    is skipped for the previous good one; with none left, a CockpitError names the broken one.
    """
    checkpoints = list_checkpoints(run_dir)
    broken: list[str] = []
    for checkpoint in reversed(checkpoints):
        try:
            _check_model_files(checkpoint)
            state = load_training_state(checkpoint)
        except CockpitError as exc:
            broken.append(f"checkpoint {checkpoint} is broken ({exc})")
            continue
        notices = [f"{why}: resuming from {checkpoint.name} instead" for why in broken]
        return checkpoint, state, notices
    if broken:
        raise CockpitError(f"--resume {run_dir}: {broken[0]} and there is no earlier good checkpoint")
    raise CockpitError(f"--resume {run_dir}: no checkpoint in {run_dir / CHECKPOINTS}")
