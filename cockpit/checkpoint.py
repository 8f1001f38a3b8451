"""Checkpoints that a run can be resumed from exactly.

A checkpoint is a folder `checkpoints/step-N/` holding the model and tokenizer as
`save_pretrained` writes them (safetensors) and `training_state.pt`: optimizer, scheduler, RNG
states, frozen groups, pinned rows and the micro-batch size. Data order is a function of the
step (see engine), so the step alone says where in the data to continue. Everything is loaded
with `weights_only=True`: no pickle from disk is ever executed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CHECKPOINTS = "checkpoints"
STATE_FILE = "training_state.pt"


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


def save_checkpoint(run_dir: Path, model: Any, tokenizer: Any, state: TrainingState, keep: int) -> Path:
    """Write atomically (temp folder, then rename) and keep only the newest `keep` checkpoints."""
    root = run_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{state.step}"
    temporary = root / f".step-{state.step}.partial"
    shutil.rmtree(temporary, ignore_errors=True)
    model.save_pretrained(temporary, safe_serialization=True)
    tokenizer.save_pretrained(temporary)
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
        },
        temporary / STATE_FILE,
    )
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith("step-") and (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def load_training_state(checkpoint: Path) -> TrainingState:
    data = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
    return TrainingState(**data)
