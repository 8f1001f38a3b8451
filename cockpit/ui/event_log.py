"""Alarms and the run's log, newest first: alarms (in their severity's colour, with the advice),
notices, commands as they took effect, checkpoints, pauses and the end of the run."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from cockpit.ui.run_state import LogEntry, RunState

LOOK = {
    # kind: (symbol, theme colour variable); symbols keep the log readable without colour
    "notice": ("ℹ", "text-secondary"),
    "command": ("⌘", "text-primary"),
    "checkpoint": ("◆", "text-secondary"),
    "state": ("⏵", "text-secondary"),
    "cleared": ("✓", "text-success"),
    "end": ("■", "foreground"),
    "error": ("✖", "text-error"),
}


class EventLog(VerticalScroll):
    """A two-column grid (step | entry) so that long alarms wrap under their own text."""

    DEFAULT_CSS = """
    EventLog > Static {
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Alarms & log"

    def compose(self) -> ComposeResult:
        yield Static("nothing yet", id="log-body")

    def show(self, state: RunState) -> None:
        if not state.log:
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", width=6, style="dim")
        grid.add_column(ratio=1)
        for entry in state.log:
            grid.add_row(str(entry.step), self._entry(entry))
        self.query_one("#log-body", Static).update(grid)

    def _colour(self, variable: str) -> str:
        return self.app.theme_variables.get(variable, "")

    def _entry(self, entry: LogEntry) -> Text:
        if entry.kind == "alarm":
            if entry.cleared_at is not None:
                return Text.assemble(
                    (f"⚠ {entry.title}", "dim strike"), (f"  (cleared at step {entry.cleared_at})", "dim")
                )
            colour = self._colour("text-error" if entry.severity == "error" else "text-warning")
            symbol = "✖" if entry.severity == "error" else "⚠"
            text = Text.assemble(
                (f"{symbol} {entry.severity.upper()}", f"bold reverse {colour}"),
                (f" {entry.title}", f"bold {colour}"),
            )
            if entry.detail:
                text.append(f"\n→ {entry.detail}", style=colour)
            return text
        symbol, variable = LOOK.get(entry.kind, ("·", "foreground"))
        colour = self._colour("text-warning" if entry.severity == "warning" else variable)
        if entry.severity == "error":
            colour = f"bold {self._colour('text-error')}"
        text = Text(f"{symbol} {entry.title}", style=colour)
        if entry.detail:
            text.append(f"  {entry.detail}", style="dim")
        return text
