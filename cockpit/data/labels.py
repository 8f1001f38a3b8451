"""Label values -> a target matrix and label names, and the checks that refuse a broken label column."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice

TASKS = ("binary", "multiclass", "multilabel", "regression")


class DenseView:
    """What reads targets as the float32 matrix `targets[row, label]` without holding it: a subclass
    stores its rows compactly and densifies what is asked for (`dense(positions)`)."""

    dtype = np.dtype(np.float32)
    ndim = 2
    rows: int
    width: int

    def dense(self, positions: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.width)

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, index):
        """int -> one dense row; positions or a slice -> dense rows; anything else as numpy would."""
        if isinstance(index, (int, np.integer)):
            return self.dense([int(index)])[0]
        if isinstance(index, slice):
            return self.dense(np.arange(self.rows)[index])
        if isinstance(index, (list, np.ndarray)) and np.asarray(index).dtype.kind in "iu":
            return self.dense(index)
        return self.dense()[index]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        dense = self.dense()
        return dense if dtype is None else dense.astype(dtype)

    def tolist(self) -> list[list[float]]:
        return self.dense().tolist()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Dense rows, densified 4096 at a time."""
        for start in range(0, self.rows, 4096):
            yield from self.dense(np.arange(start, min(start + 4096, self.rows)))


class LabelMatrix(DenseView):
    """Which labels each row has, stored compactly; reads like the float32 matrix `targets[row, label]`.

    Binary and multiclass rows hold one int32 class each (4 bytes a row, whatever the label count);
    multilabel rows hold their label indices (CSR: `offsets`, `indices`). A dense float32 block
    exists only for what is indexed (`m[positions]`, a batch) or converted (`np.asarray(m)`, small
    eval sets): a 1M-row, 500-label file would be 2 GB dense. The reductions the metrics use
    (`sum`, `mean`, `argmax`) are computed without densifying.
    """

    def __init__(self, indices: np.ndarray, width: int, offsets: np.ndarray | None = None) -> None:
        self.indices = np.asarray(indices, dtype=np.int32)
        self.offsets = None if offsets is None else np.asarray(offsets, dtype=np.int64)
        self.width = int(width)
        self.rows = len(self.indices) if self.offsets is None else len(self.offsets) - 1

    @classmethod
    def from_dense(cls, dense: np.ndarray, single: bool) -> LabelMatrix:
        dense = np.asarray(dense)
        if dense.ndim != 2:
            dense = dense.reshape(len(dense), -1)
        if single:
            return cls(dense.argmax(axis=1) if dense.shape[0] else np.zeros(0), dense.shape[1])
        rows, cols = np.nonzero(dense > 0.5)
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))])
        return cls(cols, dense.shape[1], offsets)

    def __repr__(self) -> str:
        kind = "one class a row" if self.offsets is None else "multi-hot"
        return f"LabelMatrix({self.rows} rows x {self.width} labels, {kind})"

    def per_row(self) -> np.ndarray:
        """How many labels each row has."""
        return np.ones(self.rows, dtype=np.int64) if self.offsets is None else np.diff(self.offsets)

    def counts(self) -> np.ndarray:
        """Rows per label."""
        return np.bincount(self.indices, minlength=self.width).astype(np.int64)

    def dense(self, positions: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """float32 [len(positions), labels]: the one/multi-hot rows at `positions` (all rows if None)."""
        positions = np.arange(self.rows) if positions is None else np.asarray(positions, dtype=np.int64)
        out = np.zeros((len(positions), self.width), dtype=np.float32)
        if self.offsets is None:
            out[np.arange(len(positions)), self.indices[positions]] = 1.0
            return out
        starts, counts = self.offsets[positions], self.per_row()[positions]
        which = np.repeat(np.arange(len(positions)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        out[which, self.indices[np.repeat(starts, counts) + within]] = 1.0
        return out

    def take(self, positions: Sequence[int] | np.ndarray) -> LabelMatrix:
        positions = np.asarray(positions, dtype=np.int64)
        if self.offsets is None:
            return LabelMatrix(self.indices[positions], self.width)
        starts, counts = self.offsets[positions], self.per_row()[positions]
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        return LabelMatrix(self.indices[np.repeat(starts, counts) + within], self.width, offsets)

    def classes(self) -> np.ndarray:
        """Each row's class (multilabel: its first label, 0 for none), as `argmax(axis=1)` gives."""
        if self.offsets is None:
            return self.indices.astype(np.int64)
        first = np.zeros(self.rows, dtype=np.int64)
        has = self.per_row() > 0
        first[has] = self.indices[self.offsets[:-1][has]]
        return first

    def sum(self, axis: int | None = None) -> np.ndarray | float:
        if axis == 0:
            return self.counts().astype(np.float32)
        if axis == 1:
            return self.per_row().astype(np.float32)
        return float(len(self.indices))

    def mean(self, axis: int | None = None) -> np.ndarray | float:
        if axis == 0:
            return self.counts() / max(self.rows, 1)
        if axis == 1:
            return self.per_row() / max(self.width, 1)
        return len(self.indices) / max(self.rows * self.width, 1)

    def argmax(self, axis: int | None = None) -> np.ndarray:
        if axis != 1:
            return self.dense().argmax(axis=axis)
        return self.classes()


def has_label(value: Any) -> bool:
    """None and blank strings are missing labels (CSV writes a missing class as an empty field)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _maybe_list(value: Any) -> Any:
    """CSV cannot hold lists: accept a JSON list written as text, e.g. '["Gender", "Race"]'."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value.replace("'", '"'))
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def _scalar_kind(value: Any) -> str:
    if isinstance(value, (bool, int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def targets_from_column(
    path: Path | str, column: str, values: list[Any], label_names: list[str] | None, wanted: str = "auto"
) -> ReadLabels:
    """One label column read into Python values (the general path): lists -> multilabel; numbers and
    names -> `scalar_targets`, the same rules the Arrow path applies."""
    values = [_maybe_list(v) for v in values]
    is_list = [isinstance(v, (list, tuple)) for v in values]
    if any(is_list) and not all(is_list):
        raise CockpitError(f"{path}: column {column!r} mixes lists and single values; use one form for every row")
    if not all(is_list):
        kinds = {_scalar_kind(v) for v in values}
        if len(kinds) > 1:
            examples = ", ".join(repr(v) for v in _one_of_each_kind(values))
            raise CockpitError(f"{path}: column {column!r} mixes label types ({examples}); use one type for every row")
        kind = kinds.pop()
        if kind not in ("number", "str"):
            raise CockpitError(f"{path}: column {column!r} holds {kind} values; use class names or integer classes")
        if kind == "number":
            floats = any(isinstance(v, float) for v in values)
            array = pa.array([float(v) for v in values] if floats else [int(v) for v in values])
        else:
            array = pa.array(values, type=pa.large_string())
        return scalar_targets(path, column, pa.chunked_array([array]), label_names, wanted)
    if wanted not in ("auto", "multilabel"):
        raise CockpitError(
            f"{path}: column {column!r} holds a list of labels per row (multilabel); drop --task {wanted}"
        )
    items = [x for v in values for x in v]
    if not items:
        raise CockpitError(f"{path}: column {column!r} holds only empty lists; every row has no label")
    kinds = {_scalar_kind(x) for x in items}
    if kinds == {"str"}:
        names = label_names or sorted(set(items))
        unknown = sorted(set(items) - set(names))
        if unknown:
            raise CockpitError(f"{path}: label {unknown[0]!r} in column {column!r} is not in --label-names")
        index = {n: i for i, n in enumerate(names)}
        targets = np.zeros((len(values), len(names)), dtype=np.float32)
        for row, labels in enumerate(values):
            for name in labels:
                targets[row, index[name]] = 1.0
        return ReadLabels(LabelMatrix.from_dense(targets, single=False), names, "multilabel")
    if kinds <= {"number"} and set(items) <= {0, 1}:
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise CockpitError(f"{path}: column {column!r} holds 0/1 lists of different lengths {sorted(lengths)}")
        width = lengths.pop()
        names = label_names or [f"label_{i}" for i in range(width)]
        if len(names) != width:
            raise CockpitError(f"{path}: --label-names gives {len(names)} names for {width} columns of 0/1 labels")
        read_as = f"column {column!r} read as multi-hot 0/1 lists: multilabel, {width} labels"
        notice = Notice(
            step=0, kind="label_format", message=read_as, evidence={"column": column, "read_as": "multilabel"}
        )
        dense = np.asarray(values, dtype=np.float32).reshape(len(values), width)
        return ReadLabels(LabelMatrix.from_dense(dense, single=False), names, "multilabel", [notice])
    raise CockpitError(
        f"{path}: column {column!r} holds lists of {'/'.join(sorted(kinds))}; use label names or 0/1 multi-hot lists"
    )


def _one_of_each_kind(values: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for v in values:
        seen.setdefault(type(v).__name__, v)
    return list(seen.values())[:3]


_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?\s*")


def check_label_values(source: Path | str, column: str, values: pa.ChunkedArray) -> None:
    """Class names that mix numbers and words ("pos", "1", "neg", "0.0") are a broken column, not 4 classes.

    Text columns only: a file that types its labels (JSON, Parquet) and mixes ints with strings is
    refused by the label-type check with its own message. Judged on the distinct names and their counts.
    """
    counted = pc.value_counts(values)
    names, counts = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
    numeric = [bool(_NUMBER.fullmatch(n)) for n in names]
    if any(numeric) and not all(numeric):
        number = next(n for n, is_number in zip(names, numeric) if is_number)
        word = next(n for n, is_number in zip(names, numeric) if not is_number)
        share = sum(c for c, is_number in zip(counts, numeric) if is_number) / sum(counts)
        raise CockpitError(
            f"{source}: label column {column!r} mixes numbers and words ({number!r} and {word!r}; "
            f"{share:.0%} numbers): it looks broken; use one form for every row"
        )


@dataclass
class ReadLabels:
    """A label column read: the targets, their names, the task, what was said, and which rows are kept
    (`keep`: None for all; a boolean mask when rows with a "no label" marker were dropped)."""

    targets: LabelMatrix | Scores
    names: list[str]
    task: str
    notices: list[Notice] = field(default_factory=list)
    keep: np.ndarray | None = None


MANY_CLASSES = 20
"""Integer labels with more distinct values than this might be scores (a 1-100 rating): read as classes,
as HF reads integers, and said in a notice with the flag that reads them as scores."""

NO_LABEL_MARKERS = (-1, "-1", "-")
"""Values that mean "no gold label" in classification data: -1 (GLUE test splits, `ClassLabel`'s missing
value) and "-" (SNLI's no-consensus rows). Dropped like missing labels, and counted in a notice."""


def _task_notice(column: str, message: str, task: str) -> Notice:
    return Notice(step=0, kind="task", message=message, evidence={"column": column, "task": task})


def scalar_targets(
    source: Path | str, column: str, values: pa.ChunkedArray, label_names: list[str] | None, wanted: str = "auto"
) -> ReadLabels:
    """One number or name per row (no missing values) -> classes or regression scores.

    The reading follows HF's `run_classification.py` where the data is plain (names and integers are
    classes, fractional floats are scores) and says every inference in a notice naming the flag that
    flips it: whole numbers stored as floats (0.0 ... 5.0) are scores (a float column), unless they are
    only 0 and 1 (a pandas integer column with gaps); integers with many distinct values stay classes.
    """
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _name_targets(source, column, values, label_names, wanted)
    if not (pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_floating(kind)):
        raise CockpitError(f"{source}: column {column!r} holds {kind} values; use class names, integers or scores")
    floats = pa.types.is_floating(kind)
    numbers = np.asarray(values.to_numpy(), dtype=np.float64)
    finite = np.isfinite(numbers)  # NaN never gets here: it is a missing value, dropped with the row
    if not finite.all():
        bad = int((~finite).sum())
        first = int(np.flatnonzero(~finite)[0])
        raise CockpitError(
            f"{source}: column {column!r} holds {bad} value(s) that are not finite numbers (the first: "
            f"{numbers[first]!r} at row {first}); a score or class must be a finite number: drop or fix those rows"
        )
    whole = bool(np.all(numbers == np.round(numbers)))
    markers = (numbers == -1) if whole and wanted != "regression" else np.zeros(len(numbers), dtype=bool)
    if markers.any() and not (numbers[~markers] >= 0).all():
        markers[:] = False  # -1 among other negative numbers is a value, not a marker
    distinct = np.unique(numbers[~markers])
    if wanted == "multilabel":
        raise CockpitError(f"{source}: column {column!r} holds one number per row; multilabel needs a list per row")
    if wanted == "auto":
        if floats and not whole:
            task = "regression"
            said = f"column {column!r} holds fractional numbers: read as regression scores (one output, MSE)"
        elif floats and set(distinct.tolist()) <= {0.0, 1.0}:
            task = "binary"
            said = (
                f"column {column!r} holds only 0.0 and 1.0: read as two classes; --task regression reads them as scores"
            )
        elif floats:
            task = "regression"
            said = (
                f"column {column!r} holds whole numbers stored as floats ({distinct.min():g} ... {distinct.max():g}): "
                f"read as regression scores, as a float column (HF's run_classification reads it so too); "
                f"--task multiclass reads them as {len(distinct)} classes"
            )
        else:
            task = "classes"  # binary or multiclass, once the names are known
            said = (
                f"column {column!r} holds {len(distinct)} distinct integers: read as {len(distinct)} classes; "
                "if they are scores, --task regression reads them so"
                if len(distinct) > MANY_CLASSES
                else ""
            )
    else:
        task, said = wanted, ""
    notices = [_task_notice(column, said, task)] if said else []
    if task == "regression":
        return ReadLabels(Scores(numbers), [column], "regression", notices)
    if not whole:
        example = numbers[numbers != np.round(numbers)][0]
        raise CockpitError(
            f"{source}: column {column!r} holds fractional numbers such as {example:g}; classes need whole "
            f"numbers or names (--task regression reads them as scores)"
        )
    keep = None
    if markers.all():
        raise CockpitError(
            f"{source}: every label in column {column!r} is -1 (no gold label: an unlabeled test split?); "
            "there is nothing to learn or evaluate from"
        )
    if markers.any():
        keep = ~markers
        numbers = numbers[keep]
        notices.append(_markers_notice(column, int(markers.sum()), len(markers), "-1"))
    classes = np.unique(numbers).astype(np.int64)
    names = [str(c) for c in classes.tolist()]
    if label_names:  # --label-names, or a `datasets` ClassLabel's names: class k is names[k]
        if classes.min() >= 0 and classes.max() < len(label_names):
            names, classes = list(label_names), np.arange(len(label_names))
        else:
            raise CockpitError(
                f"{source}: --label-names gives {len(label_names)} names, but column {column!r} holds classes "
                f"{classes.min()}..{classes.max()}; classes must be 0..N-1"
            )
    if task == "classes":
        task = "binary" if len(names) == 2 else "multiclass"
    return _classes(source, column, np.searchsorted(classes, numbers.astype(np.int64)), names, task, notices, keep)


def _markers_notice(column: str, count: int, rows: int, marker: str) -> Notice:
    message = f"dropped {count} of {rows} rows whose label in {column!r} is {marker!r} (no gold label)"
    return Notice(step=0, kind="rows_dropped", message=message, evidence={"dropped": count, "marker": marker})


def _name_targets(
    source: Path | str, column: str, values: pa.ChunkedArray, label_names: list[str] | None, wanted: str
) -> ReadLabels:
    """Class names -> classes, in sorted order; "-1" and "-" are no-label markers."""
    if wanted == "regression":
        example = values[0].as_py()
        raise CockpitError(
            f"{source}: --task regression, but column {column!r} holds text labels such as {example!r}; "
            "regression needs a number per row"
        )
    if wanted == "multilabel":
        raise CockpitError(f"{source}: column {column!r} holds one label per row; multilabel needs a list per row")
    if label_names:
        raise CockpitError(f"{source}: --label-names needs integer classes 0..N-1 in column {column!r}")
    check_label_values(source, column, values)
    keep, notices = None, []
    for marker in NO_LABEL_MARKERS[1:]:
        hit = np.asarray(pc.fill_null(pc.equal(values, marker), False).to_numpy(zero_copy_only=False), dtype=bool)
        if hit.any():
            keep = ~hit if keep is None else keep & ~hit
            notices.append(_markers_notice(column, int(hit.sum()), len(hit), marker))
    if keep is not None:
        values = values.filter(pa.array(keep))
    classes = sorted(pc.unique(values).to_pylist())
    index = pc.index_in(values, value_set=pa.array(classes, type=values.type))
    ids = index.to_numpy(zero_copy_only=False) if isinstance(index, pa.Array) else index.to_numpy()
    task = wanted if wanted in ("binary", "multiclass") else ("binary" if len(classes) == 2 else "multiclass")
    return _classes(source, column, ids, [str(c) for c in classes], task, notices, keep)


def _classes(
    source: Path | str,
    column: str,
    ids: np.ndarray,
    names: list[str],
    task: str,
    notices: list[Notice],
    keep: np.ndarray | None,
) -> ReadLabels:
    if len(names) < 2:
        raise CockpitError(
            f"{source}: column {column!r} has a single class ({names[0] if names else 'none'!r}); a classifier "
            "needs two or more: check the label column or add rows of other classes"
        )
    if task == "binary" and len(names) != 2:
        raise CockpitError(f"{source}: --task binary, but column {column!r} has {len(names)} classes; drop --task")
    return ReadLabels(LabelMatrix(np.asarray(ids, dtype=np.int32), len(names)), names, task, notices, keep)


class Scores(DenseView):
    """Regression targets: one float32 per row; reads like the [rows, 1] matrix `targets[row, 0]`, so
    batches, predictions and the pinned examples take them as they take a `LabelMatrix`."""

    width = 1

    def __init__(self, values: Sequence[float] | np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.float32).reshape(-1)
        self.rows = len(self.values)

    def __repr__(self) -> str:
        return f"Scores({self.rows} rows)"

    def dense(self, positions: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        picked = self.values if positions is None else self.values[np.asarray(positions, dtype=np.int64)]
        return picked[:, None].copy()

    def take(self, positions: Sequence[int] | np.ndarray) -> Scores:
        return Scores(self.values[np.asarray(positions, dtype=np.int64)])

    def sum(self, axis: int | None = None) -> np.ndarray | float:
        return self.dense().sum(axis=axis) if axis is not None else float(self.values.sum())

    def mean(self, axis: int | None = None) -> np.ndarray | float:
        return self.dense().mean(axis=axis) if axis is not None else float(self.values.mean())
