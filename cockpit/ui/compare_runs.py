"""The comparison's table: a row per run, with the numbers that say which is better.

Its glyph (the run's marker on the chart), the run, its state, steps, wall time, the smoothed
training loss, the last and the best evaluation (by micro-F1), and the commands it took.
"""

from __future__ import annotations

from textual.content import Content

from cockpit.contract.events import headline_metric
from cockpit.ui.compare_panel import ComparePanel, run_colour_variable
from cockpit.ui.compare_state import ComparedRun
from cockpit.ui.series import fmt_duration, fmt_number

RUN_WIDTH = 40


def shorten_left(text: str, width: int) -> str:
    """A run directory cut from the left: its last parts are what tell two runs apart."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def _eval_cell(metrics: dict[str, float] | None, step: int | None) -> str:
    headline = headline_metric(metrics) if metrics else None
    return f"{headline[1]:.3f} @{step}" if headline else "-"


class CompareRuns(ComparePanel):
    @staticmethod
    def table(runs: list[ComparedRun], width: int = 80) -> Content:
        metric = next((h[0] for r in runs for e in r.evals if (h := headline_metric(e.metrics))), "eval")
        name = metric.replace("_", "-")
        width = min(RUN_WIDTH, max([len(r.label) for r in runs] + [3]))
        header = (
            f"  {'run':<{width}} {'state':<12} {'step':>11} {'wall':>7} {'smoothed':>8} "
            f"{'last ' + name:>14} {'best ' + name:>14}  commands"
        )
        lines = [Content.styled(header, "bold underline")]
        for position, run in enumerate(runs):
            state = run.state
            last = run.evals[-1] if run.evals else None
            best = run.best_eval()
            steps = f"{state.step}/{state.total_steps}" if state.total_steps else str(state.step)
            commands = ", ".join(f"{m.step}:{m.command}" for m in run.marks) or "-"
            lines.append(
                Content.assemble(
                    (f"{run.glyph} ", f"bold ${run_colour_variable(position)}"),
                    f"{shorten_left(run.label, width):<{width}} {state.state:<12} {steps:>11} "
                    f"{fmt_duration(run.wall_s):>7} {fmt_number(state.smoothed_loss, 3):>8} "
                    f"{_eval_cell(last.metrics if last else None, last.step if last else None):>14} "
                    f"{(f'{best[1]:.3f} @{best[2]}' if best else '-'):>14}  {commands}",
                )
            )
        return Content("\n").join(lines)
