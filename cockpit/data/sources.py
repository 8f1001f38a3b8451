"""What `cockpit train DATA` reads: a data file, or a `datasets` input (a save_to_disk folder, a Hub-layout
folder, a Hub name), as training rows and, where the data brings one, an eval split.

The one entry point for the data a run trains on, so that `prepare`, `--dry-run` and an attached
cockpit's examples browser read it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.data.hub import choose_splits, is_dataset_input, labeled_split, open_dataset
from cockpit.data.labeled import LabeledTexts
from cockpit.data.loading import DataSpec, load_file


@dataclass
class DataRead:
    """The training rows as read (before any eval split is cut from them), and the data's own eval split."""

    train: LabeledTexts
    evaluation: LabeledTexts | None = None  # a DatasetDict's validation (or chosen) split, as read
    notices: list[Notice] = field(default_factory=list)


def read_data(given: str, spec: DataSpec, train_split: str | None = None, eval_split: str | None = None) -> DataRead:
    """Read `given` (a file, a folder or a Hub name) with the user's column and task choices.

    `eval_split`: a split's name (a DatasetDict's); None lets the data choose (validation, else test,
    else none: the caller cuts a share of the training rows).
    """
    if not is_dataset_input(given):
        if train_split is not None or eval_split is not None:
            which = f"--train-split {train_split}" if train_split is not None else f"--eval-split {eval_split}"
            raise CockpitError(
                f"{which}: split names are for a datasets folder or a Hub name; {given} is a file "
                "(give --eval-split a share such as 0.1, or --eval FILE)"
            )
        return DataRead(load_file(Path(given), spec))
    found = open_dataset(given)
    train_table, eval_table, notices = choose_splits(found, train_split, eval_split)
    train = labeled_split(train_table, _named(given, train_table.name, found.single), spec)
    evaluation = None
    if eval_table is not None:
        source = _named(given, eval_table.name, False)
        missing = [c for c in train.text.columns if c not in eval_table.table.column_names]
        if missing:
            raise CockpitError(
                f"{source}: has no column {missing[0]!r}, which the training split reads as {train.text.described}; "
                "choose another eval split with --eval-split, or other text columns with --text-column"
            )
        try:
            evaluation = labeled_split(eval_table, source, spec.same_columns_as(train))
        except CockpitError as exc:  # a test split without gold labels (GLUE's are all -1)
            if eval_split is not None:
                raise
            said = f"split {eval_table.name!r} cannot be evaluated on ({exc}); evaluating on a share of the train rows"
            notices.append(Notice(step=0, kind="data_splits", message=said, evidence={"eval": None}))
    return DataRead(train, evaluation, notices)


def _named(given: str, split: str, single: bool) -> str:
    """How messages and the summary name a split: `glue/mrpc[validation]` (a plain Dataset: its folder)."""
    return given if single else f"{given}[{split}]"
