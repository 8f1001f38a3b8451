"""A data file or an Arrow table -> `LabeledTexts` (texts, labels, label names, task), or a clear CockpitError.

Two paths that pick the same columns by the same rules and read labels with the same functions:
- the Arrow path (`from_table`) keeps a clean parquet / CSV / Arrow file, or a `datasets` split, in
  Arrow and numpy (issue #14: a million rows cost their text bytes, not a Python object per row);
  it declines (None) whatever it cannot read cleanly;
- the general path (`from_columns`) reads every value into Python: right for JSON and for every
  malformed file, whose errors it names.
Every inference (the task, the text columns, rows dropped and why) becomes a `Notice`, shown in the
data summary before step 1 and journaled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cockpit.contract.config import RunConfig
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.data.columns import (
    JOIN_SEPARATOR,
    PICK_ROWS,
    TextChoice,
    arrow_blank,
    arrow_has_label,
    arrow_is_binary,
    arrow_is_string,
    is_binary_column,
    is_string_column,
    pick_label_columns,
    pick_text_columns,
    text_hints,
)
from cockpit.data.formats import ARROW_IPC, arrow_cache, check_contents, is_nan, read_arrow_ipc, read_columns
from cockpit.data.labeled import LabeledTexts
from cockpit.data.labels import LabelMatrix, ReadLabels, has_label, scalar_targets, targets_from_column
from cockpit.data.texts import RowNumbers, TextColumn


@dataclass(frozen=True)
class DataSpec:
    """The user's choices about reading data: `--text-column`, `--label-columns`, `--label-names`, `--task`."""

    text_column: str | None = None
    label_columns: list[str] | None = None
    label_names: list[str] | None = None
    task: str = "auto"

    @classmethod
    def of(cls, config: RunConfig) -> DataSpec:
        """A run's choices about reading its data."""
        return cls(config.text_column, config.label_columns, config.label_names, config.task)

    def same_columns_as(self, data: LabeledTexts) -> DataSpec:
        """The spec that reads another split the way `data` was read (its text columns, its task)."""
        joiner = "," if data.text.mode == "pair" else "+"
        return DataSpec(
            text_column=joiner.join(data.text.columns),
            label_columns=self.label_columns,
            label_names=self.label_names,
            task=data.task if self.task == "auto" else self.task,
        )


def dropped_rows_notice(dropped: int, rows: int) -> Notice:
    message = f"dropped {dropped} of {rows} rows with missing text or labels (an empty cell, null or NaN)"
    return Notice(step=0, kind="rows_dropped", message=message, evidence={"dropped": dropped})


def load_labeled_texts(
    path: Path,
    text_column: str | None = None,
    label_columns: list[str] | None = None,
    label_names: list[str] | None = None,
    task: str = "auto",
) -> LabeledTexts:
    """Read a data file and infer the text column(s), the labels and the task (README: Data in)."""
    return load_file(path, DataSpec(text_column, label_columns, label_names, task))


def load_arrow_labeled_texts(
    path: Path,
    text_column: str | None,
    label_columns: list[str] | None,
    label_names: list[str] | None,
    task: str = "auto",
) -> LabeledTexts | None:
    """The Arrow path alone: LabeledTexts kept in Arrow / numpy, or None where the general path must read it."""
    table = _arrow_table(path)
    spec = DataSpec(text_column, label_columns, label_names, task)
    return from_table(table, str(path), spec, features=_features_in(table)) if table is not None else None


def load_file(path: Path, spec: DataSpec) -> LabeledTexts:
    """A data file, read as `spec` says: the Arrow path where it can, else the general path."""
    if spec.label_names and len(set(spec.label_names)) != len(spec.label_names):
        twice = next(n for n in spec.label_names if spec.label_names.count(n) > 1)
        raise CockpitError(f"--label-names: {twice!r} appears twice; give each label its own name")
    loaded = load_arrow_labeled_texts(path, spec.text_column, spec.label_columns, spec.label_names, spec.task)
    if loaded is not None:
        return loaded
    columns = read_columns(path)
    if not columns:
        raise CockpitError(f"{path}: has rows but no columns; give a text and a label per row")
    return from_columns(columns, str(path), spec)


def from_columns(
    columns: dict[str, list[Any]], source: str, spec: DataSpec, features: dict[str, Any] | None = None
) -> LabeledTexts:
    """The general path: columns of Python values (NaN already None) -> LabeledTexts, or the error in words.

    `features`: as for `from_table` (list-of-ClassLabel columns arrive with their ids already names)."""
    rows = len(next(iter(columns.values())))
    label_cols, notices = pick_label_columns(source, columns, spec.label_columns, text_hints(columns, spec.text_column))
    choice, said = pick_text_columns(source, columns, spec.text_column, exclude=set(label_cols))
    notices += said
    both = [c for c in choice.columns if c in label_cols]
    if both:
        raise CockpitError(f"{source}: column {both[0]!r} cannot be both the text and a label")

    def usable(row: int) -> bool:  # a text (a pair: both segments; joined: any of them) and a label
        texts = [columns[c][row] for c in choice.columns]
        strings = [t for t in texts if isinstance(t, str)]
        complete = choice.mode == "joined" or len(strings) == len(texts)
        return complete and any(t.strip() for t in strings) and all(has_label(columns[c][row]) for c in label_cols)

    keep = [row for row in range(rows) if usable(row)]
    if not keep:
        raise CockpitError(
            f"{source}: no row has both a text in {' / '.join(map(repr, choice.columns))} and a label in "
            f"{', '.join(map(repr, label_cols))}; nothing to train on: fill them in, or name other columns "
            "with --text-column / --label-columns"
        )
    if rows - len(keep):
        notices.append(dropped_rows_notice(rows - len(keep), rows))
    if len(label_cols) > 1:
        read = _label_columns(source, label_cols, spec, [[columns[c][row] for row in keep] for c in label_cols])
    else:
        values = [columns[label_cols[0]][row] for row in keep]
        names = spec.label_names or _class_names(features, label_cols)
        read = targets_from_column(source, label_cols[0], values, names, spec.task)
    notices += read.notices
    if read.keep is not None:
        keep = [row for row, kept in zip(keep, read.keep) if kept]
    texts = [TextColumn([columns[c][row] for row in keep]).array for c in choice.columns]  # (lone surrogates kept)
    first, second = _texts(choice, [pa.chunked_array([t]) if isinstance(t, pa.Array) else t for t in texts])
    _check_multilabel(source, read)
    return LabeledTexts(first, read.targets, read.names, read.task, source, keep, notices, rows, second, choice)


def from_table(
    table: pa.Table, source: str, spec: DataSpec, features: dict[str, Any] | None = None
) -> LabeledTexts | None:
    """The Arrow path: LabeledTexts with texts and labels kept in Arrow / numpy, or None for the general path.

    `features`: a `datasets` split's features by column (ClassLabel names, a list of ClassLabel), when
    the table came from `datasets` or an Arrow file it wrote.
    """
    names = table.column_names
    if table.num_rows == 0 or len(set(names)) != len(names):
        return None
    head = {n: [None if is_nan(v) else v for v in table.column(n).slice(0, PICK_ROWS).to_pylist()] for n in names}
    for name in names:  # the pickers' value tests must give the same answer on the head and the whole column
        column = table.column(name)
        if is_string_column(head[name]) != arrow_is_string(column):
            return None
        if is_binary_column(head[name]) != arrow_is_binary(column):
            return None
    try:
        hints = text_hints(head, spec.text_column)
        label_cols, notices = pick_label_columns(source, head, spec.label_columns, hints)
        choice, said = pick_text_columns(source, head, spec.text_column, exclude=set(label_cols))
    except CockpitError:
        return None
    notices += said
    if any(c in label_cols for c in choice.columns):
        return None
    label_names = spec.label_names or _class_names(features, label_cols)
    texts = [table.column(c) for c in choice.columns]
    labels = [table.column(c) for c in label_cols]
    rows = table.num_rows
    del table, head
    # a row needs a label and a text (a pair: both segments; joined columns: any of them), not all blank
    keep = None
    for text in texts:
        present = pc.and_kleene(pc.is_valid(text), pc.invert(arrow_blank(text)))
        keep = present if keep is None else pc.or_kleene(keep, present)
    if choice.mode != "joined":
        for text in texts:
            keep = pc.and_kleene(keep, pc.is_valid(text))
    for column in labels:
        keep = pc.and_kleene(keep, arrow_has_label(column))
    kept_mask = np.asarray(pc.fill_null(keep, False).to_numpy(), dtype=bool)
    if not kept_mask.any():
        return None
    if not kept_mask.all():  # labels are filtered (a copy of a few bytes a row); texts keep the file's array
        labels = [column.filter(pa.array(kept_mask)) for column in labels]
        notices.append(dropped_rows_notice(rows - int(kept_mask.sum()), rows))
    if len(label_cols) > 1:
        values = [np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64) for c in labels]
        read = _label_columns(source, label_cols, spec, values)
    elif _is_list(labels[0]) or _json_lists(labels[0]):
        return None  # lists of labels per row: the general path reads them (ClassLabel names included)
    else:
        try:
            read = scalar_targets(source, label_cols[0], labels[0], label_names, spec.task)
        except CockpitError:
            return None  # the general path names it
    kept = np.flatnonzero(kept_mask)
    if read.keep is not None:
        kept = kept[read.keep]
    notices += read.notices
    if read.task == "multilabel" and read.targets.width < 2:
        return None
    index = kept if len(kept) < rows else None
    first, second = _texts(choice, texts, index)  # no copy of the text, mapped or not
    loaded = LabeledTexts(
        first, read.targets, read.names, read.task, source, RowNumbers(kept), notices, rows, second, choice
    )
    pa.default_memory_pool().release_unused()  # what the checks above allocated and freed
    return loaded


def _texts(
    choice: TextChoice, columns: list[pa.ChunkedArray], index: np.ndarray | None = None
) -> tuple[TextColumn, TextColumn | None]:
    """The text column(s) as the model reads them: one, a pair (two segments), or several joined into one."""
    if choice.mode == "pair":
        return TextColumn(columns[0], index=index), TextColumn(columns[1], index=index)
    if choice.mode == "joined":
        filled = [pc.fill_null(c, "") for c in columns]
        return TextColumn(pc.binary_join_element_wise(*filled, JOIN_SEPARATOR), index=index), None
    return TextColumn(columns[0], index=index), None


def _label_columns(source: str, label_cols: list[str], spec: DataSpec, values: list[Any]) -> ReadLabels:
    """Several 0/1 columns, one per label: multilabel."""
    if spec.task not in ("auto", "multilabel"):
        raise CockpitError(f"{source}: several 0/1 label columns are one label each (multilabel); drop --task")
    if spec.label_names and len(spec.label_names) != len(label_cols):
        raise CockpitError(
            f"{source}: --label-names gives {len(spec.label_names)} names for {len(label_cols)} label columns"
        )
    hot = np.stack([np.asarray(v, dtype=np.float64) > 0.5 for v in values], axis=1)
    return ReadLabels(LabelMatrix.from_dense(hot, single=False), list(spec.label_names or label_cols), "multilabel")


def _check_multilabel(source: str, read: ReadLabels) -> None:
    if read.task == "multilabel" and read.targets.width < 2:
        raise CockpitError(f"{source}: only one label ({read.names[0]!r}); a multilabel classifier needs two or more")


def _is_list(column: pa.ChunkedArray) -> bool:
    return pa.types.is_list(column.type) or pa.types.is_large_list(column.type)


def _json_lists(column: pa.ChunkedArray) -> bool:
    """CSV cannot hold lists: text cells such as '["Gender", "Race"]' are read by the general path."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    return bool(pc.any(pc.starts_with(pc.utf8_trim_whitespace(column), "[")).as_py())


def _class_names(features: dict[str, Any] | None, label_cols: list[str]) -> list[str] | None:
    """The names, in order, of a `datasets` ClassLabel (or a list of ClassLabel) on the one label column."""
    feature = (features or {}).get(label_cols[0]) if len(label_cols) == 1 else None
    names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
    return list(names) if names else None


def _features_in(table: pa.Table) -> dict[str, Any] | None:
    """The `datasets` features an Arrow file carries in its schema (a shard of a `save_to_disk` folder):
    ClassLabel names survive when the shard itself is given."""
    if b"huggingface" not in (table.schema.metadata or {}):
        return None
    from datasets import Features

    try:
        return dict(Features.from_arrow_schema(table.schema))
    except Exception:  # metadata of a datasets version this one cannot read: the plain columns still are
        return None


def _arrow_table(path: Path) -> pa.Table | None:
    """A parquet / CSV / Arrow file as an Arrow table without a Python object per value (memory-mapped
    where it can be), or None: the general path reads it (and names whatever is wrong with it)."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", *ARROW_IPC) or not path.is_file():
        return None
    try:
        check_contents(path, suffix)
        cached = None if suffix in ARROW_IPC else arrow_cache(path, suffix)
        if cached is not None:
            try:
                return read_arrow_ipc(cached)  # memory-mapped: the texts are not copied into the heap
            except Exception:  # a damaged cache entry: dropped, and the file decoded in memory this time
                cached.unlink(missing_ok=True)
        if suffix in ARROW_IPC:
            return read_arrow_ipc(path)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            # Batch by batch: the reader's peak is the table plus one batch (read_table's was ~3x the table).
            parquet = pq.ParquetFile(path, memory_map=True)
            return pa.Table.from_batches(list(parquet.iter_batches(batch_size=65536)), schema=parquet.schema_arrow)
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path)
    except Exception:  # the general path reports it
        return None


def summary_lines(
    data: LabeledTexts,
    evaluation: LabeledTexts | None,
    token_lengths: list[int] | np.ndarray,
    max_length: int,
    sampled: bool = False,
) -> list[str]:
    """The short data summary said before training; token lengths may come from a sample."""
    lengths = np.asarray(token_lengths) if len(token_lengths) else np.zeros(1)
    truncated = float((lengths > max_length).mean())
    source = f" (a seeded sample of {len(token_lengths)} rows)" if sampled else ""
    unit = "pair" if data.second_texts is not None else "text"
    lines = [
        f"data: {data.source}: {len(data)} training rows, {len(evaluation) if evaluation else 0} eval rows, "
        f"task {data.task}, "
        + (
            f"target {data.label_names[0]!r}" if data.task == "regression" else f"{len(data.label_names)} labels"
        ),  # fmt: skip
        f"texts: {data.text.described}" + (" (segments joined by the tokenizer's separator)" if unit == "pair" else ""),
    ]
    if data.task == "regression":
        values = data.targets.values
        lines.append(
            f"targets: mean {values.mean():.4g}, std {values.std():.4g}, min {values.min():.4g}, "
            f"median {np.median(values):.4g}, max {values.max():.4g}"
        )
    else:
        counts = Counter(data.label_counts)
        per_row = data.targets.per_row()
        top = ", ".join(f"{name} {n}" for name, n in counts.most_common(8))
        more = f", ... ({len(counts) - 8} more)" if len(counts) > 8 else ""
        lines.append(f"labels: {top}{more}")
        lines.append(f"labels per row: mean {per_row.mean():.2f}, min {per_row.min():.0f}, max {per_row.max():.0f}")
    lines.append(
        f"tokens per {unit}{source}: median {np.median(lengths):.0f}, p95 {np.percentile(lengths, 95):.0f}, "
        f"max {lengths.max():.0f}; {truncated:.1%} truncated at --max-length {max_length}"
    )
    return lines
