"""Row thresholds, the eval split, and the rows a user can pin."""

from __future__ import annotations

import numpy as np

from cockpit.contract.errors import CockpitError
from cockpit.data.labeled import LabeledTexts
from cockpit.data.labels import LabelMatrix

MIN_ROWS = 8  # usable rows (text and label present) below which a run cannot mean anything


MIN_ROWS_PER_CLASS = 2  # single-label: one to train on and one for the stratified eval split


def check_enough_rows(data: LabeledTexts) -> None:
    """Refuse data too small to train and evaluate on, naming the threshold (README: Data in)."""
    problem = rows_below_thresholds(
        str(data.source), len(data), None if data.task == "multilabel" else data.label_counts
    )
    if problem:
        raise CockpitError(problem)


def rows_below_thresholds(source: str, rows: int, class_counts: dict[str, int] | None) -> str | None:
    """The first row threshold the data falls below, in words, or None (README: Data in).

    `cockpit train` refuses such data (`check_enough_rows`); a Trainer script is the user's own, so
    `CockpitCallback` says it in a notice. `class_counts`: rows per class, None for multilabel data.
    """
    if rows < MIN_ROWS:
        return (
            f"{source}: only {rows} usable row(s) (with a text and a label); "
            f"cockpit needs at least {MIN_ROWS}: add rows or check the text and label columns"
        )
    rare = {name: n for name, n in (class_counts or {}).items() if n < MIN_ROWS_PER_CLASS}
    if not rare:
        return None
    name, count = next(iter(rare.items()))
    more = f" (and {len(rare) - 1} more)" if len(rare) > 1 else ""
    return (
        f"{source}: class {name!r} has only {count} row{more}; every class needs at least "
        f"{MIN_ROWS_PER_CLASS} (one to learn from, one to evaluate): add rows or fix the label"
    )


EVAL_ROWS_CAP = 5000
"""Default most eval rows: accuracy within +-0.7 points (one standard error at worst) and every class of
a 100-class task ~50 rows, while an evaluation of MiniLM on 2 CPU cores stays well under a minute;
10% of 1M rows (100k rows) would take longer than the training most runs do between evaluations."""


def eval_row_count(rows: int, share: float, eval_rows: int | None) -> int:
    """How many rows the eval split takes: `eval_rows` if given, else `share` of the rows up to EVAL_ROWS_CAP."""
    if eval_rows is not None:
        return min(eval_rows, max(rows - 1, 0))
    return min(int(round(rows * share)), EVAL_ROWS_CAP)


def split_for_eval(
    data: LabeledTexts,
    share: float,
    seed: int,
    keep_in_train: frozenset[int] = frozenset(),
    eval_rows: int | None = None,
) -> tuple[LabeledTexts, LabeledTexts | None]:
    """A seeded eval split, stratified by class for single-label tasks so rare classes appear in both.

    Rows in `keep_in_train` (file row numbers the user pinned) always stay in training. The split
    holds `eval_row_count` rows; the work is a permutation per class, nothing per row in Python.
    """
    wanted = eval_row_count(len(data), share, eval_rows)
    if wanted <= 0 or len(data) == 0:
        return data, None
    if eval_rows is not None or wanted < int(round(len(data) * share)):
        share = wanted / len(data)  # a count, or the cap: spread over the classes in proportion
    rng = np.random.default_rng(seed)
    if data.task == "multilabel":
        strata = [np.arange(len(data))]
    else:
        classes = data.targets.classes()
        order = np.argsort(classes, kind="stable")
        strata = np.split(order, np.cumsum(np.bincount(classes, minlength=len(data.label_names)))[:-1])
    chosen: list[np.ndarray] = []
    for stratum in strata:
        shuffled = rng.permutation(stratum)
        take = int(round(len(shuffled) * share))
        if len(shuffled) >= 2:
            take = min(max(take, 1), len(shuffled) - 1)
        else:
            take = 0
        chosen.append(shuffled[:take])
    eval_positions = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    if keep_in_train:
        pinned = np.isin(data.row_ids.array[eval_positions], np.fromiter(keep_in_train, dtype=np.int64))
        eval_positions = eval_positions[~pinned]
    if not len(eval_positions):
        return data, None
    in_eval = np.zeros(len(data), dtype=bool)
    in_eval[eval_positions] = True
    return data.subset(np.flatnonzero(~in_eval)), data.subset(eval_positions)


def sample_eval(evaluation: LabeledTexts, eval_rows: int | None, seed: int) -> LabeledTexts:
    """A separate --eval file cut to --eval-rows (seeded, in file order); all of it without the flag."""
    if eval_rows is None or eval_rows >= len(evaluation):
        return evaluation
    rng = np.random.default_rng(seed)
    return evaluation.subset(np.sort(rng.choice(len(evaluation), size=max(eval_rows, 1), replace=False)))


def align_eval(train: LabeledTexts, evaluation: LabeledTexts) -> LabeledTexts:
    """Express a separately loaded eval file in the training file's label order."""
    if evaluation.label_names == train.label_names:
        return evaluation
    unknown = [n for n in evaluation.label_names if n not in train.label_names]
    if unknown:
        raise CockpitError(
            f"{evaluation.source}: eval label {unknown[0]!r} does not occur in the training data {train.source}; "
            "--eval must use the training labels"
        )
    remap = np.array([train.label_names.index(n) for n in evaluation.label_names], dtype=np.int32)
    old = evaluation.targets
    targets = LabelMatrix(remap[old.indices], len(train.label_names), old.offsets)
    return LabeledTexts(
        evaluation.texts,
        targets,
        train.label_names,
        train.task,
        evaluation.source,
        evaluation.row_ids,
        file_rows=evaluation.file_rows,
    )


def default_pins(data: LabeledTexts, count: int = 4) -> list[int]:
    """A few training rows that together cover as many labels as possible (greedy set cover).

    Vectorised over the label indices: the same rows as a scan row by row (first row of the
    largest gain), in milliseconds at a million rows.
    """
    labels = data.targets
    row_of = np.repeat(np.arange(len(data)), labels.per_row())
    uncovered = np.ones(len(data.label_names), dtype=bool)
    chosen: list[int] = []
    while len(chosen) < min(count, len(data)):
        gains = np.bincount(row_of, weights=uncovered[labels.indices], minlength=len(data))
        gains[chosen] = -1
        best = int(gains.argmax())
        chosen.append(best)
        best_labels = labels.indices[row_of == best] if labels.offsets is not None else labels.indices[[best]]
        uncovered[best_labels] = False
        if gains[best] == 0 and not uncovered.any():
            uncovered[:] = True
    return [data.row_ids[i] for i in chosen]


def positions_of_rows(data: LabeledTexts, rows: list[int]) -> list[int]:
    """Map file row numbers (what users pin) to positions in the training split."""
    positions = []
    for row, position in zip(rows, data.row_ids.positions(rows)):
        if position is None:
            raise CockpitError(
                f"--pin {row}: not a training row (rows 0..{int(data.row_ids.array.max())}; "
                "eval-split and dropped rows cannot be pinned)"
            )
        positions.append(position)
    return positions
