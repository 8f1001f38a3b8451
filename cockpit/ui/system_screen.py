"""`m`: the machine view, over the cockpit; escape or `m` goes back. The app redraws it when a
system sample or an OOM retry arrives."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from cockpit.ui.run_state import RunState
from cockpit.ui.system_panel import SystemPanel


class SystemScreen(Screen[None]):
    BINDINGS = [Binding("escape,m", "close", "Back")]

    DEFAULT_CSS = """
    SystemScreen VerticalScroll {
        border: round $primary;
        border-title-color: $text-primary;
        border-title-style: bold;
    }
    """

    def __init__(self, state: RunState) -> None:
        super().__init__()
        self.run_state = state

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Machine"
            yield SystemPanel(id="system-panel")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.show(self.run_state)

    def show(self, state: RunState) -> None:
        self.query_one(SystemPanel).show(state)

    def action_close(self) -> None:
        self.dismiss()
