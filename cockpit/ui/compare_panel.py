"""What the comparison's text panels share: each run's colour, and a panel redrawn from the runs."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from cockpit.ui.compare_state import ComparedRun
from cockpit.ui.series import update_static

# Theme colours of the runs, in order (their glyphs tell them apart where colour does not).
RUN_COLOURS = ("primary", "warning", "success", "error", "accent", "secondary", "foreground", "foreground-darken-3")


def run_colour_variable(position: int) -> str:
    return RUN_COLOURS[position % len(RUN_COLOURS)]


class ComparePanel(Static):
    """A Static that shows `table(runs, width)`; redrawn by the app when a run changed."""

    DEFAULT_CSS = """
    ComparePanel {
        height: auto;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, runs: list[ComparedRun]) -> None:
        update_static(self, self.table(runs, self.content_region.width or 80))

    @staticmethod
    def table(runs: list[ComparedRun], width: int) -> Content:
        raise NotImplementedError
