"""The flags the runs differ by, and only those: a row per flag, a column per run."""

from __future__ import annotations

from typing import Any

from textual.content import Content

from cockpit.ui.compare_panel import ComparePanel, run_colour_variable
from cockpit.ui.compare_state import ComparedRun, config_diff
from cockpit.ui.series import shorten

VALUE_WIDTH = 28


def shown_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "(none)"
    return str(value)


class CompareConfig(ComparePanel):
    @staticmethod
    def table(runs: list[ComparedRun], width: int = 80) -> Content:
        diff = config_diff(runs)
        if not diff:
            waiting = any(run.state.started is None for run in runs)
            return Content.styled("waiting for the runs to start" if waiting else "same flags", "$text-muted")
        flag_width = max(len(name) for name in diff) + 2
        lines = []
        for name, values in diff.items():
            line = Content.styled(f"--{name.replace('_', '-'):<{flag_width}}", "bold")
            for position, (run, value) in enumerate(zip(runs, values, strict=True)):
                line += Content.assemble(
                    (f" {run.glyph} ", f"${run_colour_variable(position)}"),
                    f"{shorten(shown_value(value), VALUE_WIDTH)}",
                )
            lines.append(line)
        return Content("\n").join(lines)
