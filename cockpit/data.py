"""File -> texts, a label matrix, label names and the task kind, or a clear CockpitError.

Every task is held the same way: a `LabelMatrix` that reads as a float32 `targets[row, label]`
(one-hot for binary and multiclass, multi-hot for multilabel), so metrics, pins and the loss code
never branch on how the labels were written in the file. It is stored compactly (a class index
per row, or each row's label indices) and densified per batch; texts stay in one Arrow string
array, so a million-row file costs its text bytes, not a Python object per row.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cockpit.errors import CockpitError
from cockpit.events import Notice

SUPPORTED = (".parquet", ".csv", ".jsonl", ".json", ".arrow", ".feather")
ARROW_IPC = (".arrow", ".feather")  # Arrow IPC files (Feather v2): memory-mapped, read in place
TEXT_COLUMN_NAMES = ("text", "sentence", "content", "review", "document", "body")
LABEL_COLUMN_NAMES = ("labels", "label", "targets", "target", "class", "category", "topic", "y")
TASKS = ("binary", "multiclass", "multilabel")


class TextColumn(Sequence[str]):
    """The texts as one Arrow string array: a Python `str` exists only for the rows a batch asks for.

    A split (`take`) shares the array and keeps only the positions it holds (8 bytes a row), so the
    training split of a 1M-row file does not copy its text.
    """

    def __init__(self, values: pa.Array | pa.ChunkedArray | Sequence[str], index: np.ndarray | None = None) -> None:
        if isinstance(values, TextColumn):
            values, index = values.array, values.index if index is None else values.index[index]
        if not isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = list(values)
            try:
                values = pa.array(values, type=pa.large_string())
            except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800" escape) is not UTF-8: kept as \ud800
                values = [v.encode("utf-8", "backslashreplace").decode() if isinstance(v, str) else v for v in values]
                values = pa.array(values, type=pa.large_string())
        self.array: pa.Array | pa.ChunkedArray = values  # chunks as read: combining them would copy
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        self._chunk_starts: np.ndarray | None = None  # where each chunk starts, once a batch needs it

    def __len__(self) -> int:
        return len(self.array) if self.index is None else len(self.index)

    def __getitem__(self, index):  # int -> str, slice -> TextColumn
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        position = int(index) + (len(self) if int(index) < 0 else 0)
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self.array[position if self.index is None else int(self.index[position])].as_py()

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), 4096):
            yield from self.batch(np.arange(start, min(start + 4096, len(self))))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TextColumn({len(self)} texts)"

    def take(self, positions: Sequence[int] | np.ndarray) -> TextColumn:
        positions = np.asarray(positions, dtype=np.int64)
        return TextColumn(self.array, positions if self.index is None else self.index[positions])

    def batch(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        """The texts at `positions` as Python strings (what a tokenizer takes).

        A run of consecutive rows (a pass over the file, as the data fingerprint makes) is read through a
        slice, a view: `take` would copy it first, and at 1M rows the allocator kept ~85 MiB of those copies.
        """
        where = np.asarray(positions, dtype=np.int64)
        if self.index is not None:
            where = self.index[where]
        if len(where) > 1 and where[-1] - where[0] == len(where) - 1 and bool((np.diff(where) == 1).all()):
            return self.array.slice(int(where[0]), len(where)).to_pylist()
        return self._take(where)

    def _take(self, where: np.ndarray) -> list[str]:
        """`take` chunk by chunk: Arrow's take on a chunked string column first concatenates every chunk,
        a copy of the whole text (81 MiB and ~30 ms per 16-row batch at 1M rows, measured)."""
        array = self.array
        if isinstance(array, pa.ChunkedArray) and array.num_chunks == 1:
            array = array.chunk(0)
        if not isinstance(array, pa.ChunkedArray):
            return array.take(pa.array(where)).to_pylist()
        if self._chunk_starts is None:
            self._chunk_starts = np.concatenate([[0], np.cumsum([len(c) for c in array.chunks])]).astype(np.int64)
        starts = self._chunk_starts
        which = np.searchsorted(starts, where, side="right") - 1
        out: list[Any] = [None] * len(where)
        for chunk in np.unique(which).tolist():
            picked = np.flatnonzero(which == chunk)
            values = array.chunk(chunk).take(pa.array(where[picked] - starts[chunk])).to_pylist()
            for at, value in zip(picked.tolist(), values):
                out[at] = value
        return out

    def matching(self, words: Sequence[str]) -> np.ndarray:
        """Positions whose text holds every word, ignoring case, in order: one Arrow compute pass per word,
        no Python string per row (the examples browser's search at a million rows)."""
        if not words:
            return np.arange(len(self))
        found: Any = None
        for word in words:
            hit = pc.match_substring(self.array, word, ignore_case=True)
            found = hit if found is None else pc.and_(found, hit)
        mask = np.asarray(pc.fill_null(found, False).to_numpy(), dtype=bool)
        return np.flatnonzero(mask if self.index is None else mask[self.index])

    def char_lengths(self) -> np.ndarray:
        lengths = pc.utf8_length(self.array).to_numpy(zero_copy_only=False)
        return lengths if self.index is None else lengths[self.index]


class RowNumbers(Sequence[int]):
    """Row numbers in the file (what --pin takes), 8 bytes a row; reads as a list of ints."""

    def __init__(self, values: Sequence[int] | np.ndarray) -> None:
        self.array = np.asarray(values.array if isinstance(values, RowNumbers) else values, dtype=np.int64)
        self.array.setflags(write=False)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index):  # int -> int, slice -> RowNumbers
        if isinstance(index, slice):
            return RowNumbers(self.array[index])
        return int(self.array[int(index)])

    def __iter__(self) -> Iterator[int]:
        return iter(self.array.tolist())

    def __contains__(self, row: object) -> bool:
        return isinstance(row, (int, np.integer)) and bool((self.array == row).any())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (RowNumbers, Sequence, np.ndarray)):
            values = other.array if isinstance(other, RowNumbers) else np.asarray(other)
            return values.shape == self.array.shape and bool((values == self.array).all())
        return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RowNumbers({self.array.tolist() if len(self) <= 8 else f'{len(self)} rows'})"

    def take(self, positions: Sequence[int] | np.ndarray) -> RowNumbers:
        return RowNumbers(self.array[np.asarray(positions, dtype=np.int64)])

    def positions(self, rows: Sequence[int]) -> list[int | None]:
        """Where each file row sits in this split (None: not in it); a binary search when sorted."""
        wanted = np.asarray(list(rows), dtype=np.int64)
        if len(self.array) and bool((np.diff(self.array) > 0).all()):
            found = np.minimum(np.searchsorted(self.array, wanted), len(self.array) - 1)
            return [int(f) if len(self.array) and self.array[f] == r else None for f, r in zip(found, wanted)]
        where = {int(r): i for i, r in enumerate(self.array.tolist())}
        return [where.get(int(r)) for r in wanted]


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


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------


def read_columns(path: Path) -> dict[str, list[Any]]:
    """Read a supported file into columns of Python values, or say what is wrong with it in one line.

    NaN counts as missing (None), as pandas writes missing numbers that way.
    """
    if not path.exists():
        raise CockpitError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise CockpitError(f"{path}: is a directory; give a data file: {_formats()}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise CockpitError(f"{path}: unsupported format {suffix or '(no extension)'}; use one of {_formats()}")
    try:
        _check_contents(path, suffix)
    except OSError as exc:  # unreadable (permissions), or gone between the check and the read
        raise CockpitError(f"{path}: cannot be read ({exc.strerror or exc}); check the file's permissions") from None
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            columns = _arrow_columns(path, pq.read_table(path))
        elif suffix == ".csv":
            columns = _arrow_columns(path, _read_csv(path))
        elif suffix in ARROW_IPC:
            columns = _arrow_columns(path, read_arrow_ipc(path))
        else:
            columns = _read_json(path)
    except CockpitError:
        raise
    except Exception as exc:  # pyarrow raises many types; the user needs only the gist
        reason = _printable(str(exc).replace(str(path), "the file").splitlines()[0][:160]) if str(exc) else ""
        raise CockpitError(
            f"{path}: cannot be read as {suffix[1:]} ({reason or type(exc).__name__}); "
            f"check that it really is a {suffix[1:]} file"
        ) from None
    rows = len(next(iter(columns.values()))) if columns else 0
    if rows == 0:
        raise CockpitError(f"{path}: the table is empty (0 rows); give a file with a text and a label per row")
    return {name: [None if _is_nan(v) else v for v in values] for name, values in columns.items()}


def _read_csv(path: Path) -> pa.Table:
    """Arrow's CSV reader, with blocks large enough for any one cell.

    The reader's default block (1 MB) refuses a row longer than a block ("straddling object");
    long documents in one cell are valid CSV, so the block grows to the file's size, capped at
    1 GiB (a cell larger than that is not a text to classify).
    """
    import pyarrow.csv as pcsv

    size = path.stat().st_size
    block = min(max(1 << 20, size + 1), 1 << 30)
    return pcsv.read_csv(path, read_options=pcsv.ReadOptions(block_size=block))


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _formats() -> str:
    return ", ".join(SUPPORTED)


def _printable(text: str) -> str:
    """Escape control characters (binary garbage in a parser's message) so the error stays one clean line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _check_contents(path: Path, suffix: str) -> None:
    """Catch a file that is not what its extension says before a parser gives a cryptic reason."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        raise CockpitError(f"{path}: the file is empty; give a file with a text and a label per row")
    kinds = {b"PAR1": "a Parquet file", b"PK\x03\x04": "a zip archive (an Excel .xlsx?)", b"\x1f\x8b": "gzip data"}
    kinds |= {b"ARROW1": "an Arrow IPC (Feather) file", b"\xff\xff\xff\xff": "an Arrow IPC (Feather) file"}
    actual = next((kind for magic, kind in kinds.items() if head.startswith(magic)), None)
    # (the binary formats: what the file must be, how the error names it, how to write one, its suffix)
    binary = [
        (ARROW_IPC, "an Arrow IPC (Feather) file", "an Arrow IPC / Feather v2 file",
         "write it with pyarrow.feather.write_feather", ".arrow"),
        ((".parquet",), "a Parquet file", "a Parquet file", "export it as parquet", ".parquet"),
    ]  # fmt: skip
    for suffixes, kind, named, how, proper in binary:
        if suffix in suffixes:
            if actual != kind:
                looks = actual or ("text (CSV or JSON?)" if b"\x00" not in head else "another binary format")
                fix = f"rename it to its real format or {how}"
                raise CockpitError(f"{path}: not {named} (it looks like {looks}); {fix}")
            return
        if actual == kind:
            raise CockpitError(f"{path}: is {kind} named {suffix}; rename it to {path.stem}{proper}")
    if actual is not None:
        raise CockpitError(f"{path}: is {actual}, not {suffix[1:]} text; export or decompress it to {_formats()}")
    if b"\x00" in head:
        raise CockpitError(
            f"{path}: is not {suffix[1:]} text (it holds NUL bytes: binary, or UTF-16); save it as UTF-8 {suffix[1:]}"
        )


def _arrow_columns(path: Path, table: pa.Table) -> dict[str, list[Any]]:
    names = table.column_names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CockpitError(f"{path}: column {twice[0]!r} appears more than once; give every column its own name")
    return {name: table.column(name).to_pylist() for name in names}


def _read_json(path: Path) -> dict[str, list[Any]]:
    """JSON lines, or one JSON array of objects (as `df.to_json(orient='records')` writes).

    Read into Python lists, not Arrow, so that a column mixing types reaches the label checks
    (and their clear message) instead of failing Arrow's type inference.
    """
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        whole = None  # JSON lines (or broken JSON: reported line by line below)
    if isinstance(whole, dict) and whole and all(isinstance(v, dict) for v in whole.values()):
        raise CockpitError(  # pandas' default df.to_json() shape: {"text": {"0": ...}, "label": {...}}
            f"{path}: holds one JSON object, not a list of rows; write it with df.to_json(orient='records') "
            "or as JSON lines (.jsonl)"
        )
    if isinstance(whole, list):
        records, where = whole, "item"
    elif isinstance(whole, dict):
        records, where = [whole], "line"
    else:
        records, where = [], "line"
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except (json.JSONDecodeError, RecursionError) as exc:
                reason = getattr(exc, "msg", type(exc).__name__)
                raise CockpitError(
                    f"{path}: line {number} is not valid JSON ({reason}); write one JSON object per line"
                ) from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise CockpitError(
                f"{path}: {where} {number} is a JSON {type(record).__name__}, not an object; "
                'write one object per row, e.g. {"text": ..., "label": ...}'
            )
    names = list(dict.fromkeys(key for record in records for key in record))
    return {name: [record.get(name) for record in records] for name in names}


# ---------------------------------------------------------------------------------------------
# Choosing the columns
# ---------------------------------------------------------------------------------------------


def _is_string_column(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, str) for v in present)


def _is_binary_column(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, bool, float)) and v in (0, 1) for v in present)


def _column_list(names: Any) -> str:
    return ", ".join(_printable(n) if n and n.strip() == n else repr(n) for n in names)


def _holds(values: list[Any]) -> str:
    """What a column holds instead of text, e.g. "int values such as 3"."""
    example = next((v for v in values if v is not None and not isinstance(v, str)), None)
    hint = " (the file is not UTF-8?)" if isinstance(example, bytes) else ""
    return f"{type(example).__name__} values such as {_printable(repr(example))[:40]}{hint}"


def _pick_text_column(path: Path, columns: dict[str, list[Any]], requested: str | None, exclude: set[str]) -> str:
    if requested:
        if requested not in columns:
            raise CockpitError(f"{path}: no column {requested!r} for --text-column; columns: {_column_list(columns)}")
        if not _is_string_column(columns[requested]):
            what = _holds(columns[requested]) if any(v is not None for v in columns[requested]) else "no values"
            raise CockpitError(
                f"{path}: --text-column {requested!r} holds {what}, not text; columns: {_column_list(columns)}"
            )
        return requested
    for name in TEXT_COLUMN_NAMES:
        if name in columns and name not in exclude and _is_string_column(columns[name]):
            return name
    candidates = [n for n, v in columns.items() if n not in exclude and _is_string_column(v)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        usual = next((n for n in TEXT_COLUMN_NAMES if n in columns and n not in exclude), None)
        held = (
            f"; column {usual!r} holds {_holds(columns[usual])}"
            if usual and any(v is not None for v in columns[usual])
            else ""
        )
        raise CockpitError(
            f"{path}: no usable text column (columns: {_column_list(columns)}){held}; "
            "name the column of texts with --text-column"
        )
    raise CockpitError(f"{path}: several text columns ({_column_list(candidates)}); choose one with --text-column")


def dropped_rows_notice(dropped: int, rows: int) -> Notice:
    message = f"dropped {dropped} of {rows} rows with missing text or labels"
    return Notice(step=0, kind="rows_dropped", message=message, evidence={"dropped": dropped})


def _pick_label_columns(
    path: Path, columns: dict[str, list[Any]], requested: list[str] | None, text_hint: str | None
) -> tuple[list[str], list[Notice]]:
    """One label column, or several 0/1 columns (one per label)."""
    if requested:
        missing = [c for c in requested if c not in columns]
        if missing:
            listing = _column_list(columns)
            raise CockpitError(f"{path}: no column {missing[0]!r} for --label-columns; columns: {listing}")
        for name in requested if len(requested) > 1 else ():
            if not _is_binary_column(columns[name]):
                raise CockpitError(
                    f"{path}: --label-columns column {name!r} must hold only 0/1 values (one column per label); "
                    "for a single label column name just that one"
                )
        return list(requested), []
    for name in LABEL_COLUMN_NAMES:
        if name in columns:
            return [name], []
    binary = [n for n, v in columns.items() if n != text_hint and _is_binary_column(v)]
    if len(binary) >= 2:
        notice = Notice(
            step=0,
            kind="label_format",
            message=f"no label column; read the {len(binary)} 0/1 columns {', '.join(binary)} as one label each "
            "(multilabel)",
            evidence={"columns": binary, "read_as": "multilabel"},
        )
        return binary, [notice]
    others = [n for n in columns if n != text_hint]
    if len(others) == 1:
        return others, []
    raise CockpitError(
        f"{path}: no label column (looked for {', '.join(LABEL_COLUMN_NAMES)}; columns: {_column_list(columns)}); "
        "rename yours to 'label' or name it with --label-columns"
    )


# ---------------------------------------------------------------------------------------------
# Turning label values into a target matrix
# ---------------------------------------------------------------------------------------------


def _has_label(value: Any) -> bool:
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


def _targets_from_column(
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


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def load_labeled_texts(
    path: Path,
    text_column: str | None = None,
    label_columns: list[str] | None = None,
    label_names: list[str] | None = None,
) -> LabeledTexts:
    """Read `path` and infer the text column, the labels and the task (see README: data in)."""
    kept_in_arrow = load_arrow_labeled_texts(path, text_column, label_columns, label_names)
    if kept_in_arrow is not None:
        return kept_in_arrow
    columns = read_columns(path)
    if not columns:
        raise CockpitError(f"{path}: has rows but no columns; give a text and a label per row")
    rows = len(next(iter(columns.values())))
    if label_names and len(set(label_names)) != len(label_names):
        twice = next(n for n in label_names if label_names.count(n) > 1)
        raise CockpitError(f"--label-names: {twice!r} appears twice; give each label its own name")
    text_hint = text_column or next((n for n in TEXT_COLUMN_NAMES if n in columns), None)
    label_cols, notices = _pick_label_columns(path, columns, label_columns, text_hint)
    text_col = _pick_text_column(path, columns, text_column, exclude=set(label_cols))
    if text_col in label_cols:
        raise CockpitError(f"{path}: column {text_col!r} cannot be both the text and a label")

    def usable(row: int) -> bool:
        text = columns[text_col][row]
        return isinstance(text, str) and bool(text.strip()) and all(_has_label(columns[c][row]) for c in label_cols)

    keep = [row for row in range(rows) if usable(row)]
    dropped = rows - len(keep)
    if not keep:
        raise CockpitError(
            f"{path}: no row has both a text in {text_col!r} and a label in {', '.join(map(repr, label_cols))}; "
            "nothing to train on: fill them in, or name other columns with --text-column / --label-columns"
        )
    if dropped:
        notices.append(dropped_rows_notice(dropped, rows))
    texts = [columns[text_col][row] for row in keep]
    if len(label_cols) > 1:
        if label_names and len(label_names) != len(label_cols):
            raise CockpitError(
                f"{path}: --label-names gives {len(label_names)} names for {len(label_cols)} label columns"
            )
        targets = np.array([[float(columns[c][row]) for c in label_cols] for row in keep], dtype=np.float32)
        names, task = list(label_names or label_cols), "multilabel"
    else:
        values = [columns[label_cols[0]][row] for row in keep]
        check_label_values(path, label_cols[0], values)
        targets, names, task, more = _targets_from_column(path, label_cols[0], values, label_names)
        notices.extend(more)
    if task == "multilabel" and targets.shape[1] < 2:
        raise CockpitError(f"{path}: only one label ({names[0]!r}); a multilabel classifier needs two or more")
    return LabeledTexts(texts, targets, names, task, str(path), keep, notices, file_rows=rows)


# ---------------------------------------------------------------------------------------------
# Input that reads but looks broken (thresholds stated in the README, "Data in")
# ---------------------------------------------------------------------------------------------

MIN_ROWS = 8  # usable rows (text and label present) below which a run cannot mean anything
MIN_ROWS_PER_CLASS = 2  # single-label: one to train on and one for the stratified eval split
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


def summary_lines(
    data: LabeledTexts,
    evaluation: LabeledTexts | None,
    token_lengths: list[int] | np.ndarray,
    max_length: int,
    sampled: bool = False,
) -> list[str]:
    """The short data summary printed before training; token lengths may come from a sample."""
    counts = Counter(data.label_counts)
    per_row = data.targets.per_row()
    lengths = np.asarray(token_lengths) if len(token_lengths) else np.zeros(1)
    truncated = float((lengths > max_length).mean())
    top = ", ".join(f"{name} {n}" for name, n in counts.most_common(8))
    more = f", ... ({len(counts) - 8} more)" if len(counts) > 8 else ""
    source = f" (a seeded sample of {len(token_lengths)} rows)" if sampled else ""
    lines = [
        f"data: {data.source}: {len(data)} training rows, {len(evaluation) if evaluation else 0} eval rows, "
        f"task {data.task}, {len(data.label_names)} labels",
        f"labels: {top}{more}",
        f"labels per row: mean {per_row.mean():.2f}, min {per_row.min():.0f}, max {per_row.max():.0f}",
        f"tokens per text{source}: median {np.median(lengths):.0f}, p95 {np.percentile(lengths, 95):.0f}, "
        f"max {lengths.max():.0f}; {truncated:.1%} truncated at --max-length {max_length}",
    ]
    return lines


# ---------------------------------------------------------------------------------------------
# Large files: parquet and CSV stay in Arrow (issue #14)
# ---------------------------------------------------------------------------------------------
# The general path above reads every value into Python (a str and a label object per row): right for
# JSON and for every kind of malformed file, but at a million rows it costs seconds and gigabytes.
# This path handles the common clean shapes (a string text column; one int/string label column, or
# several 0/1 columns) with Arrow compute, choosing the columns with the very same `_pick_*` rules
# (run on the first rows, then checked against the whole column). Anything else, including every
# file that has an error to report, returns None and goes through the general path, so the error
# messages live in one place.

PICK_ROWS = 1000  # rows the column pickers see; their value tests are then re-checked on whole columns

ARROW_CACHE_MIN_BYTES = 16 << 20
"""Parquet and CSV files from this size on are converted once (batch by batch) into an Arrow IPC file in
the cache folder and memory-mapped from there, as `datasets` does: the texts then live in the page cache,
not in the process's heap, and a later run, a resume or an attached cockpit's examples browser opens the
file without decoding it (0.25 CPU s at 1M short rows, against 0.5-0.7 to decode the parquet). Smaller
files are decoded in memory (a few MiB; no cache file is left behind)."""


def arrow_cache_dir() -> Path | None:
    """`$COCKPIT_ARROW_CACHE` (a folder, or `off`), else `$XDG_CACHE_HOME/cockpit/arrow` (~/.cache/...)."""
    setting = os.environ.get("COCKPIT_ARROW_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cockpit" / "arrow"


def read_arrow_ipc(path: Path) -> pa.Table:
    """An Arrow IPC file (Feather v2; the file or the stream format), memory-mapped: uncompressed columns
    are read in place (zero-copy: their buffers are the file's pages), compressed ones are decoded."""
    source = pa.memory_map(str(path), "r")
    try:
        return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_stream(source).read_all()


def arrow_cache(path: Path, suffix: str) -> Path | None:
    """The memory-mappable Arrow IPC copy of a large parquet / CSV file, written now if missing; None when
    the file is small, the cache is off or cannot be written, or the file does not stream (the caller then
    decodes it in memory).

    Keyed by the file's resolved path, size and modification time; a newer version of the same file
    replaces the older cache entry.
    """
    folder = arrow_cache_dir()
    stat = path.stat()
    if folder is None or stat.st_size < ARROW_CACHE_MIN_BYTES:
        return None
    where = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    version = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}".encode()).hexdigest()[:16]
    target = folder / f"{where}-{version}.arrow"
    if target.is_file():
        return target
    partial = folder / f".{target.name}.{os.getpid()}.partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            schema, batches = parquet.schema_arrow, parquet.iter_batches(batch_size=65536)
        else:  # CSV streams in blocks; a type that changes after the first block raises: decoded in memory then
            import pyarrow.csv as pcsv

            reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=16 << 20))
            schema, batches = reader.schema, reader
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        os.replace(partial, target)
    except Exception:  # no space, no permission, a CSV that does not stream: decode in memory instead
        partial.unlink(missing_ok=True)
        return None
    for older in folder.glob(f"{where}-*.arrow"):  # earlier versions of this file
        if older != target:
            older.unlink(missing_ok=True)
    return target


def load_arrow_labeled_texts(
    path: Path, text_column: str | None, label_columns: list[str] | None, label_names: list[str] | None
) -> LabeledTexts | None:
    """LabeledTexts with texts and labels kept in Arrow / numpy, or None for the general path."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", *ARROW_IPC) or not path.is_file():
        return None
    if label_names and len(set(label_names)) != len(label_names):
        return None
    try:
        _check_contents(path, suffix)
        cached = None if suffix in ARROW_IPC else arrow_cache(path, suffix)
        table = None
        if cached is not None:
            try:
                table = read_arrow_ipc(cached)  # memory-mapped: the texts are not copied into the heap
            except Exception:  # a damaged cache entry: dropped, and the file decoded in memory this time
                cached.unlink(missing_ok=True)
        if suffix in ARROW_IPC:
            table = read_arrow_ipc(path)
        elif table is None and suffix == ".parquet":
            import pyarrow.parquet as pq

            # Batch by batch: the reader's peak is the table plus one batch (read_table's was ~3x the table).
            parquet = pq.ParquetFile(path, memory_map=True)
            table = pa.Table.from_batches(list(parquet.iter_batches(batch_size=65536)), schema=parquet.schema_arrow)
        elif table is None:
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(path)
    except Exception:  # the general path reports it
        return None
    names = table.column_names
    if table.num_rows == 0 or len(set(names)) != len(names):
        return None
    head = {n: [None if _is_nan(v) else v for v in table.column(n).slice(0, PICK_ROWS).to_pylist()] for n in names}
    for name in names:  # the pickers' value tests must give the same answer on the head and the whole column
        column = table.column(name)
        if _is_string_column(head[name]) != _arrow_is_string(column):
            return None
        if _is_binary_column(head[name]) != _arrow_is_binary(column):
            return None
    try:
        text_hint = text_column or next((n for n in TEXT_COLUMN_NAMES if n in head), None)
        label_cols, notices = _pick_label_columns(path, head, label_columns, text_hint)
        text_col = _pick_text_column(path, head, text_column, exclude=set(label_cols))
    except CockpitError:
        return None
    if text_col in label_cols:
        return None
    texts = table.column(text_col)
    labels = [table.column(c) for c in label_cols]
    del table, head
    keep = pc.and_kleene(pc.is_valid(texts), pc.invert(_arrow_blank(texts)))
    for column in labels:
        keep = pc.and_kleene(keep, _arrow_has_label(column))
    keep = np.asarray(pc.fill_null(keep, False).to_numpy(), dtype=bool)
    rows, kept = len(keep), np.flatnonzero(keep)
    if not len(kept):
        return None
    mask = pa.array(keep)
    if len(kept) < rows:  # labels are filtered (a copy of a few bytes a row); texts keep the file's array
        labels = [column.filter(mask) for column in labels]
    if len(label_cols) > 1:
        if label_names and len(label_names) != len(label_cols):
            return None
        hot = np.stack([np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64) > 0.5 for c in labels], axis=1)
        targets = LabelMatrix.from_dense(hot, single=False)
        names_out, task = list(label_names or label_cols), "multilabel"
    else:
        found = _arrow_class_targets(labels[0], label_names)
        if found is None:
            return None
        targets, names_out, task = found
    if task == "multilabel" and targets.width < 2:
        return None
    if rows - len(kept):
        dropped = rows - len(kept)
        notices.append(dropped_rows_notice(dropped, rows))
    text_column = TextColumn(texts, index=kept if len(kept) < rows else None)  # no copy of the text, mapped or not
    loaded = LabeledTexts(text_column, targets, names_out, task, str(path), RowNumbers(kept), notices, rows)
    pa.default_memory_pool().release_unused()  # what the checks above allocated and freed
    return loaded


def _arrow_is_string(column: pa.ChunkedArray) -> bool:
    return (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and column.null_count < len(
        column
    )


def _arrow_present(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Non-null, non-NaN values (read_columns turns NaN into None)."""
    if pa.types.is_floating(column.type):
        return column.filter(pc.invert(pc.fill_null(pc.is_nan(column), True)))
    return column.drop_null()


def _arrow_is_binary(column: pa.ChunkedArray) -> bool:
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return False
    present = _arrow_present(column)
    if len(present) == 0:
        return False
    if pa.types.is_boolean(kind):
        return True
    return bool(pc.all(pc.is_in(present, value_set=pa.array([0, 1], type=kind))).as_py())


def _arrow_has_label(column: pa.ChunkedArray) -> pa.ChunkedArray:
    present = pc.is_valid(column)
    if pa.types.is_floating(column.type):
        present = pc.and_(present, pc.invert(pc.fill_null(pc.is_nan(column), True)))
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        present = pc.and_(present, pc.invert(pc.fill_null(_arrow_blank(column), True)))
    return pc.fill_null(present, False)


def _arrow_blank(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Empty or only (Unicode) whitespace, as `not text.strip()`; no copy of the text, unlike trimming."""
    return pc.or_(pc.equal(pc.binary_length(column), 0), pc.utf8_is_space(column))


def _looks_numeric(value: str) -> bool:
    try:
        float(value.replace(",", "."))
    except ValueError:
        return False
    return True


def _arrow_class_targets(
    column: pa.ChunkedArray, label_names: list[str] | None
) -> tuple[LabelMatrix, list[str], str] | None:
    """One int or string label per row -> class indices, as `_targets_from_column` maps them; None otherwise."""
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
