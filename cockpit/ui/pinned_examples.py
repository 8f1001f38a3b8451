"""Pinned training examples: what the model predicts for them, label by label, against the truth.

This is the panel seed 000 needed ("training loss 0.01, yet predictions about 0.3 for every
label"): each pinned row is predicted exactly as inference does, and every label's cell shows the
target, the predicted probability, right/wrong at 0.5 (a colour AND a ✓/✗, so it reads without
colour) and a sparkline of that probability over the run on a fixed 0..1 scale. Above the matrix,
the loss these very predictions imply sits beside the logged training loss.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static

from cockpit.ui.run_state import PREDICTIONS_LAG, RunState
from cockpit.ui.series import fmt_number, shorten, sparkline, update_static

THRESHOLD = 0.5
SPARK_WIDTH = 5
LABEL_WIDTH = 12  # with 13-cell pin columns, 4 pins fit in 80 columns


def _target_text(target: float) -> str:
    return str(int(target)) if target in (0.0, 1.0) else f"{target:.1f}"


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
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Pinned examples"
        self.run_state: RunState | None = None
        self._shown: dict[tuple[str, str], object] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="pins-summary")
        yield Static(id="pins-texts")
        yield DataTable(id="pins-matrix", cursor_type="row", zebra_stripes=True)

    @property
    def matrix(self) -> DataTable:
        return self.query_one("#pins-matrix", DataTable)

    def show(self, state: RunState, rebuild: bool = False) -> None:
        self.run_state = state
        if rebuild:
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
        train = state.smoothed_loss
        self.border_subtitle = f"predicted at step {state.pin_step} as inference does"
        # the gap seed 000 fell into, as the predictions_disagree alarm judged it (not judged again here)
        gap = state.verdict(PREDICTIONS_LAG) is not None
        return Content.assemble(
            ("pinned loss ", "bold"),
            (fmt_number(state.pin_loss, 3), "bold $text-warning" if gap else "bold"),
            " vs training ",
            f"{fmt_number(train, 3)} (smoothed)",
            ("  ⚠ predictions lag the loss" if gap else "", "bold $text-warning"),
        )

    def _texts(self, state: RunState) -> Content:
        lines = []
        for i, pin in enumerate(state.pins):
            wrong = total = 0
            loss = ""
            if state.pin_probs is not None and i < len(state.pin_probs):
                pairs = list(zip(pin.targets, state.pin_probs[i], strict=False))  # a journal may be odd
                total = len(pairs)
                wrong = sum((p >= THRESHOLD) != (t >= THRESHOLD) for t, p in pairs)
            if state.pin_losses is not None and i < len(state.pin_losses):
                loss = f"loss {fmt_number(state.pin_losses[i], 3)}"
            if total:
                mark = ("✓", "$text-success") if wrong == 0 else ("✗", "bold $text-error")
                score = (f"{mark[0]} {total - wrong}/{total} ", mark[1])
            else:
                score = ("", "")
            lines.append(
                Content.assemble((f"#{pin.index} ", "bold"), score, (f"{loss} ", "$text-muted"), shorten(pin.text, 400))
            )
        return Content("\n").join(lines)

    def _rebuild(self, state: RunState) -> None:
        table = self.matrix
        table.clear(columns=True)
        self._shown.clear()
        table.add_column("label", key="label", width=LABEL_WIDTH)
        for i, pin in enumerate(state.pins):
            table.add_column(f"#{pin.index}", key=f"pin{i}", width=SPARK_WIDTH + 8)
        for k, label in enumerate(state.labels):
            table.add_row(shorten(label, LABEL_WIDTH), *[""] * len(state.pins), key=f"label{k}")

    def _update_cells(self, state: RunState) -> None:
        if state.pin_probs is None:
            return
        table = self.matrix
        success = self.app.theme_variables.get("text-success", "green")
        error = self.app.theme_variables.get("text-error", "red")
        for i, pin in enumerate(state.pins[: len(state.pin_probs)]):
            probs = state.pin_probs[i]
            for k, (target, prob) in enumerate(zip(pin.targets, probs, strict=False)):
                if k >= len(state.labels):
                    break
                right = (prob >= THRESHOLD) == (target >= THRESHOLD)
                history = state.pin_history[i][k].values(SPARK_WIDTH) if i < len(state.pin_history) else []
                cell = Text.assemble(
                    (
                        f"{_target_text(target)} {_probability_text(prob)} ",
                        success if right else f"bold {error}",
                    ),
                    ("✓" if right else "✗", success if right else f"bold {error}"),
                    " ",
                    (sparkline(history, SPARK_WIDTH, 0.0, 1.0), "dim"),
                )
                key = (f"label{k}", f"pin{i}")
                if self._shown.get(key) != cell:
                    self._shown[key] = cell
                    table.update_cell(*key, cell)
