"""On a small terminal the panels take turns; this one-line bar names them and their keys."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from cockpit.ui.look import MARKS

# "split" (the default) shows the loss chart above the pinned examples: the gap between them is
# the cockpit's point, so even 80x24 shows both at once.
VIEWS: dict[str, str] = {
    "split": "Loss+Pins",
    "loss": "Loss",
    "pins": "Pinned",
    "layers": "Layers",
    "eval": "Eval",
    "log": "Log",
}


class ViewBar(Widget):
    """Shows `1 Loss+Pins  2 Loss ...` with the current view highlighted; only in compact layout."""

    DEFAULT_CSS = """
    ViewBar {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current = "split"
        self.alarms = 0

    def select(self, view: str, alarms: int) -> None:
        self.current, self.alarms = view, alarms
        self.refresh()

    def render(self) -> Content:
        parts = []
        for number, (key, title) in enumerate(VIEWS.items(), start=1):
            if key == "log" and self.alarms:
                title += f" {MARKS.warning}{self.alarms}"
            style = "bold reverse $primary" if key == self.current else ""
            parts.append(Content.assemble((f"{number}", "bold $text-primary"), " ", (f" {title} ", style)))
        return Content("  ").join(parts)
