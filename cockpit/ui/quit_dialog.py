"""Asks before `q` stops a run that is still training (stopping saves a checkpoint first)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class QuitDialog(ModalScreen[bool]):
    """Dismissed with True to stop and quit, False to keep training."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Stop and quit"),
        Binding("n,escape", "answer(False)", "Keep training"),
    ]

    DEFAULT_CSS = """
    QuitDialog {
        align: center middle;
    }
    QuitDialog Label {
        width: 100%;
    }
    QuitDialog > Vertical {
        width: 60;
        max-width: 90%;
        height: auto;
        padding: 1 2;
        border: thick $warning;
        background: $surface;
    }
    QuitDialog #quit-keys {
        margin-top: 1;
        color: $text-muted;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Training is still running.[/b]\nStop it after this step, save a checkpoint, and quit?")
            yield Label("[b]y[/b] / enter: stop and quit    [b]n[/b] / escape: keep training", id="quit-keys")

    def action_answer(self, stop: bool) -> None:
        self.dismiss(stop)
