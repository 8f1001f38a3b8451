"""File -> `LabeledTexts` (texts, labels, label names, task), or a clear CockpitError.

Two paths that pick the same columns by the same rules: the general one reads every value into
Python (right for JSON and every malformed file, whose errors it names), and the Arrow one keeps a
large clean parquet / CSV / Arrow file in Arrow and numpy (issue #14).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.data.columns import (
    PICK_ROWS,
    TEXT_COLUMN_NAMES,
    arrow_blank,
    arrow_has_label,
    arrow_is_binary,
    arrow_is_string,
    is_binary_column,
    is_string_column,
    pick_label_columns,
    pick_text_column,
)
from cockpit.data.formats import ARROW_IPC, arrow_cache, check_contents, is_nan, read_arrow_ipc, read_columns
from cockpit.data.labeled import LabeledTexts
from cockpit.data.labels import LabelMatrix, arrow_class_targets, check_label_values, has_label, targets_from_column
from cockpit.data.texts import RowNumbers, TextColumn


def dropped_rows_notice(dropped: int, rows: int) -> Notice:
    message = f"dropped {dropped} of {rows} rows with missing text or labels"
    return Notice(step=0, kind="rows_dropped", message=message, evidence={"dropped": dropped})


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
    label_cols, notices = pick_label_columns(path, columns, label_columns, text_hint)
    text_col = pick_text_column(path, columns, text_column, exclude=set(label_cols))
    if text_col in label_cols:
        raise CockpitError(f"{path}: column {text_col!r} cannot be both the text and a label")

    def usable(row: int) -> bool:
        text = columns[text_col][row]
        return isinstance(text, str) and bool(text.strip()) and all(has_label(columns[c][row]) for c in label_cols)

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
        targets, names, task, more = targets_from_column(path, label_cols[0], values, label_names)
        notices.extend(more)
    if task == "multilabel" and targets.shape[1] < 2:
        raise CockpitError(f"{path}: only one label ({names[0]!r}); a multilabel classifier needs two or more")
    return LabeledTexts(texts, targets, names, task, str(path), keep, notices, file_rows=rows)


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
        check_contents(path, suffix)
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
    head = {n: [None if is_nan(v) else v for v in table.column(n).slice(0, PICK_ROWS).to_pylist()] for n in names}
    for name in names:  # the pickers' value tests must give the same answer on the head and the whole column
        column = table.column(name)
        if is_string_column(head[name]) != arrow_is_string(column):
            return None
        if is_binary_column(head[name]) != arrow_is_binary(column):
            return None
    try:
        text_hint = text_column or next((n for n in TEXT_COLUMN_NAMES if n in head), None)
        label_cols, notices = pick_label_columns(path, head, label_columns, text_hint)
        text_col = pick_text_column(path, head, text_column, exclude=set(label_cols))
    except CockpitError:
        return None
    if text_col in label_cols:
        return None
    texts = table.column(text_col)
    labels = [table.column(c) for c in label_cols]
    del table, head
    keep = pc.and_kleene(pc.is_valid(texts), pc.invert(arrow_blank(texts)))
    for column in labels:
        keep = pc.and_kleene(keep, arrow_has_label(column))
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
        found = arrow_class_targets(labels[0], label_names)
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
