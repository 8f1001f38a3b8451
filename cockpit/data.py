"""File -> texts, a label matrix, label names and the task kind, or a clear CockpitError.

Every task is held the same way: a float32 matrix `targets[row, label]` (one-hot for binary and
multiclass, multi-hot for multilabel), so metrics, pins and the loss code never branch on how the
labels were written in the file.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cockpit.errors import CockpitError

SUPPORTED = (".parquet", ".csv", ".jsonl", ".json")
TEXT_COLUMN_NAMES = ("text", "sentence", "content", "review", "document", "body")
LABEL_COLUMN_NAMES = ("labels", "label", "targets", "target", "class", "category", "topic", "y")
TASKS = ("binary", "multiclass", "multilabel")


@dataclass
class LabeledTexts:
    """Rows ready for training; `row_ids` are the rows' numbers in the file (what --pin takes)."""

    texts: list[str]
    targets: np.ndarray  # float32 [rows, labels]
    label_names: list[str]
    task: str
    source: str
    row_ids: list[int]
    notices: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, positions: list[int]) -> LabeledTexts:
        return LabeledTexts(
            texts=[self.texts[i] for i in positions],
            targets=self.targets[positions],
            label_names=self.label_names,
            task=self.task,
            source=self.source,
            row_ids=[self.row_ids[i] for i in positions],
        )

    @property
    def label_counts(self) -> dict[str, int]:
        counts = self.targets.sum(axis=0)
        return {name: int(c) for name, c in zip(self.label_names, counts)}


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
    actual = next((kind for magic, kind in kinds.items() if head.startswith(magic)), None)
    if suffix == ".parquet":
        if actual != "a Parquet file":
            looks = actual or ("text (CSV or JSON?)" if b"\x00" not in head else "another binary format")
            raise CockpitError(
                f"{path}: not a Parquet file (it looks like {looks}); "
                "rename it to its real format or export it as parquet"
            )
        return
    if actual == "a Parquet file":
        raise CockpitError(f"{path}: is a Parquet file named {suffix}; rename it to {path.stem}.parquet")
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


def _pick_label_columns(
    path: Path, columns: dict[str, list[Any]], requested: list[str] | None, text_hint: str | None
) -> tuple[list[str], list[tuple[str, str, dict[str, Any]]]]:
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
        notice = (
            "label_format",
            f"no label column; read the {len(binary)} 0/1 columns {', '.join(binary)} as one label each (multilabel)",
            {"columns": binary},
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
    notices: list[tuple[str, str, dict[str, Any]]] = []
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
            notices.append(("label_format", read_as, {}))
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
        notices.append(
            ("rows_dropped", f"dropped {dropped} of {rows} rows with missing text or labels", {"dropped": dropped})
        )
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
    return LabeledTexts(texts, targets, names, task, str(path), keep, notices)


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
    if len(data) < MIN_ROWS:
        raise CockpitError(
            f"{data.source}: only {len(data)} usable row(s) (with a text and a label); "
            f"cockpit needs at least {MIN_ROWS}: add rows or check the text and label columns"
        )
    if data.task == "multilabel":
        return
    rare = {name: n for name, n in data.label_counts.items() if n < MIN_ROWS_PER_CLASS}
    if rare:
        name, count = next(iter(rare.items()))
        more = f" (and {len(rare) - 1} more)" if len(rare) > 1 else ""
        raise CockpitError(
            f"{data.source}: class {name!r} has only {count} row{more}; every class needs at least "
            f"{MIN_ROWS_PER_CLASS} (one to learn from, one to evaluate): add rows or fix the label"
        )


def split_for_eval(
    data: LabeledTexts, share: float, seed: int, keep_in_train: frozenset[int] = frozenset()
) -> tuple[LabeledTexts, LabeledTexts | None]:
    """A seeded eval split, stratified by class for single-label tasks so rare classes appear in both.

    Rows in `keep_in_train` (file row numbers the user pinned) always stay in training.
    """
    if share <= 0:
        return data, None
    rng = np.random.default_rng(seed)
    if data.task == "multilabel":
        strata = [np.arange(len(data))]
    else:
        classes = data.targets.argmax(axis=1)
        strata = [np.flatnonzero(classes == c) for c in range(len(data.label_names))]
    eval_positions: list[int] = []
    for stratum in strata:
        shuffled = rng.permutation(stratum)
        take = int(round(len(shuffled) * share))
        if len(shuffled) >= 2:
            take = min(max(take, 1), len(shuffled) - 1)
        else:
            take = 0
        eval_positions.extend(int(i) for i in shuffled[:take] if data.row_ids[int(i)] not in keep_in_train)
    if not eval_positions:
        return data, None
    eval_set = set(eval_positions)
    train_positions = [i for i in range(len(data)) if i not in eval_set]
    return data.subset(train_positions), data.subset(sorted(eval_positions))


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
    targets = np.zeros((len(evaluation), len(train.label_names)), dtype=np.float32)
    for j, name in enumerate(evaluation.label_names):
        targets[:, train.label_names.index(name)] = evaluation.targets[:, j]
    return LabeledTexts(evaluation.texts, targets, train.label_names, train.task, evaluation.source, evaluation.row_ids)


def default_pins(data: LabeledTexts, count: int = 4) -> list[int]:
    """A few training rows that together cover as many labels as possible (greedy set cover)."""
    uncovered = set(range(len(data.label_names)))
    chosen: list[int] = []
    while len(chosen) < min(count, len(data)):
        gains = [
            (len(uncovered & set(np.flatnonzero(data.targets[i]).tolist())), -i)
            for i in range(len(data))
            if i not in chosen
        ]
        best_gain, neg_i = max(gains)
        chosen.append(-neg_i)
        uncovered -= set(np.flatnonzero(data.targets[-neg_i]).tolist())
        if best_gain == 0 and not uncovered:
            uncovered = set(range(len(data.label_names)))
    return [data.row_ids[i] for i in chosen]


def positions_of_rows(data: LabeledTexts, rows: list[int]) -> list[int]:
    """Map file row numbers (what users pin) to positions in the training split."""
    where = {row: pos for pos, row in enumerate(data.row_ids)}
    positions = []
    for row in rows:
        if row not in where:
            raise CockpitError(
                f"--pin {row}: not a training row (rows 0..{max(data.row_ids)}; "
                "eval-split and dropped rows cannot be pinned)"
            )
        positions.append(where[row])
    return positions


def summary_lines(
    data: LabeledTexts, evaluation: LabeledTexts | None, token_lengths: list[int], max_length: int
) -> list[str]:
    """The short data summary printed before training."""
    counts = Counter(data.label_counts)
    per_row = data.targets.sum(axis=1)
    lengths = np.asarray(token_lengths) if token_lengths else np.zeros(1)
    truncated = float((lengths > max_length).mean())
    top = ", ".join(f"{name} {n}" for name, n in counts.most_common(8))
    more = f", ... ({len(counts) - 8} more)" if len(counts) > 8 else ""
    lines = [
        f"data: {data.source}: {len(data)} training rows, {len(evaluation) if evaluation else 0} eval rows, "
        f"task {data.task}, {len(data.label_names)} labels",
        f"labels: {top}{more}",
        f"labels per row: mean {per_row.mean():.2f}, min {per_row.min():.0f}, max {per_row.max():.0f}",
        f"tokens per text: median {np.median(lengths):.0f}, p95 {np.percentile(lengths, 95):.0f}, "
        f"max {lengths.max():.0f}; {truncated:.1%} truncated at --max-length {max_length}",
    ]
    return lines
