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
from cockpit.data.columns import TextChoice
from cockpit.data.labels import LabelMatrix, Scores
from cockpit.data.texts import RowNumbers, TextColumn


@dataclass
class LabeledTexts:
    """Rows ready for training; `row_ids` are the rows' numbers in the file (what --pin takes).

    Built from lists and a dense matrix too (small files, tests): `__post_init__` stores them compactly.
    """

    texts: TextColumn  # the text, or a pair's first segment
    targets: LabelMatrix | Scores  # reads as float32 [rows, labels] ([rows, 1] scores for regression)
    label_names: list[str]  # regression: the one target's name
    task: str
    source: str
    row_ids: RowNumbers
    notices: list[Notice] = field(default_factory=list)  # stamped with a step when emitted
    file_rows: int | None = None  # data rows in the file, dropped ones included (None: not from a file)
    second_texts: TextColumn | None = None  # a sentence pair's second segment (None: one text per row)
    text: TextChoice = field(default_factory=lambda: TextChoice(("text",)))  # where the texts came from

    def __post_init__(self) -> None:
        if not isinstance(self.texts, TextColumn):
            self.texts = TextColumn(self.texts)
        if self.second_texts is not None and not isinstance(self.second_texts, TextColumn):
            self.second_texts = TextColumn(self.second_texts)
        if self.task == "regression" and not isinstance(self.targets, Scores):
            self.targets = Scores(np.asarray(self.targets, dtype=np.float32).reshape(-1))
        elif self.task != "regression" and not isinstance(self.targets, LabelMatrix):
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
            second_texts=self.second_texts.take(positions) if self.second_texts is not None else None,
            text=self.text,
        )

    def batch_texts(self, positions: Sequence[int] | np.ndarray) -> tuple[list[str], list[str] | None]:
        """The texts at `positions` as a tokenizer takes them: (texts, their pairs' second segments or None)."""
        pairs = self.second_texts.batch(positions) if self.second_texts is not None else None
        return self.texts.batch(positions), pairs

    def text_at(self, position: int) -> tuple[str, str | None]:
        """One row's text and, for a pair, its second segment."""
        return self.texts[position], self.second_texts[position] if self.second_texts is not None else None

    @property
    def label_counts(self) -> dict[str, int]:
        """Rows per label (none for regression: a score has no classes to count)."""
        if isinstance(self.targets, Scores):
            return {}
        return {name: int(c) for name, c in zip(self.label_names, self.targets.counts())}
