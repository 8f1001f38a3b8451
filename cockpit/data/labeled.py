"""`LabeledTexts`: the rows a run trains or evaluates on (texts, targets, label names, task, row numbers).

Every task is held the same way: a `LabelMatrix` that reads as a float32 `targets[row, label]`
(one-hot for binary and multiclass, multi-hot for multilabel), so metrics, pins and the loss code
never branch on how the labels were written in the file. It is stored compactly (a class index
per row, or each row's label indices) and densified per batch; texts stay in one Arrow string
array, so a million-row file costs its text bytes, not a Python object per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cockpit.contract.events import Notice
from cockpit.data.labels import LabelMatrix
from cockpit.data.texts import RowNumbers, TextColumn


@dataclass
class LabeledTexts:
    """Rows ready for training; `row_ids` are the rows' numbers in the file (what --pin takes).

    Built from lists and a dense matrix too (small files, tests): `__post_init__` stores them compactly.
    """

    texts: TextColumn
    targets: LabelMatrix  # reads as float32 [rows, labels]
    label_names: list[str]
    task: str
    source: str
    row_ids: RowNumbers
    notices: list[Notice] = field(default_factory=list)  # stamped with a step when emitted
    file_rows: int | None = None  # data rows in the file, dropped ones included (None: not from a file)

    def __post_init__(self) -> None:
        if not isinstance(self.texts, TextColumn):
            self.texts = TextColumn(self.texts)
        if not isinstance(self.targets, LabelMatrix):
            self.targets = LabelMatrix.from_dense(self.targets, single=self.task != "multilabel")
        if not isinstance(self.row_ids, RowNumbers):
            self.row_ids = RowNumbers(self.row_ids)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, positions: Sequence[int] | np.ndarray) -> LabeledTexts:
        return LabeledTexts(
            texts=self.texts.take(positions),
            targets=self.targets.take(positions),
            label_names=self.label_names,
            task=self.task,
            source=self.source,
            row_ids=self.row_ids.take(positions),
            file_rows=self.file_rows,
        )

    @property
    def label_counts(self) -> dict[str, int]:
        return {name: int(c) for name, c in zip(self.label_names, self.targets.counts())}
