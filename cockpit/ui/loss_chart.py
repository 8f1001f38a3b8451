"""The loss chart: raw and smoothed training loss, eval loss, the pinned examples' loss and the
loss of a constant predictor, on one set of axes.

Seed 002 ("the loss fluctuates wildly") needs raw beside smoothed; seed 000 ("loss 0.01, yet
predictions 0.3") needs the pinned examples' loss, computed the way inference computes it, beside
the training loss; the constant-predictor line says whether the model learned anything at all.
"""

from __future__ import annotations

from textual.color import Color
from textual_plotext import PlotextPlot

from cockpit.ui.run_state import RunState


class LossChart(PlotextPlot):
    """Redrawn only by `draw`, which the app calls at most twice a second, and only on change."""

    DEFAULT_CSS = """
    LossChart {
        height: 1fr;
        min-height: 8;
    }
    """

    def _colour(self, variable: str) -> tuple[int, int, int]:
        return Color.parse(self.app.theme_variables.get(variable, "#888888")).rgb

    run_state: RunState | None = None
    _waiting = False  # a draw was asked for while the chart had no size yet

    def draw(self, state: RunState) -> bool:
        """Replot from the state's histories; False (nothing drawn) while the chart has no size."""
        self.run_state = state
        width = self.content_region.width
        self._waiting = width <= 0 or not self.display
        if self._waiting:
            return False
        limit = max(2 * width, 16)  # braille dots: two per cell across
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        started = state.started

        raw_x, raw_y = state.loss_history.points(limit)
        smooth_x, smooth_y = state.smoothed_history.points(limit)
        eval_x, eval_y = state.eval_losses.points(limit)
        pin_x, pin_y = state.pinned_losses.points(limit)
        if raw_x:
            plt.scatter(raw_x, raw_y, marker="braille", color=self._colour("foreground-darken-3"), label="loss")
        if smooth_x:
            plt.plot(smooth_x, smooth_y, marker="braille", color=self._colour("primary"), label="smoothed")
        if pin_x:
            plt.plot(pin_x, pin_y, marker="braille", color=self._colour("accent"), label="pinned")
        if eval_x:
            plt.scatter(eval_x, eval_y, marker="◆", color=self._colour("warning"), label="eval")
        if started is not None and raw_x:
            plt.hline(started.constant_loss, color=self._colour("error"))
        total = state.total_steps
        if total:
            plt.xlim(0, max(total, raw_x[-1] if raw_x else 1))
        plt.xlabel("step")
        self.refresh()
        return True

    def on_resize(self) -> None:
        """First layout (or a view switch in the compact layout): draw what was waiting."""
        if self._waiting and self.run_state is not None:
            self.draw(self.run_state)
