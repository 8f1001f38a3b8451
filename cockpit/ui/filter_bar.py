"""`/`: filter the list in view (the layers table, the log) as you type, as k9s and lazygit do.

One bar, docked above the footer, serves whichever list it was opened on: each such list has a
`filter(text)` method and shows its filter in its border (`/layer.1`). Enter keeps the filter and
goes back to the list; escape clears it.
"""

from __future__ import annotations

from typing import Protocol

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input


class Filterable(Protocol):
    filter_text: str

    def filter(self, text: str) -> None: ...


class FilterBar(Input):
    """Hidden until `open_on(list)`; the list follows each keystroke."""

    BINDINGS = [Binding("escape", "clear", "Clear the filter")]

    DEFAULT_CSS = """
    FilterBar, FilterBar:focus {
        dock: bottom;
        display: none;
        border: none;
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    FilterBar.-open, FilterBar.-open:focus {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter: type to narrow the list; enter keeps it, escape clears it", id=id)
        self.target: Filterable | None = None

    def open_on(self, target: Filterable) -> None:
        self.target = target
        self.value = target.filter_text
        self.add_class("-open")
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.target is not None:
            self.target.filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close()

    def action_clear(self) -> None:
        if self.target is not None:
            self.target.filter("")
        self._close()

    def _close(self) -> None:
        self.remove_class("-open")
        if isinstance(self.target, Widget):
            self.target.focus()
