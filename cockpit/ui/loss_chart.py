"""The loss chart: raw and smoothed training loss, eval loss, the pinned examples' loss and the
loss of a constant predictor, on one set of axes.

Seed 002 ("the loss fluctuates wildly") needs raw beside smoothed; seed 000 ("loss 0.01, yet
predictions 0.3") needs the pinned examples' loss, computed the way inference computes it, beside
the training loss; the constant-predictor line says whether the model learned anything at all.
"""

from __future__ import annotations

import itertools
import math

from textual.color import Color
from textual_plotext import PlotextPlot

from cockpit.ui.look import MARKS
from cockpit.ui.run_state import RunState

# Each series has its own marker as well as its own colour, so the chart reads with NO_COLOR or
# on a 16-colour terminal: raw losses are dots, the smoothed loss a braille line, the pinned
# examples' loss (eval mode) a line of +, eval losses diamonds; the constant line is labelled. The
# legend is not drawn inside the plot, where it covered the first steps (#25): the line under the
# chart (`RatesStrip`) names each marker with its value.
GAP_ALARM = "predictions_disagree"  # the rule that judges whether the pinned loss lags the training loss
HEADROOM = 0.25  # the x axis runs this much past the last step seen (at least 10 steps), up to the run's end


def x_span(last_step: float, total_steps: int) -> int:
    """The x axis's end: the steps seen so far and some room for the next ones, never past the run's end.

    It used to be the run's whole length, so early in a run every point sat in the left tenth (#25).
    """
    end = max(last_step * (1 + HEADROOM), last_step + 10, 10)
    if total_steps:
        end = min(end, max(total_steps, last_step))
    return max(int(math.ceil(end)), 1)


def integer_ticks(end: int, room: int) -> list[int]:
    """Round step numbers for the x axis (1, 2 or 5 times a power of ten apart), at most `room` of them
    (plotext's own ticks fell on 37.5 and 112.5 for integer steps)."""
    step, factors = 1, itertools.cycle((2.0, 2.5, 2.0))  # 1, 2, 5, 10, 20, 50, 100, ...
    while end // step + 1 > max(room, 2):
        step = round(step * next(factors))
    return list(range(0, end + 1, step))


class LossChart(PlotextPlot):
    """Redrawn only by `draw`, which the app calls at most twice a second, and only on change."""

    DEFAULT_CSS = """
    LossChart {
        height: 1fr;
        min-height: 5;
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
            plt.scatter(raw_x, raw_y, marker=MARKS.raw_marker, color=self._colour("foreground-darken-3"))
        if smooth_x:
            plt.plot(smooth_x, smooth_y, marker=MARKS.smooth_marker, color=self._colour("primary"))
        if pin_x:
            plt.plot(pin_x, pin_y, marker=MARKS.pinned_marker, color=self._colour("accent"))
        if eval_x:
            plt.scatter(eval_x, eval_y, marker=MARKS.eval_marker, color=self._colour("warning"))
        end = x_span(raw_x[-1] if raw_x else 0, state.total_steps)
        if started is not None and raw_x:
            # the label at the right end, where the headroom keeps the plot empty
            constant = started.constant_loss
            plt.plot([0, end], [constant, constant], marker=MARKS.rule, color=self._colour("error"))
            canvas = self._colour("surface")  # textual-plotext's canvas: plotext paints a text's cells white
            plt.text("constant", x=end, y=constant, alignment="right", color=self._colour("error"), background=canvas)
        gap = self.gap_label(state)
        if gap and pin_x:
            warning, canvas = self._colour("warning"), self._colour("surface")
            plt.text(gap, x=pin_x[-1], y=pin_y[-1], alignment="right", color=warning, background=canvas)
        plt.xlim(0, end)
        plt.frame(MARKS.plot_frame)
        ticks = integer_ticks(end, max(width // 10, 2))
        plt.xticks(ticks, [str(t) for t in ticks])
        if self.content_region.height >= 16:  # a small chart keeps its rows for the curves
            plt.xlabel("step")
        self.refresh()
        return True

    @staticmethod
    def gap_label(state: RunState) -> str:
        """`gap 0.44 ⚠`, named on the chart only while the alarm rule says the gap is large."""
        alarm = state.active_alarms.get(GAP_ALARM)
        if alarm is None or state.pin_loss is None or state.smoothed_loss is None:
            return ""
        return f"gap {state.pin_loss - state.smoothed_loss:.2f} {MARKS.warning} "

    def on_resize(self) -> None:
        """First layout (or a view switch in the compact layout): draw what was waiting."""
        if self._waiting and self.run_state is not None:
            self.draw(self.run_state)
