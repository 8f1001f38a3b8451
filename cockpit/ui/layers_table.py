"""The layers table: one row per layer group, frozen or trainable, and how much it is learning.

Seed 001 ("the head's weights hardly change") is answered by the gradient norm, its history and
the relative update (update size / weight size) per group; freezing happens here too, with
`space` on a row or `f` for every group below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from cockpit.ui.run_state import LayerView, RunState
from cockpit.ui.series import fmt_count, fmt_number, fmt_sci, sparkline

COLUMNS = (
    ("layer", "layer", 14),
    ("state", "state", 10),
    ("grad", "grad norm", 9),
    ("history", "grad history", 12),
    ("update", "rel. update", 11),
    ("params", "params", 7),
)
SPARK_WIDTH = 12


class LayersTable(DataTable):
    """Cells are updated in place (never rebuilt) so a 4 Hz refresh costs next to nothing."""

    BINDINGS = [
        Binding("space", "toggle_freeze", "Freeze"),
        Binding("f", "freeze_below", "Freeze below"),
    ]

    DEFAULT_CSS = """
    LayersTable {
        height: auto;
        max-height: 50%;
    }
    """

    @dataclass
    class FreezeRequested(Message):
        """The user asked to freeze (or unfreeze) these layer groups."""

        groups: tuple[str, ...]
        freeze: bool

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.border_title = "Layers"
        self.run_state: RunState | None = None
        self._shown: dict[tuple[str, str], object] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    # -- showing the state

    def show(self, state: RunState, rebuild: bool = False) -> None:
        self.run_state = state
        if rebuild or list(self.rows) != [name for name in state.layers]:
            self.clear()
            self._shown.clear()
            for view in state.layers.values():
                self.add_row(*[""] * len(COLUMNS), key=view.name)
        ended = state.ended is not None
        for view in state.layers.values():
            for key, value in self._cells(view, ended).items():
                if self._shown.get((view.name, key)) != value:
                    self._shown[(view.name, key)] = value
                    self.update_cell(view.name, key, value)

    def _cells(self, view: LayerView, ended: bool) -> dict[str, object]:
        dim = "dim" if view.frozen else ""
        if view.requested_frozen is not None and not ended:
            state = Text("… freeze" if view.requested_frozen else "… unfreeze", style="bold " + self._colour("warning"))
        elif view.frozen:
            state = Text("❄ frozen", style=self._colour("text-primary"))
        else:
            state = Text("● train", style="bold " + self._colour("text-success"))
        history = view.grad_history.values(SPARK_WIDTH)
        return {
            "layer": Text(view.name, style=dim),
            "state": state,
            "grad": Text(fmt_number(view.grad_norm, 3), style=dim, justify="right"),
            "history": Text(sparkline(history, SPARK_WIDTH), style=dim or self._colour("accent")),
            "update": Text(fmt_sci(view.update_ratio), style=dim, justify="right"),
            "params": Text(fmt_count(view.params), style=dim, justify="right"),
        }

    def _colour(self, variable: str) -> str:
        return self.app.theme_variables.get(variable, "")

    # -- keys

    @property
    def highlighted_layer(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key
        return str(key.value)

    def action_toggle_freeze(self) -> None:
        name = self.highlighted_layer
        if name is None or self.run_state is None:
            return
        view = self.run_state.layers[name]
        currently = view.requested_frozen if view.requested_frozen is not None else view.frozen
        self.post_message(self.FreezeRequested((name,), freeze=not currently))

    def action_freeze_below(self) -> None:
        name = self.highlighted_layer
        if name is None or self.run_state is None:
            return
        names = list(self.run_state.layers)
        below = tuple(names[: names.index(name)])
        if not below:
            self.notify(f"no layer group below {name}", severity="warning")
            return
        self.post_message(self.FreezeRequested(below, freeze=True))
