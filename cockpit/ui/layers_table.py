"""The layers table: one row per layer group, frozen or trainable, and how much it is learning.

Seed 001 ("the head's weights hardly change") is answered by the gradient norm, its history and
the relative update (update size / weight size) per group; freezing happens here too, with
`space` on a row or `f` for that group and every group below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from cockpit.ui.look import MARKS, tone
from cockpit.ui.run_state import LayerView, RunState
from cockpit.ui.series import fmt_count, fmt_number, fmt_sci, sparkline

# key, one-line label, two-line label, width of the values (the history's is what is left)
COLUMNS = (
    ("layer", "layer", "layer", 5),
    ("state", "state", "state", 9),
    ("grad", "grad norm", "grad\nnorm", 7),
    ("history", "grad history", "grad\nhistory", 0),
    ("update", "rel. update", "rel.\nupdate", 7),
    ("params", "params", "params", 6),
)
SPARK_MIN, SPARK_MAX = 6, 24


def params_cell(view: LayerView) -> str:
    """The group's parameter count; trainable/total where training moves only part of it (LoRA adapters)."""
    if view.trainable is None:
        return fmt_count(view.params)
    return f"{fmt_count(view.trainable)}/{fmt_count(view.params)}"


class LayersTable(DataTable):
    """Cells are updated in place (never rebuilt) so a 4 Hz refresh costs next to nothing.

    `filter_text` (set by `/`) keeps the groups whose names hold it: a 48-layer model's table is long.
    """

    BINDINGS = [
        Binding("space", "toggle_freeze", "Freeze"),
        Binding("f", "freeze_below", "Freeze up to here"),
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
        self.live = True  # False in a replay: no freeze keys, the run cannot change
        self.filter_text = ""
        self._shown: dict[tuple[str, str], object] = {}

    def filter(self, text: str) -> None:
        """Show only the layer groups whose names hold `text`; "" shows them all."""
        self.filter_text = text
        self.border_subtitle = f"/{text}" if text else ""
        if self.run_state is not None:
            self.show(self.run_state, rebuild=True)

    def _listed(self, state: RunState) -> list[LayerView]:
        wanted = self.filter_text.lower()
        return [view for view in state.layers.values() if wanted in view.name.lower()]

    def on_mount(self) -> None:
        self.fixed_columns = 1  # if the table must scroll sideways, the layer names stay
        self._fit_columns()

    def on_resize(self) -> None:
        if self._fit_columns() and self.run_state is not None:
            self.show(self.run_state, rebuild=True)

    def _fit_columns(self) -> bool:
        """Columns sized to the width there is: the names' longest, the history gets what is left.

        A header that does not fit on one line goes on two (`rel.` over `update`), so that every
        column is shown at 120x40 without a sideways scroll. True if the columns changed.
        """
        names = list(self.run_state.layers) if self.run_state else []
        # two-line headers still need their longer line (`history`, `update`)
        widths = {key: max(width, *map(len, two.split("\n"))) for key, _, two, width in COLUMNS}
        widths["layer"] = max([widths["layer"], *map(len, names)])
        # a LoRA run shows trainable/total per group ("12.3k/1.8M")
        views = self.run_state.layers.values() if self.run_state else ()
        widths["params"] = max([widths["params"], *(len(params_cell(v)) for v in views)])
        available = (self.scrollable_content_region.width or self.app.size.width) - 2 * len(COLUMNS) - 1
        one_line = {key: max(widths[key], len(label)) for key, label, _, _ in COLUMNS}
        one_line["history"] = max(SPARK_MIN, len("grad history"))
        tall = sum(one_line.values()) > available
        fixed = sum(w for key, w in (widths if tall else one_line).items() if key != "history")
        spark = max(widths["history"] if tall else SPARK_MIN, min(SPARK_MAX, available - fixed))
        layout = (tall, spark, widths["layer"])
        if layout == getattr(self, "_layout", None):
            return False
        self._layout = layout
        self.clear(columns=True)
        self._shown.clear()
        self.header_height = 2 if tall else 1
        for key, label, two_lines, _ in COLUMNS:
            width = spark if key == "history" else (widths[key] if tall else one_line[key])
            self.add_column(two_lines if tall else label, key=key, width=width)
        return True

    @property
    def spark_width(self) -> int:
        return self._layout[1]

    # -- showing the state

    def show(self, state: RunState, rebuild: bool = False) -> None:
        self.run_state = state
        if self._fit_columns():
            rebuild = True
        listed = self._listed(state)
        if rebuild or [str(key.value) for key in self.rows] != [view.name for view in listed]:
            self.clear()
            self._shown.clear()
            for view in listed:
                self.add_row(*[""] * len(COLUMNS), key=view.name)
        ended = state.ended is not None
        for view in listed:
            for key, value in self._cells(view, ended).items():
                if self._shown.get((view.name, key)) != value:
                    self._shown[(view.name, key)] = value
                    self.update_cell(view.name, key, value)

    def _cells(self, view: LayerView, ended: bool) -> dict[str, object]:
        dim = "dim" if view.frozen else ""
        # train and frozen differ by glyph and weight, not only colour (#25: both came out as colour 37)
        if view.requested_frozen is not None and not ended:
            asked = "freeze" if view.requested_frozen else "unfreeze"
            state = Text(f"{MARKS.pending}{asked}", style=f"reverse {tone(self.app, 'warning')}")
        elif view.frozen:
            state = Text(f"{MARKS.frozen} frozen", style=f"dim italic {self._colour('text-primary')}")
        else:
            state = Text(f"{MARKS.train} train", style=f"bold {tone(self.app, 'success')}")
        width = self.spark_width
        history = view.grad_history.values(width)
        return {
            "layer": Text(view.name, style=dim),
            "state": state,
            "grad": Text(fmt_number(view.grad_norm, 3), style=dim, justify="right"),
            "history": Text(sparkline(history, width), style=dim or self._colour("accent")),
            "update": Text(fmt_sci(view.update_ratio), style=dim, justify="right"),
            "params": Text(params_cell(view), style=dim, justify="right"),
        }

    def _colour(self, variable: str) -> str:
        return self.app.theme_variables.get(variable, "")

    # -- keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A replay hides the freeze keys rather than offer keys that can only say "read-only"."""
        return self.live or action not in ("toggle_freeze", "freeze_below")

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
        """Freeze the highlighted group and every group below it (nearer the input)."""
        name = self.highlighted_layer
        if name is None or self.run_state is None:
            return
        names = list(self.run_state.layers)
        upto = tuple(names[: names.index(name) + 1])
        if len(upto) == len(names):
            self.notify("at least one layer group must stay trainable: highlight a lower one", severity="warning")
            return
        self.post_message(self.FreezeRequested(upto, freeze=True))
