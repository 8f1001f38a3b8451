"""Which column holds the texts and which the labels: the usual names, and the rules that pick them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.data.formats import printable

TEXT_COLUMN_NAMES = ("text", "sentence", "content", "review", "document", "body")


LABEL_COLUMN_NAMES = ("labels", "label", "label_ids", "targets", "target", "class", "category", "topic", "y")


def is_string_column(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, str) for v in present)


def is_binary_column(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, bool, float)) and v in (0, 1) for v in present)


def _column_list(names: Any) -> str:
    return ", ".join(printable(n) if n and n.strip() == n else repr(n) for n in names)


def _holds(values: list[Any]) -> str:
    """What a column holds instead of text, e.g. "int values such as 3"."""
    example = next((v for v in values if v is not None and not isinstance(v, str)), None)
    hint = " (the file is not UTF-8?)" if isinstance(example, bytes) else ""
    return f"{type(example).__name__} values such as {printable(repr(example))[:40]}{hint}"


def pick_text_column(path: Path, columns: dict[str, list[Any]], requested: str | None, exclude: set[str]) -> str:
    if requested:
        if requested not in columns:
            raise CockpitError(f"{path}: no column {requested!r} for --text-column; columns: {_column_list(columns)}")
        if not is_string_column(columns[requested]):
            what = _holds(columns[requested]) if any(v is not None for v in columns[requested]) else "no values"
            raise CockpitError(
                f"{path}: --text-column {requested!r} holds {what}, not text; columns: {_column_list(columns)}"
            )
        return requested
    for name in TEXT_COLUMN_NAMES:
        if name in columns and name not in exclude and is_string_column(columns[name]):
            return name
    candidates = [n for n, v in columns.items() if n not in exclude and is_string_column(v)]
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


def pick_label_columns(
    path: Path, columns: dict[str, list[Any]], requested: list[str] | None, text_hint: str | None
) -> tuple[list[str], list[Notice]]:
    """One label column, or several 0/1 columns (one per label)."""
    if requested:
        missing = [c for c in requested if c not in columns]
        if missing:
            listing = _column_list(columns)
            raise CockpitError(f"{path}: no column {missing[0]!r} for --label-columns; columns: {listing}")
        for name in requested if len(requested) > 1 else ():
            if not is_binary_column(columns[name]):
                raise CockpitError(
                    f"{path}: --label-columns column {name!r} must hold only 0/1 values (one column per label); "
                    "for a single label column name just that one"
                )
        return list(requested), []
    for name in LABEL_COLUMN_NAMES:
        if name in columns:
            return [name], []
    binary = [n for n, v in columns.items() if n != text_hint and is_binary_column(v)]
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


# The Arrow path (loading.load_arrow_labeled_texts) runs the pickers above on a file's first rows, then
# checks their value tests against the whole column with the Arrow versions below.

PICK_ROWS = 1000  # rows the column pickers see; their value tests are then re-checked on whole columns


def arrow_is_string(column: pa.ChunkedArray) -> bool:
    return (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and column.null_count < len(
        column
    )


def _arrow_present(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Non-null, non-NaN values (read_columns turns NaN into None)."""
    if pa.types.is_floating(column.type):
        return column.filter(pc.invert(pc.fill_null(pc.is_nan(column), True)))
    return column.drop_null()


def arrow_is_binary(column: pa.ChunkedArray) -> bool:
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return False
    present = _arrow_present(column)
    if len(present) == 0:
        return False
    if pa.types.is_boolean(kind):
        return True
    return bool(pc.all(pc.is_in(present, value_set=pa.array([0, 1], type=kind))).as_py())


def arrow_has_label(column: pa.ChunkedArray) -> pa.ChunkedArray:
    present = pc.is_valid(column)
    if pa.types.is_floating(column.type):
        present = pc.and_(present, pc.invert(pc.fill_null(pc.is_nan(column), True)))
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        present = pc.and_(present, pc.invert(pc.fill_null(arrow_blank(column), True)))
    return pc.fill_null(present, False)


def arrow_blank(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Empty or only (Unicode) whitespace, as `not text.strip()`; no copy of the text, unlike trimming."""
    return pc.or_(pc.equal(pc.binary_length(column), 0), pc.utf8_is_space(column))
