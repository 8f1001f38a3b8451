"""Row containers that keep a file's texts in Arrow: a Python `str` exists only for the rows a batch asks for."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


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
        return np.flatnonzero(self._positions_mask(pc.fill_null(found, False)))

    def _positions_mask(self, found: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """A boolean Arrow mask over the whole array as numpy, for this column's positions.

        Arrow packs booleans as bits, so no zero-copy view of them exists: a plain `Array.to_numpy()`
        raises ArrowInvalid. Texts read column-wise (parquet, CSV, Arrow) are chunks, which convert by
        copying; texts built from Python values (JSON files, list-of-names labels) are one Array, and
        the examples browser crashed on those (issue #25). The copy is one byte a row.
        """
        mask = found.to_numpy(zero_copy_only=False) if isinstance(found, pa.Array) else found.to_numpy()
        mask = np.asarray(mask, dtype=bool)
        return mask if self.index is None else mask[self.index]


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
