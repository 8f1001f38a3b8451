"""`?`: every key, and what each column and mark on the screen means, one line each.

The same KEYS table is what README's key list shows (a test holds the two together), so the
cockpit explains itself to someone who never read the README.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cockpit.ui.look import MARKS, in_marks

# key -> what it does; README's "Keys in the cockpit" lists the same keys (a test holds them to the bindings)
KEYS: list[tuple[str, str]] = [
    ("?", "this help (escape, ? or q closes it; arrows, PageUp/PageDown, Home/End scroll it)"),
    ("q", "quit; on a live run it asks: stop it (after this step, saving) or only detach"),
    ("1-6", "small terminals (under 120x36): 1 loss above pins, 2 loss, 3 pinned, 4 layers, 5 eval, 6 log"),
    ("l", "go to the layers table (arrows move the highlight)"),
    ("space", "freeze / unfreeze the highlighted layer group (from the next step)"),
    ("f", "freeze the highlighted group and every group above it in the table (nearer the input)"),
    ("p", "pause after the current step; when paused, resume (the footer says which)"),
    ("u", "predict the pinned examples now (at the next step boundary)"),
    ("s", "save a checkpoint after the current step"),
    (
        "r",
        "set the learning rate (the schedule's peak; warmup and decay still apply); over 100x the "
        "run's starting one asks again",
    ),
    ("e", "examples browser: search the rows, pin and unpin training rows (eval rows are marked)"),
    ("t", "save the latest eval's best per-label thresholds with the model (asks first)"),
    ("m", "machine: the trainer's RAM, each GPU's memory, busy time and power, the step's time split"),
    ("d", "detach: the run goes on in its own process; `cockpit attach` comes back to it"),
    ("/", "filter the list in view (layers table, log) as you type; enter keeps it, escape clears it"),
    (":", "send any command, as --at and cockpit send take it: pos_weight=auto, freeze=layer.0-3, unpin=17"),
]

# keys every Textual screen has; not the cockpit's own, but people look for them here
NAVIGATION: list[tuple[str, str]] = [
    ("tab", "move the focus to the next panel (shift+tab: back); the focused panel's border is bold"),
    ("arrows", "move in the focused table or list; PageUp/PageDown and Home/End scroll it"),
    ("enter", "in the examples browser: pin / unpin the row; in a dialog: confirm"),
    ("escape", "close a dialog, the help, the browser or a filter"),
    ("ctrl+p", "command palette: every action above by name (freeze, pause, lr, pos_weight, views, themes)"),
    ("ctrl+f", "in the examples browser: back to the search field (as / does)"),
    ("mouse", "click a panel to focus it, a row to highlight it, a key in the footer to press it; wheel scrolls"),
]

# (panel, [(mark or column, what it means)])
MEANINGS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Loss chart (the line under it is its legend, with each value)",
        [
            ("·· loss", "the training loss of each step (train mode: dropout on)"),
            ("⢕⢕ smoothed", "that loss smoothed (a moving average of span 20); ±0.092: spread of the last 50 steps"),
            ("++ pinned", "the loss of the pinned rows predicted as inference does (eval mode)"),
            ("◆ eval", "the loss on the held-out eval split"),
            ("── constant", "the loss of always predicting each label's frequency: learning means below it"),
            ("gap 0.44 ⚠", "pinned loss minus training loss, named while the predictions_disagree alarm is up"),
            ("x axis", "the steps so far, with some room ahead (not the whole run)"),
        ],
    ),
    (
        "Pinned examples",
        [
            ("#17", "row 17 of the data file, followed through the run"),
            ("✗ 10/15", "10 of its 15 labels right at threshold 0.5 (✓ when all are)"),
            ("1 .34 ✗", "target 1, predicted probability 0.34: wrong at 0.5 (✓ right); wrong cells are bold"),
            ("▃▃▄▅", "that probability over the run, oldest left, on a fixed 0 (▁) to 1 (█) scale"),
            ("step 37, 1 s ago", "when these predictions were computed; the training loss is newer"),
            ("ℹ not learned yet", "those rows lag while other pins agree with the loss: a rare class, not a bug"),
        ],
    ),
    (
        "Layers",
        [
            ("● train", "the group's weights are trained (bold)"),
            ("❄ frozen", "the group is frozen (dim, italic); …freeze: asked, not yet applied"),
            ("grad norm", "size of the group's gradient at the last step, before clipping"),
            ("grad history", "that size over the run, on the group's own scale"),
            (
                "rel. update",
                "how far the last step moved the weights: |Δw| / |w| (0: not moving); "
                "LoRA: the change of the adapter's s·B·A over the base weight |W|",
            ),
            (
                "params",
                "number of weights in the group (k thousand, M million); LoRA: trained/total "
                "(the adapters; base weights never train unless full=GROUP asks)",
            ),
        ],
    ),
    (
        "Eval",
        [
            ("majority baseline", "accuracy of always predicting the most common label"),
            ("F1", "per label, at threshold 0.5"),
            ("predicted / true", "eval rows predicted with the label, and rows that have it"),
            ("thr", "multilabel: the threshold with the best F1 for that label on the eval split"),
            ("F1 (@0.5)", "F1 at that threshold, and (in brackets) at 0.5"),
        ],
    ),
    (
        "Status bar and log",
        [
            ("▶ ⏸ ✔ ■ ✖", "running, paused, finished, stopped, error"),
            ("batch 8×2=16", "micro-batch × accumulation steps = rows per optimizer step"),
            ("✖ ERROR", "an alarm the run cannot recover from as it is (bold, reversed)"),
            ("⚠ WARNING", "a problem named in words, → what to try (bold)"),
            ("ℹ NOTE", "worth knowing, nothing to fix (italic); struck through: cleared"),
            ("⌘ command", "what a key, a schedule or a signal did, as the trainer applied it"),
            ("◆ ℹ", "a checkpoint saved; a notice"),
        ],
    ),
]


def _grid(rows: list[tuple[str, str]], key_style: str) -> Table:
    """Two columns, the text wrapping under itself (readable at 80 columns)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style=key_style, no_wrap=True)
    grid.add_column(ratio=1)
    for key, what in rows:
        grid.add_row(in_marks(key), in_marks(what))
    return grid


def help_sections() -> list[tuple[str, Table]]:
    """The help's sections: the cockpit's keys, the screen's keys, then each panel's marks."""
    sections = [("Keys", _grid(KEYS, "bold")), ("Moving around (every screen)", _grid(NAVIGATION, "bold"))]
    sections += [(panel, _grid(marks, "bold")) for panel, marks in MEANINGS]
    return sections


class HelpScreen(ModalScreen[None]):
    """Scrolls from the keyboard at once (it has the focus): arrows, PageUp/PageDown, Home/End."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close help")]
    AUTO_FOCUS = "#help-scroll"

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 110;
        max-width: 100%;
        height: 100%;
        max-height: 100%;
        padding: 0 1;
        border: round $primary;
        border-title-color: $text-primary;
        background: $surface;
    }
    HelpScreen .help-title {
        text-style: bold underline;
        margin-top: 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll") as scroll:
            scroll.border_title = "cockpit help"
            scroll.border_subtitle = f"arrows / PgUp / PgDn scroll {MARKS.dot} escape closes"
            for title, grid in help_sections():
                yield Static(Text(title), classes="help-title")
                yield Static(grid, classes="help-section")

    def action_close(self) -> None:
        self.dismiss(None)
