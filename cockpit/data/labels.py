"""Label values -> a target matrix and label names, and the checks that refuse a broken label column."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice

TASKS = ("binary", "multiclass", "multilabel")


class LabelMatrix:
    """Which labels each row has, stored compactly; reads like the float32 matrix `targets[row, label]`.

    Binary and multiclass rows hold one int32 class each (4 bytes a row, whatever the label count);
    multilabel rows hold their label indices (CSR: `offsets`, `indices`). A dense float32 block
    exists only for what is indexed (`m[positions]`, a batch) or converted (`np.asarray(m)`, small
    eval sets): a 1M-row, 500-label file would be 2 GB dense. The reductions the metrics use
    (`sum`, `mean`, `argmax`) are computed without densifying.
    """

    dtype = np.dtype(np.float32)
    ndim = 2

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

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.width)

    def __len__(self) -> int:
        return self.rows

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
    if isinstance(value, bool):
        return "int"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "int" if math.isfinite(value) and value.is_integer() else "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def targets_from_column(
    path: Path, column: str, values: list[Any], label_names: list[str] | None
) -> tuple[np.ndarray, list[str], str, list[tuple[str, str, dict[str, Any]]]]:
    values = [_maybe_list(v) for v in values]
    notices: list[Notice] = []
    is_list = [isinstance(v, (list, tuple)) for v in values]
    if any(is_list) and not all(is_list):
        raise CockpitError(f"{path}: column {column!r} mixes lists and single values; use one form for every row")
    if all(is_list):
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
            return targets, names, "multilabel", notices
        if kinds <= {"int"} and set(items) <= {0, 1}:
            lengths = {len(v) for v in values}
            if len(lengths) != 1:
                raise CockpitError(f"{path}: column {column!r} holds 0/1 lists of different lengths {sorted(lengths)}")
            width = lengths.pop()
            names = label_names or [f"label_{i}" for i in range(width)]
            if len(names) != width:
                raise CockpitError(f"{path}: --label-names gives {len(names)} names for {width} columns of 0/1 labels")
            read_as = f"column {column!r} read as multi-hot 0/1 lists: multilabel, {width} labels"
            notices.append(
                Notice(
                    step=0, kind="label_format", message=read_as, evidence={"column": column, "read_as": "multilabel"}
                )
            )
            return np.asarray(values, dtype=np.float32).reshape(len(values), width), names, "multilabel", notices
        raise CockpitError(
            f"{path}: column {column!r} holds lists of {'/'.join(sorted(kinds))}; "
            "use label names or 0/1 multi-hot lists"
        )
    kinds = {_scalar_kind(v) for v in values}
    if len(kinds) > 1:
        examples = ", ".join(repr(v) for v in _one_of_each_kind(values))
        raise CockpitError(f"{path}: column {column!r} mixes label types ({examples}); use one type for every row")
    kind = kinds.pop()
    if kind == "float":
        example = next(v for v in values if _scalar_kind(v) == "float")
        raise CockpitError(
            f"{path}: column {column!r} holds fractional numbers such as {example!r} (a regression target?); "
            "cockpit trains classifiers: use class names or integer classes"
        )
    if kind not in ("int", "str"):
        raise CockpitError(f"{path}: column {column!r} holds {kind} values; use class names or integer classes")
    classes = sorted({int(v) if kind == "int" else v for v in values})
    if len(classes) < 2:
        raise CockpitError(
            f"{path}: column {column!r} has a single class ({classes[0]!r}); a classifier needs two or more: "
            "check the label column or add rows of other classes"
        )
    names = [str(c) for c in classes]
    if label_names:
        if kind == "int" and classes == list(range(len(classes))) and len(label_names) >= len(classes):
            names = list(label_names)
            classes = list(range(len(names)))
        else:
            raise CockpitError(f"{path}: --label-names needs integer classes 0..N-1 in column {column!r}")
    index = {c: i for i, c in enumerate(classes)}
    targets = np.zeros((len(values), len(classes)), dtype=np.float32)
    for row, v in enumerate(values):
        targets[row, index[int(v) if kind == "int" else v]] = 1.0
    task = "binary" if len(classes) == 2 else "multiclass"
    return targets, names, task, notices


def _one_of_each_kind(values: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for v in values:
        seen.setdefault(_scalar_kind(v), v)
    return list(seen.values())[:3]


_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?\s*")


def check_label_values(path: Path, column: str, values: list[Any]) -> None:
    """Class names that mix numbers and words ("pos", "1", "neg", "0.0") are a broken column, not 4 classes.

    Text columns only: a file that types its labels (JSON, Parquet) and mixes ints with strings is
    refused by the label-type check with its own message.
    """
    words = [v for v in values if isinstance(v, str) and not _NUMBER.fullmatch(v)]
    numbers = [v for v in values if isinstance(v, str) and _NUMBER.fullmatch(v)]
    if words and numbers:
        share = len(numbers) / (len(words) + len(numbers))
        raise CockpitError(
            f"{path}: label column {column!r} mixes numbers and words ({numbers[0]!r} and {words[0]!r}; "
            f"{share:.0%} numbers): it looks broken; use one form for every row"
        )


def _looks_numeric(value: str) -> bool:
    try:
        float(value.replace(",", "."))
    except ValueError:
        return False
    return True


def arrow_class_targets(
    column: pa.ChunkedArray, label_names: list[str] | None
) -> tuple[LabelMatrix, list[str], str] | None:
    """One int or string label per row -> class indices, as `targets_from_column` maps them; None otherwise."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if label_names or bool(pc.any(pc.starts_with(pc.utf8_trim_whitespace(column), "[")).as_py()):
            return None  # names for string classes are an error; '[..]' may be a JSON list (general path)
        classes = sorted(pc.unique(column).to_pylist())
        numeric = [c for c in classes if _looks_numeric(c)]
        if numeric and len(numeric) < len(classes):
            return None  # "pos", "1", "neg": a broken column, for the general path's checks to name
        index = pc.index_in(column, value_set=pa.array(classes, type=kind))
        values = index.to_numpy(zero_copy_only=False) if isinstance(index, pa.Array) else index.to_numpy()
        names = [str(c) for c in classes]
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_floating(kind):
        numbers = np.asarray(column.to_numpy(), dtype=np.float64 if pa.types.is_floating(kind) else np.int64)
        if pa.types.is_floating(kind):
            if not (np.isfinite(numbers).all() and (numbers == np.round(numbers)).all()):
                return None
            numbers = numbers.astype(np.int64)
        classes_arr = np.unique(numbers)
        values = np.searchsorted(classes_arr, numbers)
        classes = classes_arr.tolist()
        names = [str(c) for c in classes]
        if label_names:
            if classes == list(range(len(classes))) and len(label_names) >= len(classes):
                names = list(label_names)
            else:
                return None
    else:
        return None
    if len(names) < 2:
        return None
    task = "binary" if len(names) == 2 else "multiclass"
    return LabelMatrix(np.asarray(values, dtype=np.int32), len(names)), names, task
