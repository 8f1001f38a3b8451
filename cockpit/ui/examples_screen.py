"""The examples browser: find rows by their text and pin or unpin training rows with enter.

A pinned row's predictions are then followed live in the pinned-examples panel, so the user can
pick the very sentences they doubt (seed 000) rather than the ones chosen for them. Rows of the eval
split are listed too (an attached cockpit reads the whole file), marked `eval`: enter on one says
here why it cannot be pinned instead of sending a command the run would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState

from cockpit.contract.control import ExampleRow
from cockpit.ui.look import MARKS
from cockpit.ui.series import shorten

MAX_SHOWN = 500  # a search over 100k rows must not build a 100k-row table per keystroke
TEXT_WIDTH = 200
SEARCH_IN_HANDLER_ROWS = 20_000  # up to this many rows a search takes milliseconds: done as the key is typed
SEARCH_DELAY_S = 0.15  # above it, a search starts once typing pauses this long, in a worker thread


def search_rows(examples: Sequence[Any], query: str, limit: int) -> tuple[int, list[Any]]:
    """(rows holding every word of `query`, ignoring case; the first `limit` of them).

    The training rows (`TrainingExamples`) search their Arrow texts vectorised; a plain list is scanned.
    """
    search = getattr(examples, "search", None)
    if search is not None:
        return search(query, limit)
    words = query.lower().split()
    matches = [e for e in examples if all(w in e.text.lower() for w in words)] if words else examples
    return len(matches), list(matches[:limit])


class ExamplesScreen(Screen[None]):
    """Lists up to MAX_SHOWN matching rows; `pinned` is asked each time, so marks follow the run.

    Above SEARCH_IN_HANDLER_ROWS rows a search never runs in the key handler: typing restarts a short
    timer, and when it fires the search runs in a thread worker; a result that a newer query has
    overtaken is dropped, so the table always shows the latest query's rows.
    """

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("slash,ctrl+f", "focus_search", "Search"),
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

    def __init__(self, examples: Sequence[ExampleRow], pinned: Callable[[], set[int]]) -> None:
        super().__init__()
        self.examples = examples
        self.pinned = pinned
        self.requested: dict[int, bool] = {}  # row -> asked to pin (True) / unpin (False), unconfirmed
        self._matches: list[ExampleRow] = []
        self._total = len(examples)
        self._query = ""  # the latest query typed; only its result is shown
        self._timer: Timer | None = None
        self._searching: str | None = None  # the query a worker is searching, if any

    @property
    def searching(self) -> bool:
        """A search is waiting for typing to pause, or running."""
        return self._timer is not None or self._searching is not None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search training rows by text (enter: go to the list)", id="examples-search")
        yield Static(id="examples-info")
        yield DataTable(id="examples-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("row", key="row", width=7)
        table.add_column("split", key="split", width=5)
        table.add_column("pinned", key="pin", width=6)
        table.add_column("labels", key="labels", width=20)
        table.add_column("text", key="text")
        self._filter("")
        self.query_one(Input).focus()

    # -- searching

    def on_input_changed(self, event: Input.Changed) -> None:
        self._query = event.value
        if self._total <= SEARCH_IN_HANDLER_ROWS:
            self._filter(event.value)
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(SEARCH_DELAY_S, self._start_search)
        self._info(f"searching {self._total} rows ...")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def _start_search(self) -> None:
        self._timer = None
        if self._searching == self._query:
            return  # already on it
        self._searching = query = self._query
        self.run_worker(
            lambda: (query, *search_rows(self.examples, query, MAX_SHOWN)),
            name="examples-search",
            group="examples-search",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "examples-search":
            return
        event.stop()
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        if event.state == WorkerState.ERROR:
            self._searching = None
            self._info(f"search failed: {event.worker.error}")
            return
        query, count, rows = event.worker.result
        if query != self._searching:
            return  # a cancelled, overtaken search
        self._searching = None
        if query != self._query:
            if self._timer is None:
                self._start_search()  # typed on while it ran, and no timer is pending: search the latest
            return
        self._show(count, rows)

    def _filter(self, query: str) -> None:
        self._show(*search_rows(self.examples, query, MAX_SHOWN))

    def _show(self, count: int, rows: list[ExampleRow]) -> None:
        self._matches = rows
        table = self.query_one(DataTable)
        table.clear()
        for example in self._matches:
            table.add_row(
                str(example.index),
                Text(example.split, style="bold" if example.split == "train" else "dim italic"),
                self._pin_mark(example.index),
                shorten(", ".join(example.labels), 20),
                shorten(example.text, TEXT_WIDTH),
                key=str(example.index),
            )
        more = f" (showing the first {MAX_SHOWN}: refine the search)" if count > MAX_SHOWN else ""
        self._info(f"{count} of {self._total} rows{more} {MARKS.dot} enter: pin / unpin {MARKS.dot} escape: back")

    def _info(self, text: str) -> None:
        self.query_one("#examples-info", Static).update(text)

    def _pin_mark(self, row: int) -> Text:
        if row in self.requested:
            return Text(MARKS.pending, style="bold")
        return Text(MARKS.pinned, style="bold") if row in self.pinned() else Text("")

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
        example = next((e for e in self._matches if e.index == row), None)
        if example is not None and example.split != "train":
            self._info(f"row {row} is an eval row: it cannot be pinned (the run never trains on it)")
            return
        pin = row not in self.pinned()
        self.requested[row] = pin
        self.query_one(DataTable).update_cell(str(row), "pin", self._pin_mark(row))
        self.post_message(self.PinToggled(row, pin))

    def action_focus_search(self) -> None:
        self.query_one(Input).focus()

    def action_close(self) -> None:
        self.dismiss()
