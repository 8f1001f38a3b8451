"""`t` asks before keeping per-label thresholds: which ones, from how big an evaluation, and where.

Thresholds picked on a small eval split (or from a model that predicts nothing) are noise; the
dialog shows the eval's size beside them so the user can judge before they end up in the model.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from cockpit.contract.events import EvalResult

FEW_ROWS = 100  # fewer eval rows than this: one row moves a label's F1 by several points


def thresholds_table(result: EvalResult) -> Content:
    width = max([len(label) for label in result.thresholds] + [5])
    lines = [Content.styled(f"{'label':<{width}}   thr    F1  (at 0.5)", "bold underline")]
    for label, best in result.thresholds.items():
        lines.append(
            Content(
                f"{label:<{width}}  {best.get('threshold', 0.5):4.2f}  {best.get('f1', 0.0):4.2f}"
                f"  ({best.get('f1_at_half', 0.0):.2f})"
            )
        )
    return Content("\n").join(lines)


class ThresholdsDialog(ModalScreen[bool]):
    """Dismissed with True to save, False to leave the model as it is."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Save"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    DEFAULT_CSS = """
    ThresholdsDialog {
        align: center middle;
    }
    ThresholdsDialog > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        padding: 0 1;
        border: thick $primary;
        background: $surface;
    }
    ThresholdsDialog VerticalScroll {
        height: auto;
        max-height: 20;
    }
    ThresholdsDialog Label {
        width: 100%;
    }
    ThresholdsDialog #thresholds-warning {
        color: $text-warning;
        text-style: bold;
    }
    ThresholdsDialog #thresholds-keys {
        color: $text-muted;
    }
    """

    def __init__(self, result: EvalResult, destination: str) -> None:
        super().__init__()
        self.result = result
        self.destination = destination

    def compose(self) -> ComposeResult:
        result = self.result
        with Vertical():
            yield Label(
                f"[b]Save these per-label thresholds with the model?[/b]\n"
                f"From the evaluation at step {result.step} on {result.rows} eval rows; "
                f"each maximises that label's F1 there."
            )
            if result.rows < FEW_ROWS:
                yield Label(
                    f"⚠ only {result.rows} eval rows: these thresholds are noisy "
                    "(a larger --eval-split or --eval file makes them trustworthy)",
                    id="thresholds-warning",
                )
            with VerticalScroll():
                yield Static(thresholds_table(result), id="thresholds-table")
            yield Label(f"→ {self.destination}", markup=False)
            yield Label("y / enter: save    n / escape: cancel", id="thresholds-keys")

    def action_answer(self, save: bool) -> None:
        self.dismiss(save)
