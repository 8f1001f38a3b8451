"""`?`: every key, and what each column and mark on the screen means, one line each.

The same KEYS table is what README's key list shows (a test holds the two together), so the
cockpit explains itself to someone who never read the README.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

# key -> what it does; README's "Keys in the cockpit" lists the same keys
KEYS: list[tuple[str, str]] = [
    ("?", "this help (escape or ? closes it)"),
    ("1-6", "small terminals: 1 loss above pins, 2 loss, 3 pinned, 4 layers, 5 eval, 6 log"),
    ("l", "go to the layers table (arrows move the highlight)"),
    ("space", "freeze / unfreeze the highlighted layer group (from the next step)"),
    ("f", "freeze the highlighted layer group and every group below it"),
    ("p", "pause / resume after the current step"),
    ("u", "predict the pinned examples now (at the next step boundary)"),
    ("s", "save a checkpoint after the current step"),
    ("r", "set the learning rate (the schedule's peak; warmup and decay still apply)"),
    ("e", "examples browser: search the training rows, pin and unpin them"),
    ("t", "save the latest eval's best per-label thresholds with the model (asks first)"),
    ("d", "detach: the run goes on in its own process; `cockpit attach` comes back to it"),
    ("q", "quit; on a live run it asks: stop it (after this step, saving) or only detach"),
]

# (panel, [(mark or column, what it means)])
MEANINGS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Loss chart",
        [
            ("·· loss", "the training loss of each step (train mode: dropout on)"),
            ("⢕⢕ smoothed", "that loss smoothed as TensorBoard does (debiased moving average)"),
            ("++ pinned", "the loss of the pinned rows predicted as inference does (eval mode)"),
            ("◆ eval", "the loss on the held-out eval split"),
            ("constant", "the loss of always predicting each label's frequency: learning means below it"),
            ("gap 0.44 ⚠", "pinned loss minus training loss, named while the lag alarm is raised"),
            ("±0.092", "spread (standard deviation) of the last 50 raw losses"),
        ],
    ),
    (
        "Pinned examples",
        [
            ("#17", "row 17 of the data file, followed through the run"),
            ("✗ 10/15", "10 of its 15 labels right at threshold 0.5 (✓ when all are)"),
            ("1 .34 ✗", "target 1, predicted probability 0.34: wrong at 0.5 (✓ right)"),
            ("▃▃▄▅", "that probability over the run, oldest left, on a fixed 0 (▁) to 1 (█) scale"),
            ("step 37, 1 s ago", "when these predictions were computed; the training loss is newer"),
        ],
    ),
    (
        "Layers",
        [
            ("● train ❄ frozen", "whether the group's weights are trained; …freeze: asked, not yet applied"),
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
            ("⚠ alarm", "a problem named in words, → what to try; struck through once it cleared"),
            ("⌘ command", "what a key, a schedule or a signal did, as the trainer applied it"),
            ("◆ ℹ", "a checkpoint saved; a notice"),
        ],
    ),
]


def help_text() -> Content:
    """The help as one Content: keys first, then each panel's marks."""
    width = max(len(key) for key, _ in KEYS)
    lines = [Content.styled("Keys", "bold underline")]
    lines += [Content.assemble((f"{key:>{width}}  ", "bold $text-primary"), what) for key, what in KEYS]
    for panel, marks in MEANINGS:
        mark_width = max(len(mark) for mark, _ in marks)
        lines += [Content(""), Content.styled(panel, "bold underline")]
        lines += [Content.assemble((f"{mark:<{mark_width}}  ", "bold"), what) for mark, what in marks]
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    """Scrollable; any of escape, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close help")]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 100;
        max-width: 100%;
        height: 90%;
        padding: 0 1;
        border: round $primary;
        border-title-color: $text-primary;
        background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "cockpit help"
            scroll.border_subtitle = "escape closes"
            yield Static(help_text(), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)
