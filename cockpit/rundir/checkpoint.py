"""Checkpoints that a run can be resumed from exactly.

A checkpoint is a folder `checkpoints/step-N/` holding the model and tokenizer as
`save_pretrained` writes them (safetensors) and `training_state.pt`: optimizer, scheduler, RNG
states, frozen groups, pinned rows and the micro-batch size. Data order is a function of the
step (see engine), so the step alone says where in the data to continue. Everything is loaded
with `weights_only=True`: no pickle from disk is ever executed.

torch is imported only where a checkpoint is written or loaded: a client that names the last
checkpoint of a dead trainer (`cockpit attach`, `cockpit runs`) lists folders, and must say so
within a second, not after torch's 2 s import.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.contract.errors import CockpitError
from cockpit.rundir.layout import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    CHECKPOINTS,
    MODEL_CONFIG_NAME,
    STATE_FILE,
)

if TYPE_CHECKING:
    import torch


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, an unwritable run directory): the run must stop.

    `disk_full`: for lack of space (ENOSPC, a quota, a file-size limit, or torch's writer failing,
    which says only "enforce fail"), as the run's end says ("stopped: disk full").
    """

    def __init__(self, message: str, disk_full: bool) -> None:
        super().__init__(message)
        self.disk_full = disk_full


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


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
    """Write a whole checkpoint in this thread: `write_checkpoint`, then `commit_checkpoint`."""
    return commit_checkpoint(run_dir, write_checkpoint(run_dir, save_model, state), state.step, keep)


def write_checkpoint(run_dir: Path, save_model: Callable[[Path], None], state: TrainingState) -> Path:
    """Serialize the run as it is now into the temporary folder `.step-N.partial/`; returns that folder.

    `save_model(folder)` writes the model and tokenizer files (save_pretrained; a LoRA run's adapter).
    Called between two optimizer steps, in the training thread: what it writes is the state of one
    step boundary (weights, optimizer, scheduler, RNG agree), and a fast tokenizer is not safe to use
    from two threads ("Already borrowed"). The files reach the page cache at memory speed; making
    them durable is `commit_checkpoint`'s part. A failed write (a full disk: torch says only
    "enforce fail at inline_container.cc") removes the partial folder and raises CheckpointWriteError.
    """
    import torch

    temporary = run_dir / CHECKPOINTS / f".step-{state.step}.partial"
    try:
        temporary.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temporary, ignore_errors=True)
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
    except (OSError, RuntimeError) as exc:
        raise _write_failed(run_dir, state.step, temporary, exc) from None
    return temporary


def commit_checkpoint(run_dir: Path, temporary: Path, step: int, keep: int) -> Path:
    """Make the written checkpoint durable, rename it to `step-N/`, and keep the newest `keep`.

    Any thread may call it (it touches files only), so the disk's latency need not stall training.
    Until the rename, `step-N/` does not exist: a crash, a kill or a power cut at any point leaves the
    previous checkpoint as the newest whole one (files and folder are fsynced before the rename, and
    the rename before older checkpoints are deleted). CheckpointWriteError if it fails.
    """
    final = run_dir / CHECKPOINTS / f"step-{step}"
    try:
        _fsync_folder(temporary, files=True)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temporary, final)
        _fsync_folder(final.parent)
    except OSError as exc:
        raise _write_failed(run_dir, step, temporary, exc) from None
    _rotate(run_dir, step, keep)
    return final


def remove_partial_checkpoints(run_dir: Path) -> None:
    """Remove what writes cut short left (a trainer killed mid-write): never a whole checkpoint."""
    for partial in (run_dir / CHECKPOINTS).glob(".step-*.partial"):
        shutil.rmtree(partial, ignore_errors=True)


def _write_failed(run_dir: Path, step: int, temporary: Path, exc: BaseException) -> CheckpointWriteError:
    shutil.rmtree(temporary, ignore_errors=True)
    reason = getattr(exc, "strerror", None) or _first_line(exc)
    full = getattr(exc, "errno", None) in DISK_FULL_ERRNOS or _torch_writer_failed(exc)
    return CheckpointWriteError(f"could not write checkpoint step-{step} ({reason})", disk_full=full)


def _fsync_folder(folder: Path, files: bool = False) -> None:
    """Make what was written into `folder` durable (its files too, if asked): a power cut after a
    rename must not leave a `step-N/` of empty files, with the older checkpoints already deleted."""
    for path in sorted(folder.iterdir()) if files else ():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _torch_writer_failed(exc: BaseException) -> bool:
    text = str(exc)
    return "enforce fail" in text or "PytorchStreamWriter" in text  # torch's word for a failed write


def _first_line(exc: BaseException) -> str:
    if _torch_writer_failed(exc):
        return "writing the file failed: is the disk full?"
    text = str(exc).strip()
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
    import torch

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
