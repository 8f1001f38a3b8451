"""Alarms and the run's log, newest first: alarms (in their severity's colour, with the advice),
notices, commands as they took effect, checkpoints, pauses and the end of the run."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from cockpit.ui.look import MARKS, tone
from cockpit.ui.run_state import LogEntry, RunState

LOOK = {
    # kind: (the glyph's name in MARKS, its meaning); glyphs keep the log readable without colour
    "notice": ("info", "info"),
    "command": ("command", ""),
    "checkpoint": ("checkpoint", "info"),
    "state": ("state", "info"),
    "cleared": ("cleared", "success"),
    "end": ("stopped", ""),
    "error": ("error", "error"),
}
# an alarm's head: glyph, word, meaning; each severity differs by glyph, word and weight, not only colour
ALARM_HEAD = {
    "error": ("error", "ERROR", "error"),
    "warning": ("warning", "WARNING", "warning"),
    "info": ("info", "NOTE", "info"),
}


class EventLog(VerticalScroll):
    """A two-column grid (step | entry) so that long alarms wrap under their own text.

    `filter_text` (set by `/`) keeps the entries whose words hold it, as a pager's search would.
    """

    DEFAULT_CSS = """
    EventLog > Static {
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Alarms & log"
        self.filter_text = ""
        self.run_state: RunState | None = None

    def compose(self) -> ComposeResult:
        yield Static("nothing yet", id="log-body")

    def on_mount(self) -> None:
        if self.run_state is not None:  # a redraw came before the body existed: draw what it had
            self.show(self.run_state)

    def filter(self, text: str) -> None:
        """Show only the entries that hold `text` (ignoring case); "" shows them all."""
        self.filter_text = text
        self.border_subtitle = f"/{text}" if text else ""
        if self.run_state is not None:
            self.show(self.run_state)

    def show(self, state: RunState) -> None:
        self.run_state = state
        if not state.log or not self.query("#log-body"):  # not composed yet: on_mount draws it
            return
        wanted = self.filter_text.lower()
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", width=6, style="dim")
        grid.add_column(ratio=1)
        shown = 0
        for entry in state.log:
            if wanted and wanted not in f"{entry.kind} {entry.title} {entry.detail} {entry.severity}".lower():
                continue
            grid.add_row(str(entry.step), self._entry(entry))
            shown += 1
        body = self.query_one("#log-body", Static)
        body.update(grid if shown else Text(f"no entry holds {self.filter_text!r} (escape clears the filter)"))

    def _entry(self, entry: LogEntry) -> Text:
        if entry.kind == "alarm":
            glyph, word, meaning = ALARM_HEAD.get(entry.severity, ALARM_HEAD["warning"])
            if entry.cleared_at is not None:
                return Text.assemble(
                    (f"{getattr(MARKS, glyph)} {entry.title}", "dim strike"),
                    (f"  ({MARKS.cleared} cleared at step {entry.cleared_at})", "dim"),
                )
            style = tone(self.app, meaning)
            text = Text.assemble(
                (f"{getattr(MARKS, glyph)} {word}", f"bold {style}"),
                (f" {entry.title}", f"bold {style.replace('reverse', '').strip()}"),
            )
            if entry.detail:
                text.append(f"\n{MARKS.arrow} {entry.detail}", style=style.replace("reverse", "").replace("bold", ""))
            return text
        glyph, meaning = LOOK.get(entry.kind, ("state", ""))
        if entry.severity in ("warning", "error"):
            meaning = entry.severity
        style = tone(self.app, meaning) if meaning else ""
        text = Text(f"{getattr(MARKS, glyph)} {entry.title}", style=style)
        if entry.detail:
            text.append(f"  {entry.detail}", style="dim")
        return text
