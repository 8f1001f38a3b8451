"""The examples browser: find training rows by their text and pin or unpin them with enter.

A pinned row's predictions are then followed live in the pinned-examples panel, so the user can
pick the very sentences they doubt (seed 000) rather than the ones chosen for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from cockpit.ui.control import ExampleRow
from cockpit.ui.series import shorten

MAX_SHOWN = 500  # a search over 100k rows must not build a 100k-row table per keystroke
TEXT_WIDTH = 200


class ExamplesScreen(Screen[None]):
    """Lists up to MAX_SHOWN matching rows; `pinned` is asked each time, so marks follow the run."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("ctrl+f", "focus_search", "Search"),
    ]

    DEFAULT_CSS = """
    ExamplesScreen #examples-search {
        margin: 0 1;
    }
    ExamplesScreen #examples-info {
        height: 1;
        padding: 0 2;
        color: $text-muted;
    }
    ExamplesScreen DataTable {
        height: 1fr;
    }
    """

    @dataclass
    class PinToggled(Message):
        """The user asked to pin (pin=True) or unpin a training row."""

        row: int
        pin: bool

    def __init__(self, examples: list[ExampleRow], pinned: Callable[[], set[int]]) -> None:
        super().__init__()
        self.examples = examples
        self.pinned = pinned
        self.requested: dict[int, bool] = {}  # row -> asked to pin (True) / unpin (False), unconfirmed
        self._matches: list[ExampleRow] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search training rows by text (enter: go to the list)", id="examples-search")
        yield Static(id="examples-info")
        yield DataTable(id="examples-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("row", key="row", width=7)
        table.add_column("pinned", key="pin", width=6)
        table.add_column("labels", key="labels", width=20)
        table.add_column("text", key="text")
        self._filter("")
        self.query_one(Input).focus()

    # -- searching

    def on_input_changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def _filter(self, query: str) -> None:
        words = query.lower().split()
        matches = [e for e in self.examples if all(w in e.text.lower() for w in words)] if words else self.examples
        self._matches = matches[:MAX_SHOWN]
        table = self.query_one(DataTable)
        table.clear()
        for example in self._matches:
            table.add_row(
                str(example.index),
                self._pin_mark(example.index),
                shorten(", ".join(example.labels), 20),
                shorten(example.text, TEXT_WIDTH),
                key=str(example.index),
            )
        more = f" (showing the first {MAX_SHOWN}: refine the search)" if len(matches) > MAX_SHOWN else ""
        self.query_one("#examples-info", Static).update(
            f"{len(matches)} of {len(self.examples)} rows{more} · enter: pin / unpin · escape: back"
        )

    def _pin_mark(self, row: int) -> Text:
        if row in self.requested:
            return Text("…", style="bold")
        return Text("●", style="bold") if row in self.pinned() else Text("")

    def forget_request(self, row: int) -> None:
        """The request was refused (e.g. read-only replay): drop its '…' mark."""
        self.requested.pop(row, None)
        self.refresh_marks()

    def refresh_marks(self) -> None:
        """Called by the app when the pin set changed: confirmed requests lose their '…'."""
        pinned = self.pinned()
        for row, wanted in list(self.requested.items()):
            if (row in pinned) == wanted:
                del self.requested[row]
        table = self.query_one(DataTable)
        for example in self._matches:
            table.update_cell(str(example.index), "pin", self._pin_mark(example.index))

    # -- pinning

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = int(str(event.row_key.value))
        pin = row not in self.pinned()
        self.requested[row] = pin
        self.query_one(DataTable).update_cell(str(row), "pin", self._pin_mark(row))
        self.post_message(self.PinToggled(row, pin))

    def action_focus_search(self) -> None:
        self.query_one(Input).focus()

    def action_close(self) -> None:
        self.dismiss()
