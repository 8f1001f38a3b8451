"""Turn a RunConfig into everything the engine needs: data, model, device, run directory.

All bad input surfaces here, before any training, as a CockpitError with one clear line.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.checkpoint import TrainingState, latest_checkpoint, load_training_state
from cockpit.config import RunConfig
from cockpit.data import (
    LabeledTexts,
    align_eval,
    default_pins,
    load_labeled_texts,
    positions_of_rows,
    split_for_eval,
    summary_lines,
)
from cockpit.errors import CockpitError
from cockpit.events import parse_scheduled
from cockpit.model import LoadedModel, expand_groups, load_model, pick_device


@dataclass
class PreparedRun:
    """The inputs of one Engine: built once, read-only during training."""

    config: RunConfig
    train: LabeledTexts
    evaluation: LabeledTexts | None
    loaded: LoadedModel
    device: Any  # torch.device
    run_dir: Path
    token_ids: list[list[int]]
    pin_positions: list[int]
    initial_frozen: list[str]
    summary: list[str]
    resume: TrainingState | None = None
    notices: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def run_dir_for(config: RunConfig) -> Path:
    if config.out:
        return Path(config.out)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(config.data).stem) or "data"
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}"


def prepare(config: RunConfig, resume_dir: Path | None = None) -> PreparedRun:
    """Load and check everything; nothing is trained or written except the run directory."""
    config.validate()
    data_path = Path(config.data)
    full = load_labeled_texts(data_path, config.text_column, config.label_columns, config.label_names)
    notices = list(full.notices)
    if config.eval_path:
        train = full
        evaluation = load_labeled_texts(
            Path(config.eval_path), config.text_column, config.label_columns, config.label_names
        )
        evaluation = align_eval(train, evaluation)
    else:
        pinned = frozenset(config.pins or ())
        train, evaluation = split_for_eval(full, config.eval_split, config.seed, keep_in_train=pinned)
    if len(train) < 2:
        raise CockpitError(f"{data_path}: only {len(train)} training row(s) after the eval split; add data")

    resume = None
    model_source = config.model
    if resume_dir is not None:
        checkpoint = latest_checkpoint(resume_dir)
        if checkpoint is None:
            raise CockpitError(f"--resume {resume_dir}: no checkpoint in {resume_dir / 'checkpoints'}")
        resume = load_training_state(checkpoint)
        model_source = str(checkpoint)
    if resume is not None:
        pin_rows = resume.pin_rows
    elif config.pins:
        pin_rows = config.pins
    else:
        pin_rows = default_pins(train)
    pin_positions = positions_of_rows(train, pin_rows)  # before the slow model load: fail fast
    if config.trust_remote_code:
        notices.append(("trust_remote_code", "--trust-remote-code is ON: code from the model folder will run", {}))
    from transformers import set_seed

    set_seed(config.seed)  # the new head's initial weights and dropout follow --seed
    loaded = load_model(model_source, train.task, train.label_names, config.trust_remote_code)
    if resume is not None:
        loaded.source = config.model
    names = [g.name for g in loaded.groups]
    frozen = resume.frozen if resume else expand_groups(config.freeze, names)
    for entry in config.schedule:
        _, command = parse_scheduled(entry)
        for group in getattr(command, "groups", ()):
            expand_groups(group, names, flag=f"--at {entry}")

    tokenizer = loaded.tokenizer
    limit = min(config.max_length, getattr(tokenizer, "model_max_length", config.max_length) or config.max_length)
    # Two passes: untruncated lengths for the summary, then exactly what inference will feed.
    lengths = [len(ids) for ids in tokenizer(train.texts, truncation=False, verbose=False)["input_ids"]]
    token_ids = tokenizer(train.texts, truncation=True, max_length=limit)["input_ids"]

    summary = summary_lines(train, evaluation, lengths, limit)
    notices = [("data_summary", line, {}) for line in summary] + notices
    return PreparedRun(
        config=config,
        train=train,
        evaluation=evaluation,
        loaded=loaded,
        device=pick_device(config.device),
        run_dir=resume_dir if resume_dir is not None else run_dir_for(config),
        token_ids=token_ids,
        pin_positions=pin_positions,
        initial_frozen=frozen,
        summary=summary,
        resume=resume,
        notices=notices,
    )
