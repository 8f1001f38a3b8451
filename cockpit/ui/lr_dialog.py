"""A small input for setting the learning rate by hand; the number is checked before it is sent, and
one far above the run's starting learning rate is asked about once more (#25: 0.5, 10,000x the
default, went through without a question)."""

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


# Above this many times the run's starting learning rate, a new one is set only when entered twice:
# fine-tuning rates span about 1e-6 to 1e-3, so 100x the start is almost always a slipped exponent.
CONFIRM_ABOVE = 100


class AskTwice:
    """A value that needs a question is taken on the second enter of the same value."""

    def __init__(self) -> None:
        self._asked: object = None

    def asking(self, value: object, question: str) -> bool:
        """True (ask now: show `question`) on the first enter of `value`; False once asked, or with no question."""
        if not question or self._asked == value:
            return False
        self._asked = value
        return True


def lr_needs_confirming(lr: float, start_lr: float | None) -> str:
    """The question to ask before setting `lr` (enter again to set it), or "" when none is needed."""
    if not start_lr or lr <= CONFIRM_ABOVE * start_lr:
        return ""
    return (
        f"{lr:g} is {lr / start_lr:,.0f}x the run's starting learning rate ({start_lr:g}); such a jump "
        "usually diverges. Enter again to set it, escape to cancel."
    )


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

    def __init__(self, peak: float | None, current: float | None, start: float | None = None) -> None:
        super().__init__()
        self.peak = peak
        self.current = current
        self.start = start  # the run's starting learning rate (its --lr)
        self._ask = AskTwice()

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
        error = self.query_one("#lr-error", Label)
        try:
            value = parse_learning_rate(event.value)
        except ValueError as exc:
            error.update(str(exc))
            return
        question = lr_needs_confirming(value, self.start)
        if self._ask.asking(value, question):
            error.update(question)
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
