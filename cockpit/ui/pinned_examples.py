"""Pinned training examples: what the model predicts for them, label by label, against the truth.

This is the panel seed 000 needed ("training loss 0.01, yet predictions about 0.3 for every
label"): each pinned row is predicted exactly as inference does, and every label's cell shows the
target, the predicted probability, right/wrong at 0.5 (a colour AND a ✓/✗, so it reads without
colour) and a sparkline of that probability over the run on a fixed 0..1 scale. Above the matrix,
the loss these very predictions imply sits beside the logged training loss.

Regression: one row, the predicted value beside the target, ✓ when within a quarter of the targets'
spread, the sparkline on the targets' range; each text line carries a number line (│ the target,
● the prediction). A sentence pair shows both texts, `first ║ second`.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static

from cockpit.ui.look import MARKS, content_tone, tone
from cockpit.ui.run_state import PINS_NOT_LEARNED, PREDICTIONS_LAG, RunState
from cockpit.ui.series import fmt_number, shorten, sparkline, update_static

THRESHOLD = 0.5
LABEL_MIN = 8  # narrower than this, the matrix scrolls sideways instead (the label column stays)
SPARK_MAX = 20
CELL_TEXT = 8  # "1 .34 ✗ " before the sparkline
REGRESSION_CELL_TEXT = 14  # "-0.52 -0.49 ✗ "
PADDING = 2  # a DataTable cell's padding, both sides
# Who gets the width, in turn: label names up to 20 characters, a short history, whole names, more history.
# At 120x40 names were cut to 7 characters to keep 2-cell sparklines (#25); a name says which label it is.
FIT_ORDER = (("label", 20), ("spark", 4), ("label", None), ("spark", SPARK_MAX))


def fit_matrix(available: int, longest_label: int, pins: int, cell: int = CELL_TEXT) -> tuple[int, int]:
    """(label width, sparkline width) for a matrix `available` cells wide.

    The cells' numbers always show; the width left goes to label names and sparklines in FIT_ORDER. When
    not even LABEL_MIN and the numbers fit, the matrix scrolls sideways (its label column fixed).
    """
    pins = max(pins, 1)
    label = min(longest_label, LABEL_MIN)
    spark = 0
    budget = available - PADDING - label - pins * (cell + PADDING)
    for what, upto in FIT_ORDER:
        if budget <= 0:
            break
        if what == "label":
            grow = min(min(longest_label, upto or longest_label) - label, budget)
            if grow > 0:
                label, budget = label + grow, budget - grow
        else:
            grow = min(upto - spark, budget // pins)
            if grow > 0:
                spark, budget = spark + grow, budget - grow * pins
    return label, spark


def _cell_text(state: RunState) -> int:
    return REGRESSION_CELL_TEXT if state.regression else CELL_TEXT


def ago(seconds: float) -> str:
    """How long ago, as people say it: 1 s, 40 s, 3 min, 2 h."""
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


CLOSE_SHARE = 0.25  # regression: a prediction within this share of the targets' spread counts as right


def _target_text(target: float) -> str:
    return str(int(target)) if target in (0.0, 1.0) else f"{target:.1f}"


def number_line(target: float, predicted: float, low: float, high: float, width: int = 15) -> str:
    """`├──●────│──┤`: where the prediction (●) and the target (│) sit on the targets' range."""
    inner = max(width - 2, 3)

    def at(value: float) -> int:
        share = (value - low) / (high - low) if high > low else 0.5
        return min(inner - 1, max(0, round(share * (inner - 1)))) if share == share else 0

    cells = ["─"] * inner
    cells[at(target)] = "│"
    cells[at(predicted)] = "●"
    return "├" + "".join(cells) + "┤"


def is_right(state: RunState, target: float, predicted: float) -> bool:
    """At 0.5 for probabilities; for regression, within CLOSE_SHARE of the targets' spread."""
    if state.regression:
        spread = (state.started.targets.get("std", 0.0) if state.started else 0.0) or 1.0
        return abs(predicted - target) <= CLOSE_SHARE * spread
    return (predicted >= THRESHOLD) == (target >= THRESHOLD)


def _probability_text(prob: float) -> str:
    """Three cells: .34, 1.0 (and nan)."""
    if prob != prob:
        return "nan"
    return "1.0" if prob >= 0.995 else f"{prob:.2f}"[1:]


class PinnedExamples(Vertical):
    """A summary line, one line per pinned text, and a label x pin matrix of predictions."""

    DEFAULT_CSS = """
    PinnedExamples {
        height: 1fr;
    }
    PinnedExamples #pins-summary {
        height: auto;
        padding: 0 1;
    }
    PinnedExamples #pins-texts {
        height: auto;
        max-height: 6;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    PinnedExamples DataTable {
        height: 1fr;
        /* the fit below counts the width inside a scrollbar: with the gutter always kept, that width does not
           change when the rows outgrow the height (it did, between two layouts, and the fit went stale) */
        scrollbar-gutter: stable;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Pinned examples"
        self.run_state: RunState | None = None
        self.live = True  # False in a replay: "ago" is then counted from the journal's last event
        self._shown: dict[tuple[str, str], object] = {}
        self._fit: tuple[int, int] = (LABEL_MIN, 5)

    def compose(self) -> ComposeResult:
        yield Static(id="pins-summary")
        yield Static(id="pins-texts")
        yield DataTable(id="pins-matrix", cursor_type="row", zebra_stripes=True)

    @property
    def matrix(self) -> DataTable:
        return self.query_one("#pins-matrix", DataTable)

    def on_mount(self) -> None:
        self.matrix.fixed_columns = 1  # a sideways scroll keeps the label names in view
        if self.run_state is not None:  # a redraw came before the children existed: draw what it had
            self.show(self.run_state)

    def on_resize(self) -> None:
        if not self.query("#pins-matrix"):  # a resize can come before the children exist
            return
        if self.run_state is not None and self._wanted_fit(self.run_state) != self._fit:
            self.show(self.run_state, rebuild=True)

    def _wanted_fit(self, state: RunState) -> tuple[int, int]:
        available = (self.matrix.scrollable_content_region.width or self.content_region.width) - 1
        longest = max((len(label) for label in state.labels), default=LABEL_MIN)
        return fit_matrix(available, longest, len(state.pins), _cell_text(state))

    def show(self, state: RunState, rebuild: bool = False) -> None:
        self.run_state = state
        if not self.query("#pins-matrix"):  # not composed yet (the app's first draw can come first)
            return
        if rebuild or self._wanted_fit(state) != self._fit:
            self._rebuild(state)
        update_static(self.query_one("#pins-summary", Static), self._summary(state))
        update_static(self.query_one("#pins-texts", Static), self._texts(state))
        self._update_cells(state)

    # -- the parts

    def _summary(self, state: RunState) -> Content:
        if not state.pins:
            return Content.styled("no pinned examples (press e to pin training rows)", "$text-muted")
        if state.pin_loss is None:
            waiting = f"{len(state.pins)} pinned, waiting for their first prediction"
            return Content.styled(waiting, "$text-muted")
        # when the numbers below were computed, on the panel's bottom edge (a line saved at 80x24)
        self.border_subtitle = self.freshness(state)
        # the gap seed 000 fell into, as the pin alarms judged it (not judged again here): the inference
        # path, or rows not learned yet
        lag, unlearned = state.verdict(PREDICTIONS_LAG), state.verdict(PINS_NOT_LEARNED)
        if lag:
            verdict = (f"  {MARKS.warning} predictions lag the loss", content_tone(self.app, "warning"))
        elif unlearned:
            rows = " ".join(f"#{row}" for row in unlearned.evidence.get("lagging_rows", []))
            verdict = (f"  {MARKS.info} not learned yet: {rows}", "italic")
        else:
            verdict = ("", "")
        return Content.assemble(
            ("pinned loss ", "bold"),
            (fmt_number(state.pin_loss, 3), "bold $text-warning" if lag else "bold"),
            " vs training ",
            f"{fmt_number(state.smoothed_loss, 3)} (smoothed)",
            verdict,
        )

    def freshness(self, state: RunState) -> str:
        """`predicted at step 37, 1 s ago`: when the numbers below were computed."""
        if state.pin_step is None:
            return ""
        when = f"predicted at step {state.pin_step}"
        # "ago" only while the clock runs: a replay's (or a finished run's) "1 s ago" never changed (#25)
        if self.live and state.ended is None and state.pin_time is not None:
            when += f", {ago(time.time() - state.pin_time)} ago"
        behind = state.step - state.pin_step
        if behind > 0:
            when += f" {MARKS.dot} {behind} step{'s' if behind > 1 else ''} behind (u: now)"
        return when

    def _texts(self, state: RunState) -> Content:
        lines = []
        for i, pin in enumerate(state.pins):
            wrong = total = 0
            loss = ""
            line = ""
            if state.pin_probs is not None and i < len(state.pin_probs):
                pairs = list(zip(pin.targets, state.pin_probs[i], strict=False))  # a journal may be odd
                total = len(pairs)
                wrong = sum(not is_right(state, t, p) for t, p in pairs)
                if state.regression and pairs:
                    target, predicted = pairs[0]
                    drawn = number_line(target, predicted, *state.value_range)
                    line = f"{fmt_number(target, 3)} → {fmt_number(predicted, 3)} {drawn} "
            if state.pin_losses is not None and i < len(state.pin_losses):
                loss = f"loss {fmt_number(state.pin_losses[i], 3)}"
            if total:
                ok = (MARKS.right, content_tone(self.app, "success"))
                mark = ok if wrong == 0 else (MARKS.wrong, f"bold reverse {content_tone(self.app, 'error')}")
                score = (f"{mark[0]} {total - wrong}/{total} ", mark[1])
            else:
                score = ("", "")
            text = pin.shown
            lines.append(
                Content.assemble(
                    (f"#{pin.index} ", "bold"), score, line, (f"{loss} ", "$text-muted"), shorten(text, 400)
                )
            )
        return Content("\n").join(lines)

    def _rebuild(self, state: RunState) -> None:
        table = self.matrix
        table.clear(columns=True)
        self._shown.clear()
        self._fit = label_width, spark_width = self._wanted_fit(state)
        table.add_column("label", key="label", width=label_width)
        for i, pin in enumerate(state.pins):
            table.add_column(f"#{pin.index}", key=f"pin{i}", width=spark_width + _cell_text(state))
        for k, label in enumerate(state.labels):
            table.add_row(shorten(label, label_width), *[""] * len(state.pins), key=f"label{k}")

    def _update_cells(self, state: RunState) -> None:
        if state.pin_probs is None:
            return
        table = self.matrix
        success, error = tone(self.app, "success"), tone(self.app, "error").replace("reverse", "").strip()
        for i, pin in enumerate(state.pins[: len(state.pin_probs)]):
            probs = state.pin_probs[i]
            for k, (target, prob) in enumerate(zip(pin.targets, probs, strict=False)):
                if k >= len(state.labels):
                    break
                right = is_right(state, target, prob)
                spark = self._fit[1]
                history = state.pin_history[i][k].values(spark) if i < len(state.pin_history) else []
                low, high = state.value_range if state.regression else (0.0, 1.0)
                shown = (
                    f"{fmt_number(target, 2)} {fmt_number(prob, 2)} "
                    if state.regression
                    else f"{_target_text(target)} {_probability_text(prob)} "
                )
                # a wrong cell is bold with its ✗ in reverse video: it stands out without colour too
                cell = Text.assemble(
                    (shown, success if right else f"bold {error}"),
                    (MARKS.right, success) if right else (MARKS.wrong, f"bold reverse {error}"),
                    " " if spark else "",
                    (sparkline(history, spark, low, high), "dim"),
                )
                key = (f"label{k}", f"pin{i}")
                if self._shown.get(key) != cell:
                    self._shown[key] = cell
                    table.update_cell(*key, cell)
