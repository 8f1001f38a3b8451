"""Under the loss chart: the chart's legend with each curve's value, then learning rate and total
gradient norm over the run as two sparklines.

The legend line names each curve by its marker, in the chart's colours (with the loss's recent
spread, for seed 002's "fluctuates wildly"); drawn here, it covers no point of the chart (#25), and
it stays when a small terminal hides the sparklines. The schedule (warmup, decay, a learning rate
set by hand) and the gradient's size explain most loss curves, and two lines of blocks show them
without a second chart.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from cockpit.rundir.series import History
from cockpit.ui.look import MARKS
from cockpit.ui.run_state import RunState
from cockpit.ui.series import fmt_number, fmt_sci, sparkline

LABEL_WIDTH = 18


class RatesStrip(Widget):
    DEFAULT_CSS = """
    RatesStrip {
        height: 3;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: clip;
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
        """The chart's legend with values: each curve's marker and name in its colour; on a narrow
        panel the raw loss (also in the status bar) goes first, then the spread."""
        loss = Content.assemble((f"{MARKS.raw_marker * 2} loss ", "bold"), fmt_number(state.loss, 3))
        smoothed = Content.assemble((f"{MARKS.smooth_legend * 2} smoothed ", "bold $primary"))
        smoothed += fmt_number(state.smoothed_loss)
        noise = state.loss_noise  # how far single steps scatter around the smoothed loss (the noise alarm's measure)
        spread = Content.styled(f" ±{fmt_number(noise, 3)}", "$text-muted") if noise is not None else Content("")
        # (marker, name, value, style) of the other curves; narrow, their names go, then the constant
        curves = []
        if state.pin_loss is not None:
            curves.append((MARKS.pinned_marker * 2, "pinned", fmt_number(state.pin_loss, 3), "bold $accent"))
        if state.last_eval is not None:
            curves.append((MARKS.eval_marker, "eval", fmt_number(state.last_eval.loss, 3), "bold $warning"))
        if state.started is not None:
            constant = fmt_number(state.started.constant_loss, 3)
            curves.append((MARKS.rule * 2, "constant", constant, "bold $error"))
        named = [Content.assemble((f"{m} {name} ", style), value) for m, name, value, style in curves]
        bare = [Content.assemble((f"{m} ", style), value) for m, _name, value, style in curves]
        width = self.content_region.width or 1000
        tries = [[loss, smoothed + spread, *named], [smoothed + spread, *named], [smoothed, *named]]
        tries += [[smoothed, *bare], [smoothed, *bare[:-1]]]
        for parts in tries:
            line = Content("  ").join(parts)
            if line.cell_length <= width:
                break
        return line
