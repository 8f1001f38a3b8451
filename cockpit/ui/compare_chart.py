"""The comparison's chart: one series of every run on a shared step axis, with the runs' commands
marked where they took effect.

Each run keeps its glyph (● ▲ ■ ...) as its curve's marker and its colour, so two curves read apart
without colour. A command that changed the training (freeze, unfreeze, lr, pause, resume,
pos_weight) is a vertical line in its run's colour at the first step it applied to, labelled with
the run's glyph and the command.
"""

from __future__ import annotations

import math

from textual.color import Color
from textual_plotext import PlotextPlot

from cockpit.rundir.series import History
from cockpit.ui.compare_panel import run_colour_variable
from cockpit.ui.compare_state import ComparedRun

# chart -> its title; `c` cycles through them in this order
CHARTS: dict[str, str] = {
    "loss": "training loss (smoothed)",
    "eval": "evaluation",
    "lr": "learning rate",
    "grad": "gradient norm of a layer group",
    "update": "relative update of a layer group (‖Δw‖/‖w‖, log scale: a frozen step's 0 is not drawn)",
}


def series(run: ComparedRun, chart: str, group: str, metric: str, limit: int) -> tuple[list[float], list[float]]:
    """(steps, values) of `run` for `chart`: at most `limit` points spread over the run."""
    state = run.state
    if chart == "loss":
        return state.smoothed_history.points(limit)
    if chart == "eval":
        return run.eval_series(metric)
    if chart == "lr":
        return state.lr_history.points(limit)
    history: History | None = None
    if chart == "grad" and group in state.layers:
        history = state.layers[group].grad_history
    elif chart == "update":
        history = run.updates.get(group)
    if history is None:
        return [], []
    xs, ys = history.points(limit)
    if chart == "update":  # log scale: a frozen group's exact 0 has no place on it
        kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
        return [x for x, _ in kept], [y for _, y in kept]
    return xs, ys


class CompareChart(PlotextPlot):
    """Redrawn by `draw` only (the app calls it when a run changed, at most once a second)."""

    DEFAULT_CSS = """
    CompareChart {
        height: 1fr;
        min-height: 8;
    }
    """

    _args: tuple[list[ComparedRun], str, str, str] | None = None

    def colour(self, position: int) -> tuple[int, int, int]:
        variable = run_colour_variable(position)
        return Color.parse(self.app.theme_variables.get(variable, "#888888")).rgb

    def draw(self, runs: list[ComparedRun], chart: str, group: str, metric: str) -> bool:
        """Replot; False while the chart has no size yet (it draws on its first resize)."""
        self._args = (runs, chart, group, metric)
        width = self.content_region.width
        if width <= 0 or not self.display:
            return False
        limit = max(width, 16)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        top, bottom, end = -math.inf, math.inf, 1.0
        for position, run in enumerate(runs):
            xs, ys = series(run, chart, group, metric, limit)
            if not xs:
                continue
            # evaluations are points in time: a line between them would draw evaluations that never ran
            draw = plt.scatter if chart == "eval" else plt.plot
            draw(xs, ys, marker=run.glyph, color=self.colour(position), label=f"{run.glyph} {run.label}")
            top, bottom, end = max(top, max(ys)), min(bottom, min(ys)), max(end, xs[-1])
        end = max([end] + [run.state.total_steps for run in runs])
        if chart == "update":
            plt.yscale("log")
        if math.isfinite(top):
            for position, run in enumerate(runs):
                for mark in run.marks:
                    plt.vline(mark.step, color=self.colour(position))
                    plt.text(
                        f"{run.glyph}{mark.command}", x=mark.step, y=top, alignment="left", color=self.colour(position)
                    )
        plt.xlim(0, end)
        if self.content_region.height >= 12:
            plt.xlabel("step")
        self.refresh()
        return True

    def on_resize(self) -> None:
        if self._args is not None:
            self.draw(*self._args)
