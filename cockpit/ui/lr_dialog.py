"""A small input for setting the learning rate by hand; the number is checked before it is sent."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from cockpit.ui.series import fmt_sci


def parse_learning_rate(text: str) -> float:
    """The learning rate typed by the user; ValueError with a readable reason if it is not one."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"not a number: {text.strip()!r} (e.g. 2e-5)") from None
    if not math.isfinite(value) or not 0 < value < 1:
        raise ValueError(f"a learning rate must be between 0 and 1, got {text.strip()}")
    return value


class LearningRateDialog(ModalScreen[float | None]):
    """Dismissed with the new learning rate, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#lr-input"

    DEFAULT_CSS = """
    LearningRateDialog {
        align: center middle;
    }
    LearningRateDialog Label {
        width: 100%;
    }
    LearningRateDialog > Vertical {
        width: 56;
        max-width: 90%;
        height: auto;
        padding: 1 2;
        border: thick $primary;
        background: $surface;
    }
    LearningRateDialog #lr-error {
        color: $text-error;
        height: auto;
    }
    """

    def __init__(self, peak: float | None, current: float | None) -> None:
        super().__init__()
        self.peak = peak
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                f"[b]Learning rate[/b] (the schedule's peak, now {fmt_sci(self.peak)}; "
                f"at this step {fmt_sci(self.current)}). Warmup and decay keep their shape."
            )
            yield Input(value=f"{self.peak:g}" if self.peak else "", placeholder="e.g. 2e-5", id="lr-input")
            yield Label("", id="lr-error")
            yield Label("[dim]enter: set    escape: cancel[/dim]")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            value = parse_learning_rate(event.value)
        except ValueError as exc:
            self.query_one("#lr-error", Label).update(str(exc))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
