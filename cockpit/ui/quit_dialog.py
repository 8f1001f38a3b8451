"""Asks before `q` stops a run that is still training (stopping saves a checkpoint first).

When the trainer runs in its own process (the default), quitting the cockpit need not stop it: the
dialog then offers to detach, and the run goes on until it finishes.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class QuitDialog(ModalScreen["str | None"]):
    """Dismissed with "stop" (stop the run, then quit), "detach" (quit, the run goes on) or None."""

    BINDINGS = [
        Binding("y,s,enter", "answer('stop')", "Stop the run"),
        Binding("d", "answer('detach')", "Detach"),
        Binding("n,escape", "answer(None)", "Cancel"),
    ]

    def __init__(self, detachable: bool = False) -> None:
        super().__init__()
        self.detachable = detachable

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
            if self.detachable:
                yield Label(
                    "[b]Training is still running[/b] in its own process.\n"
                    "Stop it (checkpoint, then end), or detach and let it go on?"
                )
                yield Label(
                    "[b]s[/b]: stop the run    [b]d[/b]: detach (re-attach later)    [b]escape[/b]: cancel",
                    id="quit-keys",
                )
            else:
                yield Label("[b]Training is still running.[/b]\nStop it after this step, save a checkpoint, and quit?")
                yield Label("[b]y[/b] / enter: stop and quit    [b]n[/b] / escape: keep training", id="quit-keys")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.detachable or parameters != ("detach",)

    def action_answer(self, choice: str | None) -> None:
        self.dismiss(choice)
