"""The first seconds: what the trainer is doing before training starts, step by step.

Reading a large file, tokenizing it and loading a model take seconds to minutes; a blank screen
for that long looks like a hang. Each `LoadingStage` event adds a line (the one before it is done,
with how long it took); the app takes this screen away when the run's `run` event arrives.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from cockpit.contract.events import LoadingStage
from cockpit.ui.look import MARKS


class LoadingScreen(Screen[None]):
    """One line per stage: `✓ reading data  0.4 s  600 rows` … `⠋ loading model  2 s`."""

    DEFAULT_CSS = """
    LoadingScreen {
        align: center middle;
    }
    LoadingScreen > Vertical {
        width: 80;
        max-width: 100%;
        height: auto;
        padding: 1 2;
        border: round $primary;
        border-title-color: $text-primary;
    }
    """

    def __init__(self, title: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.started = time.monotonic()
        self.stages: list[tuple[LoadingStage, float]] = []  # the stage and when it arrived
        self._frame = 0

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "cockpit: starting"
            yield Static(self._text(), id="loading-body")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.set_interval(0.2, self._tick)

    def add(self, stage: LoadingStage) -> None:
        self.stages.append((stage, time.monotonic()))
        self._show()

    def _tick(self) -> None:
        self._frame += 1
        self._show()

    def _show(self) -> None:
        if self.is_mounted:
            self.query_one("#loading-body", Static).update(self._text())

    def _text(self) -> Content:
        now = time.monotonic()
        lines = [Content.styled(self.title_text, "$text-muted")] if self.title_text else []
        if not self.stages:
            spinner = MARKS.spinner[self._frame % len(MARKS.spinner)]
            lines.append(Content.assemble((f"{spinner} ", "bold $text-primary"), "starting the trainer"))
        for i, (stage, since) in enumerate(self.stages):
            done = i + 1 < len(self.stages)
            until = self.stages[i + 1][1] if done else now
            if done:
                mark = (f"{MARKS.right} ", "$text-success")
            else:
                mark = (MARKS.spinner[self._frame % len(MARKS.spinner)] + " ", "bold $text-primary")
            lines.append(
                Content.assemble(
                    mark,
                    (stage.stage, "" if done else "bold"),
                    (f"  {until - since:.1f} s", "$text-muted"),
                    (f"  {stage.detail}" if stage.detail else "", "$text-muted"),
                )
            )
        lines.append(Content(""))
        lines.append(Content.styled(f"{now - self.started:.0f} s since launch {MARKS.dot} q quits", "$text-muted"))
        return Content("\n").join(lines)
