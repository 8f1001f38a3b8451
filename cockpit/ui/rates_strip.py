"""Under the loss chart: the losses as numbers, then learning rate and total gradient norm over
the run as two sparklines.

The numbers line names each curve in the chart's colours (with the loss's recent spread, for seed
002's "fluctuates wildly"); the schedule (warmup, decay, a learning rate set by hand) and the
gradient's size explain most loss curves, and two lines of blocks show them without a second chart.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from cockpit.rundir.series import History
from cockpit.ui.run_state import RunState
from cockpit.ui.series import fmt_number, fmt_sci, sparkline

LABEL_WIDTH = 18


class RatesStrip(Widget):
    DEFAULT_CSS = """
    RatesStrip {
        height: 3;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.run_state: RunState | None = None

    def show(self, state: RunState) -> None:
        self.run_state = state
        self.refresh()

    def _line(self, name: str, value: str, history: History, width: int, colour: str) -> Content:
        label = f"{name} {value}".ljust(LABEL_WIDTH)
        spark_width = max(width - LABEL_WIDTH, 0)
        return Content.assemble((label, "bold"), (sparkline(history.values(spark_width), spark_width), colour))

    def render(self) -> Content:
        state = self.run_state
        if state is None:
            return Content("")
        width = self.content_region.width
        return Content("\n").join(
            [
                self._numbers(state),
                self._line("lr", fmt_sci(state.lr), state.lr_history, width, "$primary"),
                self._line("grad norm", fmt_number(state.grad_norm, 3), state.grad_history, width, "$accent"),
            ]
        )

    def _numbers(self, state: RunState) -> Content:
        """The chart's legend with values, each name in its curve's colour."""
        parts: list[Content] = [Content.assemble(("smoothed ", "bold $primary"), fmt_number(state.smoothed_loss))]
        noise = state.loss_noise
        if noise is not None:  # how far single steps scatter around the smoothed loss (the noise alarm's measure)
            parts[0] += Content.styled(f" ±{fmt_number(noise, 3)}", "$text-muted")
        if state.pin_loss is not None:
            parts.append(Content.assemble(("pinned ", "bold $accent"), fmt_number(state.pin_loss, 3)))
        if state.last_eval is not None:
            parts.append(Content.assemble(("eval ", "bold $warning"), fmt_number(state.last_eval.loss, 3)))
        if state.started is not None:
            parts.append(Content.assemble(("constant ", "bold $error"), fmt_number(state.started.constant_loss, 3)))
        return Content("  ").join(parts)
