"""The examples browser's rows over a run's data: made when read, searched in Arrow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from cockpit.contract.control import ExampleRow
from cockpit.contract.events import PAIR_MARK
from cockpit.data.labeled import LabeledTexts


class TrainingExamples(Sequence):
    """The examples browser's rows, made when read: no Python object per row held (#14).

    `eval_rows`: file row numbers in the run's eval split, when `data` is the whole file (an attached
    cockpit reads the file, not the run's split); those rows are listed as `eval`, the rest as `train`.
    """

    def __init__(self, data: LabeledTexts, eval_rows: Sequence[int] = ()) -> None:
        self.data = data
        self._in_eval = np.isin(data.row_ids.array, np.asarray(eval_rows, dtype=np.int64)) if len(eval_rows) else None

    def __len__(self) -> int:
        return len(self.data)

    def _row(self, position: int, targets: Any) -> Any:
        text, pair = self.data.text_at(position)
        if self.data.task == "regression":
            labels = [f"{float(targets[0]):g}"]  # the score itself
        else:
            labels = [n for n, t in zip(self.data.label_names, targets) if t > 0.5]
        shown = text if pair is None else f"{text}{PAIR_MARK}{pair}"
        split = "eval" if self._in_eval is not None and self._in_eval[position] else "train"
        return ExampleRow(index=self.data.row_ids[position], text=shown, labels=labels, split=split)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = int(index) + (len(self) if int(index) < 0 else 0)
        return self._row(position, self.data.targets[position])

    def __iter__(self) -> Iterator[Any]:
        for position, targets in enumerate(self.data.targets):
            yield self._row(position, targets)

    def search(self, query: str, limit: int) -> tuple[int, list[Any]]:
        """(how many rows hold every word of `query`, ignoring case; the first `limit` of them), vectorised
        over the Arrow texts: ~0.1 s a word at a million short rows, with no Python object per row."""
        words = query.lower().split()
        if not words:
            return len(self), self[:limit]
        second = self.data.second_texts
        if second is None:
            positions = self.data.texts.matching(words)
        else:  # a pair matches when each word is in either of its texts
            positions = None
            for word in words:
                hit = np.union1d(self.data.texts.matching([word]), second.matching([word]))
                positions = hit if positions is None else np.intersect1d(positions, hit)
        return len(positions), [self[int(p)] for p in positions[:limit]]
