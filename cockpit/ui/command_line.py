"""`:` sends any command to the run in the words `--at` and `cockpit send` use (`pos_weight=auto`,
`freeze=layer.0-3`, `unpin=17`), as `:` does in k9s and vim.

The keys cover what is done often; this line covers the rest, so advice can name any command and
the user can type it where they read it (#25: "the `pos_weight=auto` command" had no key).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from cockpit.contract.commands import COMMAND_FORMS, Command, CommandSyntaxError, SetLearningRate, parse_command
from cockpit.ui.lr_dialog import AskTwice, lr_needs_confirming


class CommandLine(ModalScreen[Command | None]):
    """Dismissed with the parsed command, or None when cancelled; a typo is said here, not sent."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#command-input"

    DEFAULT_CSS = """
    CommandLine {
        align: center bottom;
    }
    CommandLine > Vertical {
        width: 100%;
        height: auto;
        padding: 0 1;
        border-top: solid $primary;
        background: $surface;
    }
    CommandLine Label {
        width: 100%;
        color: $text-muted;
    }
    CommandLine #command-error {
        color: $text-error;
        text-style: bold;
    }
    """

    def __init__(self, start_lr: float | None, text: str = "") -> None:
        super().__init__()
        self.start_lr = start_lr
        self.text = text
        self._ask = AskTwice()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"a command for the run, as --at and cockpit send take it: {COMMAND_FORMS}")
            yield Input(value=self.text, placeholder="e.g. pos_weight=auto", id="command-input")
            yield Label("", id="command-error")
            yield Label("enter: send (applied at the next step)    escape: cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        error = self.query_one("#command-error", Label)
        try:
            command = parse_command(event.value)
        except CommandSyntaxError as exc:
            error.update(str(exc))
            return
        if isinstance(command, SetLearningRate):
            question = lr_needs_confirming(command.lr, self.start_lr)
            if self._ask.asking(command.lr, question):
                error.update(question)
                return
        self.dismiss(command)

    def action_cancel(self) -> None:
        self.dismiss(None)
