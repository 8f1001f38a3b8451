"""Turn a RunConfig into everything the engine needs: data, model, device, run directory.

All bad input surfaces here, before any training, as a CockpitError with one clear line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cockpit.contract.commands import Scheduled, parse_schedule
from cockpit.contract.config import RunConfig
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.data.labeled import LabeledTexts
from cockpit.data.loading import load_labeled_texts, summary_lines
from cockpit.data.splits import (
    align_eval,
    check_enough_rows,
    default_pins,
    eval_row_count,
    positions_of_rows,
    sample_eval,
    split_for_eval,
)
from cockpit.rundir.checkpoint import TrainingState, resumable_checkpoint
from cockpit.rundir.layout import CONFIG_NAME, EVAL_ROWS_NAME, FINGERPRINT_NAME
from cockpit.rundir.lock import check_new_run_dir, run_dir_for
from cockpit.training.batches import RowTokens, sample_token_lengths, token_limit
from cockpit.training.model import LoadedModel, expand_groups, load_model, pick_device


@dataclass
class PreparedRun:
    """The inputs of one Engine: built once, read-only during training."""

    config: RunConfig
    train: LabeledTexts
    evaluation: LabeledTexts | None
    loaded: LoadedModel
    device: Any  # torch.device
    run_dir: Path
    token_ids: RowTokens  # by row, tokenized when asked; the engine tokenizes whole batches (cockpit.batches)
    pin_positions: list[int]
    initial_frozen: list[str]
    summary: list[str]
    schedule: list[Scheduled] = field(default_factory=list)  # the --at commands, parsed once
    resume: TrainingState | None = None
    notices: list[Notice] = field(default_factory=list)  # stamped with the step when the run announces them
    fingerprint: dict[str, Any] = field(default_factory=dict)  # of the whole data file, before the split


def prepare(
    config: RunConfig, resume_dir: Path | None = None, on_stage: Callable[[str, str], None] | None = None
) -> PreparedRun:
    """Load and check everything; nothing is trained or written except the run directory.

    `on_stage(stage, detail)` hears what is being done, for the cockpit's loading screen.
    """
    stage = on_stage or (lambda _stage, _detail: None)
    config.validate()
    schedule = parse_schedule(config.schedule)
    run_dir = resume_dir if resume_dir is not None else run_dir_for(config)
    if resume_dir is None:
        check_new_run_dir(run_dir)
    data_path = Path(config.data)
    stage("reading data", str(data_path))
    full = load_labeled_texts(data_path, config.text_column, config.label_columns, config.label_names)
    notices = list(full.notices)
    check_enough_rows(full)
    eval_file = None  # a separate --eval file as read, before it is cut to --eval-rows (fingerprinted)
    if config.eval_path:
        train = full
        eval_file = load_labeled_texts(
            Path(config.eval_path), config.text_column, config.label_columns, config.label_names
        )
        evaluation = sample_eval(align_eval(train, eval_file), config.eval_rows, config.seed)
    else:
        pinned = frozenset(config.pins or ())
        train, evaluation = split_for_eval(
            full, config.eval_split, config.seed, keep_in_train=pinned, eval_rows=config.eval_rows
        )
    if len(train) < 2:
        raise CockpitError(f"{data_path}: only {len(train)} training row(s) after the eval split; add data")
    if evaluation is None:
        message = no_eval_rows_message(config, len(full))
        notices.append(Notice(step=0, kind="no_eval_rows", message=message, evidence={"rows": len(full)}))

    resume = None
    model_source = config.model
    recorded: dict[str, Any] = {}
    if resume_dir is not None:
        recorded = verify_resume_data(resume_dir, full, config, eval_file)
        checkpoint, resume, broken = resumable_checkpoint(resume_dir)
        notices += [Notice(step=0, kind="resume_checkpoint", message=message) for message in broken]
        schedule, said = skip_consumed_stops(schedule, resume.step)
        notices += said
        config.schedule = [scheduled.text for scheduled in schedule]
        model_source = str(checkpoint)
    if resume is not None:
        pin_rows = resume.pin_rows
    elif config.pins:
        pin_rows = config.pins
    else:
        pin_rows = default_pins(train)
    pin_positions = positions_of_rows(train, pin_rows)  # before the slow model load: fail fast
    check_writable(run_dir)
    if config.trust_remote_code:
        said = "--trust-remote-code is ON: code from the model folder will run"
        notices.append(Notice(step=0, kind="trust_remote_code", message=said))
    from transformers import set_seed

    set_seed(config.seed)  # the new head's initial weights and dropout follow --seed
    stage("loading model", f"{model_source} for {len(train)} training rows, {len(train.label_names)} labels")
    if resume is None:
        loaded = load_model(model_source, train.task, train.label_names, config.trust_remote_code)
    else:
        loaded = load_checkpoint_model(Path(model_source), train, config)
        loaded.source = config.model
        verify_resume_model(resume_dir, recorded, loaded)
    names = [g.name for g in loaded.groups]
    frozen = resume.frozen if resume else expand_groups(config.freeze, names)
    for scheduled in schedule:
        for group in getattr(scheduled.command, "groups", ()):
            expand_groups(group, names, flag=f"--at {scheduled.text}")

    tokenizer = loaded.tokenizer
    stage("tokenizing", f"{len(train)} rows")
    limit = token_limit(tokenizer, config.max_length)
    lengths, sampled = _summary_token_lengths(train, tokenizer, config.seed)
    summary = summary_lines(train, evaluation, lengths, limit, sampled=sampled)
    notices = [Notice(step=0, kind="data_summary", message=line) for line in summary] + notices
    return PreparedRun(
        config=config,
        train=train,
        evaluation=evaluation,
        loaded=loaded,
        device=pick_device(config.device),
        run_dir=run_dir,
        token_ids=RowTokens(train, tokenizer, config.max_length),
        pin_positions=pin_positions,
        initial_frozen=frozen,
        summary=summary,
        schedule=schedule,
        resume=resume,
        notices=notices,
        fingerprint=data_fingerprints(full, eval_file) if resume is None else {},
    )


def no_eval_rows_message(config: RunConfig, rows: int) -> str:
    """Why a run has no eval rows, and what gives it some: never trained without a word."""
    if config.eval_rows == 0 or (config.eval_rows is None and config.eval_split == 0):
        why = "--eval-rows 0" if config.eval_rows == 0 else "--eval-split 0"
    elif eval_row_count(rows, config.eval_split, config.eval_rows) == 0:
        why = f"--eval-split {config.eval_split:g} of {rows} rows is 0 rows"
    else:
        why = "every row the eval split took is pinned, and pinned rows stay in training"
    return (
        f"no eval rows ({why}): no eval loss or metrics, and no alarm that needs them; "
        "--eval-rows N or --eval FILE gives the run some"
    )


# ---------------------------------------------------------------------------------------------
# A run directory belongs to one run; a resume continues that run or says what changed
# ---------------------------------------------------------------------------------------------

# Notices the engine repeats when a run is resumed (the data summary and the head were said at its start).
SAID_ON_RESUME = frozenset({"resume", "resume_checkpoint", "trust_remote_code"})


def check_writable(run_dir: Path) -> None:
    """Create the run directory and prove it takes a file, before the model loads."""
    probe = run_dir / f".cockpit-write-test-{os.getpid()}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        flag = "--out" if not (run_dir / CONFIG_NAME).exists() else "--resume"
        raise CockpitError(
            f"{flag} {run_dir}: cannot write there ({exc.strerror or exc}); give a writable directory"
        ) from None


def data_fingerprint(data: LabeledTexts) -> dict[str, Any]:
    """Rows and a hash of the texts, labels and row numbers: equal only for the same usable data."""
    digest = hashlib.sha256()
    for start in range(0, len(data), 4096):  # a batch of texts at a time: ~1 s per million short rows
        batch = data.texts.batch(np.arange(start, min(start + 4096, len(data))))
        digest.update("\0".join(batch).encode("utf-8", "surrogatepass") + b"\0")
    labels = data.targets  # compact (#14): class indices, or label indices and offsets, never dense
    digest.update(labels.indices.tobytes() + (labels.offsets.tobytes() if labels.offsets is not None else b""))
    digest.update(data.row_ids.array.tobytes())
    digest.update(json.dumps([list(data.label_names), labels.width]).encode())
    return {"rows": len(data), "sha256": digest.hexdigest()}


def data_fingerprints(full: LabeledTexts, eval_file: LabeledTexts | None) -> dict[str, Any]:
    """The training file's fingerprint, with a separate --eval file's under "eval"."""
    found = data_fingerprint(full)
    return {**found, "eval": data_fingerprint(eval_file)} if eval_file is not None else found


def tokenizer_fingerprint(tokenizer: Any) -> str:
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps([vocab, type(tokenizer).__name__]).encode()).hexdigest()


def model_fingerprint(model: Any) -> dict[str, Any]:
    config = model.config
    keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size", "num_labels")
    return {k: getattr(config, k, None) for k in keys}


def record_run(prepared: PreparedRun) -> None:
    """What a resume verifies against, and the eval split as file row numbers (for other tools)."""
    if prepared.resume is not None:
        return
    run_dir, config = prepared.run_dir, prepared.config
    fingerprint = {
        "data": config.data,
        "data_fingerprint": prepared.fingerprint,
        "eval_path": config.eval_path,
        "labels": list(prepared.train.label_names),
        "task": prepared.train.task,
        "model": config.model,
        "model_config": model_fingerprint(prepared.loaded.model),
        "tokenizer": tokenizer_fingerprint(prepared.loaded.tokenizer),
    }
    try:
        (run_dir / FINGERPRINT_NAME).write_text(json.dumps(fingerprint, indent=1) + "\n", encoding="utf-8")
        (run_dir / EVAL_ROWS_NAME).write_text(json.dumps(split_record(prepared)) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CockpitError(
            f"--out {run_dir}: cannot write there ({exc.strerror or exc}); give a writable directory"
        ) from None


def split_record(prepared: PreparedRun) -> dict[str, Any]:
    """The split as file row numbers, readable without cockpit's code: the eval rows and the dropped rows
    as lists, the training rows as the rule that gives them (every other row) with their count and hash.

    Listing every training row cost ~7 MB at 1M rows; the eval list is capped by the eval split (5,000
    rows unless --eval-rows says more), and the dropped rows are the file's rows without a text or label.
    """
    config, train, evaluation = prepared.config, prepared.train, prepared.evaluation
    train_ids = train.row_ids.array
    eval_ids = evaluation.row_ids.array if evaluation is not None and not config.eval_path else np.zeros(0, np.int64)
    file_rows = train.file_rows
    if file_rows is None:  # data not read from a file (tests): the rows it has are all there is
        file_rows = int(max(train_ids.max(initial=-1), eval_ids.max(initial=-1))) + 1
    dropped = np.setdiff1d(np.arange(file_rows, dtype=np.int64), np.concatenate([train_ids, eval_ids]))
    return {
        "data": config.data,
        "eval_path": config.eval_path,
        "eval_split": config.eval_split,
        "eval_rows_option": config.eval_rows,
        "seed": config.seed,
        "note": "row numbers count the data rows of the file from 0 (header excluded); the training rows are "
        "every row 0..file_rows-1 that is in neither eval_rows nor dropped_rows (rows without a text or label); "
        "train_rows_sha256 is the sha256 of those row numbers, ascending, as little-endian int64",
        "file_rows": int(file_rows),
        "eval_rows": [int(r) for r in eval_ids],
        "dropped_rows": [int(r) for r in dropped],
        "train_row_count": len(train_ids),
        "train_rows_sha256": hashlib.sha256(np.sort(train_ids).astype("<i8").tobytes()).hexdigest(),
    }


def split_train_rows(split: dict[str, Any]) -> np.ndarray:
    """The training rows an `eval_rows.json` record stands for (the rule in its note), checked by its hash."""
    rows = np.setdiff1d(
        np.arange(split["file_rows"], dtype=np.int64), np.asarray(split["eval_rows"] + split["dropped_rows"], np.int64)
    )
    if len(rows) != split["train_row_count"] or (
        hashlib.sha256(rows.astype("<i8").tobytes()).hexdigest() != split["train_rows_sha256"]
    ):
        raise CockpitError("eval_rows.json: the training rows do not match their count and hash")
    return rows


def verify_resume_data(
    run_dir: Path, full: LabeledTexts, config: RunConfig, eval_file: LabeledTexts | None = None
) -> dict[str, Any]:
    """Refuse to resume on other data than the run's: rows, texts, labels, and a separate --eval
    file's (before the model loads)."""
    path = run_dir / FINGERPRINT_NAME
    if not path.exists():
        return {}  # a run written before fingerprints: nothing to compare against
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        expected = recorded["data_fingerprint"]
        labels = recorded["labels"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CockpitError(f"--resume {run_dir}: {FINGERPRINT_NAME} is damaged; cannot check the data") from None
    if list(full.label_names) != list(labels):
        added = [n for n in full.label_names if n not in labels]
        gone = [n for n in labels if n not in full.label_names]
        change = (
            (f"label(s) added: {', '.join(map(repr, added[:3]))}" if added else "")
            + ("; " if added and gone else "")
            + (f"label(s) gone: {', '.join(map(repr, gone[:3]))}" if gone else "")
        ) or "the labels are in another order"
        raise CockpitError(
            f"--resume {run_dir}: the labels of {config.data} changed since the run started ({change}); "
            "start a new run for new labels"
        )
    found = data_fingerprint(full)
    if found["rows"] != expected.get("rows"):
        raise CockpitError(
            f"--resume {run_dir}: {config.data} has {found['rows']} usable rows, the run started with "
            f"{expected.get('rows')}; resume on the same data or start a new run"
        )
    if found["sha256"] != expected.get("sha256"):
        raise CockpitError(
            f"--resume {run_dir}: the texts or labels of {config.data} changed since the run started "
            "(same row count, different content); resume on the same data or start a new run"
        )
    evaluated = expected.get("eval")  # recorded since the eval file is fingerprinted too
    if eval_file is not None and isinstance(evaluated, dict):
        found = data_fingerprint(eval_file)
        if found != {"rows": evaluated.get("rows"), "sha256": evaluated.get("sha256")}:
            change = (
                f"{found['rows']} usable rows, the run started with {evaluated.get('rows')}"
                if found["rows"] != evaluated.get("rows")
                else "same row count, different texts or labels"
            )
            raise CockpitError(
                f"--resume {run_dir}: the eval file {config.eval_path} changed since the run started ({change}); "
                "its metrics would not compare with the run's earlier ones: resume with the same eval file "
                "or start a new run"
            )
    return recorded


def load_checkpoint_model(checkpoint: Path, train: LabeledTexts, config: RunConfig) -> LoadedModel:
    """The checkpoint's model; its errors name the checkpoint, not a --model the user never gave."""
    try:
        return load_model(str(checkpoint), train.task, train.label_names, config.trust_remote_code)
    except CockpitError as exc:
        reason = str(exc).removeprefix(f"--model {checkpoint}: ")
        raise CockpitError(f"--resume: checkpoint {checkpoint} is broken: {reason}") from None


def verify_resume_model(run_dir: Path, recorded: dict[str, Any], loaded: LoadedModel) -> None:
    """The checkpoint holds the run's model and tokenizer, not files copied in from another one."""
    if not recorded:
        return
    found = model_fingerprint(loaded.model)
    expected = recorded.get("model_config", {})
    changed = [k for k in found if k in expected and expected[k] != found[k]]
    if changed:
        key = changed[0]
        raise CockpitError(
            f"--resume {run_dir}: the checkpoint's model is not the run's ({key} {found[key]}, "
            f"the run started with {expected[key]}); restore the run's checkpoint or start a new run"
        )
    if recorded.get("tokenizer") not in (None, tokenizer_fingerprint(loaded.tokenizer)):
        raise CockpitError(
            f"--resume {run_dir}: the checkpoint's tokenizer is not the one the run started with; "
            "restore the run's checkpoint or start a new run"
        )


def skip_consumed_stops(schedule: list[Scheduled], step: int) -> tuple[list[Scheduled], list[Notice]]:
    """A scheduled stop that ended the run is done: resuming must train past it, not stop again."""
    kept, notices = [], []
    for scheduled in schedule:
        if scheduled.step <= step + 1 and scheduled.command.text == "stop":
            said = f"--at {scheduled.text}: already applied before step {step}; training on"
            notices.append(Notice(step=0, kind="resume", message=said))
            continue
        kept.append(scheduled)
    return kept, notices


SUMMARY_SAMPLE_ROWS = 2000
"""Rows tokenized for the summary's token lengths: the truncated share within +-1.1 points (one
standard error at worst), the median and p95 within a token or two for short texts; ~0.1 s of a fast
tokenizer whatever the file's size (tokenizing 200k rows twice took 12 s before the first step)."""


def _summary_token_lengths(train: LabeledTexts, tokenizer: Any, seed: int) -> tuple[Any, bool]:
    """Untruncated token lengths of a seeded sample of the training rows (all of them when fewer)."""
    return sample_token_lengths(train.texts, tokenizer, SUMMARY_SAMPLE_ROWS, seed)
