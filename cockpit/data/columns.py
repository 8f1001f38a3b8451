"""Which column holds the texts and which the labels: the usual names, and the rules that pick them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.data.formats import printable

TEXT_COLUMN_NAMES = ("text", "sentence", "content", "review", "document", "body")


LABEL_COLUMN_NAMES = (
    *("labels", "label", "label_ids", "targets", "target", "class", "category", "topic", "y"),
    *("score", "rating", "similarity", "relatedness_score"),  # regression targets
)


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


PAIR_COLUMN_NAMES = (
    ("sentence1", "sentence2"),  # MRPC, RTE, WNLI, STS-B (GLUE)
    ("question", "sentence"),  # QNLI
    ("question1", "question2"),  # QQP
    ("premise", "hypothesis"),  # MNLI, SNLI, XNLI
    ("#1 String", "#2 String"),  # MRPC's original TSV
    ("question", "passage"),  # BoolQ
    ("sentence_a", "sentence_b"),
    ("sentence_A", "sentence_B"),  # SICK
    ("text_a", "text_b"),
    ("text1", "text2"),
    ("query", "document"),
)
"""Column pairs that hold sentence pairs (found on their own, in this order); the tokenizer encodes them as a
pair: `tokenizer(a, b)`, with the model's separator and segment ids."""


@dataclass(frozen=True)
class TextChoice:
    """Where the texts come from: one column, a sentence pair (two segments), or columns joined into one."""

    columns: tuple[str, ...]
    mode: str = "single"  # "single" | "pair" | "joined"

    @property
    def described(self) -> str:
        """As the data summary says it: "text", "pairs: sentence1 + sentence2", "joined: title + body"."""
        if self.mode == "single":
            return f"text column {self.columns[0]!r}"
        return f"{'pairs' if self.mode == 'pair' else 'joined'}: {' + '.join(self.columns)}"


JOIN_SEPARATOR = "\n"  # between joined columns (title + body): the tokenizer sees it as whitespace


def parse_text_spec(requested: str, columns: Any) -> TextChoice:
    """`--text-column`: `text` (one), `sentence1,sentence2` (a pair), `title+body` (joined into one text).
    A name that is itself a column (it may hold a comma or a plus) is that one column."""
    if requested in columns:
        return TextChoice((requested,))
    if "," in requested:
        names = tuple(n.strip() for n in requested.split(","))
        if len(names) != 2 or not all(names):
            raise CockpitError(
                f"--text-column {requested!r}: a pair is two columns (a,b); to join several into one text use a+b+c"
            )
        return TextChoice(names, "pair")
    if "+" in requested:
        names = tuple(n.strip() for n in requested.split("+"))
        if len(names) < 2 or not all(names):
            raise CockpitError(f"--text-column {requested!r}: name the columns to join, e.g. title+body")
        return TextChoice(names, "joined")
    return TextChoice((requested,))


def text_hints(columns: Any, requested: str | None) -> set[str]:
    """The columns that will hold texts, guessed before the label columns are chosen (so that a text
    column is never taken for a label): the requested ones, else a known pair, else the usual name."""
    if requested:
        return set(parse_text_spec(requested, columns).columns)
    pair = next((p for p in PAIR_COLUMN_NAMES if all(c in columns for c in p)), None)
    if pair is not None:
        return set(pair)
    usual = next((n for n in TEXT_COLUMN_NAMES if n in columns), None)
    return {usual} if usual else set()


def pick_text_columns(
    path: Path | str, columns: dict[str, list[Any]], requested: str | None, exclude: set[str]
) -> tuple[TextChoice, list[Notice]]:
    """The text column(s), and a notice for what was found on its own or left out (never silent)."""
    strings = [n for n, v in columns.items() if n not in exclude and is_string_column(v)]
    if requested:
        choice = parse_text_spec(requested, columns)
        for name in choice.columns:
            _check_text_column(path, columns, name)
        said = ""
    else:
        pair = next((p for p in PAIR_COLUMN_NAMES if all(n in strings for n in p)), None)
        if pair is not None:
            choice = TextChoice(pair, "pair")
            said = f"pairs: {pair[0]} + {pair[1]} (found by their names), encoded as sentence pairs"
        else:
            choice = TextChoice((_pick_one(path, columns, strings, exclude),))
            said = ""
    left_out = [n for n in strings if n not in choice.columns]
    if left_out:
        listing = _column_list(left_out)
        first, other = printable(choice.columns[0]), printable(left_out[0])
        said += ("; " if said else f"{choice.described}; ") + (
            f"other text column(s) left out: {listing} (--text-column {other}+{first} joins them into one "
            f"text, --text-column {first},{other} reads them as a pair)"
        )
    notices = []
    if said:
        evidence = {"columns": list(choice.columns), "mode": choice.mode, "left_out": left_out}
        notices.append(Notice(step=0, kind="text_columns", message=said, evidence=evidence))
    return choice, notices


def _check_text_column(path: Path | str, columns: dict[str, list[Any]], requested: str) -> None:
    if requested not in columns:
        raise CockpitError(f"{path}: no column {requested!r} for --text-column; columns: {_column_list(columns)}")
    if not is_string_column(columns[requested]):
        what = _holds(columns[requested]) if any(v is not None for v in columns[requested]) else "no values"
        raise CockpitError(
            f"{path}: --text-column {requested!r} holds {what}, not text; columns: {_column_list(columns)}"
        )


def _pick_one(path: Path | str, columns: dict[str, list[Any]], strings: list[str], exclude: set[str]) -> str:
    for name in TEXT_COLUMN_NAMES:
        if name in strings:
            return name
    if len(strings) == 1:
        return strings[0]
    if not strings:
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
    a, b = (printable(n) for n in strings[:2])
    raise CockpitError(
        f"{path}: several text columns ({_column_list(strings)}); choose one with --text-column "
        f"(or a pair: --text-column {a},{b}; or joined: --text-column {a}+{b})"
    )


def pick_label_columns(
    path: Path | str, columns: dict[str, list[Any]], requested: list[str] | None, text_hints: set[str]
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
    binary = [n for n, v in columns.items() if n not in text_hints and is_binary_column(v)]
    if len(binary) >= 2:
        notice = Notice(
            step=0,
            kind="label_format",
            message=f"no label column; read the {len(binary)} 0/1 columns {', '.join(binary)} as one label each "
            "(multilabel)",
            evidence={"columns": binary, "read_as": "multilabel"},
        )
        return binary, [notice]
    others = [n for n in columns if n not in text_hints]
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
