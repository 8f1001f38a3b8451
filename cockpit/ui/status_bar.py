"""The status bar: what is trained, where, how far along, and in which state, at a glance."""

from __future__ import annotations

from pathlib import Path

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from cockpit.contract.enums import Task
from cockpit.ui.look import MARKS, content_tone
from cockpit.ui.run_state import RunState
from cockpit.ui.series import bar, fmt_duration, fmt_number, fmt_sci, shorten
from cockpit.ui.system_panel import system_chips

STATE_LOOK = {
    # state: (the glyph's name in MARKS, its meaning); the glyph keeps the state readable without colour
    "waiting": ("waiting", "muted"),
    "running": ("running", "success"),
    "paused": ("paused", "warning"),
    "finished": ("finished", "success"),
    "stopped": ("stopped", "warning"),
    "interrupted": ("stopped", "warning"),
    "error": ("failed", "error"),
    "disk_full": ("failed", "error"),
}
SEPARATOR = "  "


def _short_model(name: str) -> str:
    """A local path shows as its last two parts; a Hub name as it is."""
    parts = Path(name).parts
    return "/".join(parts[-2:]) if len(parts) > 2 else name


class StatusBar(Widget):
    """Packs the run's facts ("chips") into as many lines as the width needs (1-4)."""

    DEFAULT_CSS = """
    StatusBar {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, *, replay: bool = False, run_label: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.replay = replay
        self.run_label = run_label
        self.run_state: RunState | None = None
        self._line_count = 0
        # what the user asked for and the trainer has not done yet: (state awaited, what to say)
        self._request: tuple[str, str] | None = None

    def request(self, awaited_state: str, saying: str) -> None:
        """Show `saying` (e.g. "pausing after this step") at once, until the run is in `awaited_state`."""
        self._request = (awaited_state, saying)
        if self.run_state is not None:
            self.show(self.run_state)

    def show(self, state: RunState) -> None:
        """Redraw; lay the screen out again only when the bar gains or loses a line.

        A layout pass of the whole screen costs ~70 ms of the GIL at 160x48, and the bar changes
        at every tick: relaying out each time was most of what the open app cost the training.
        """
        self.run_state = state
        lines = len(self._lines(self.content_region.width or self.app.size.width))
        self.refresh(layout=lines != self._line_count)
        self._line_count = lines

    # -- building the chips

    def _chips(self, width: int) -> list[list[Content]]:
        """Chips grouped by line; groups may wrap further on a narrow screen."""
        state = self.run_state or RunState()
        started = state.started
        glyph, meaning = STATE_LOOK.get(state.state, ("warning", "warning"))
        said = state.state.replace("_", " ")  # "disk full", not the journal's "disk_full"
        head = [Content.styled(f"{getattr(MARKS, glyph)} {said}", f"bold {content_tone(self.app, meaning)}")]
        if self._request is not None:
            awaited, saying = self._request
            if state.state == awaited or state.ended is not None or state.error:
                self._request = None
            else:
                head.append(Content.styled(f"{MARKS.pending} {saying}", "bold reverse $text-warning"))
        if self.replay:
            head.append(Content.styled("read-only replay", "$text-muted italic"))
        about: list[Content] = []  # what is trained where: on a narrow screen it ends the last line
        if started:
            head.append(Content.styled(_short_model(started.model), "bold"))
            about.append(Content(f"{started.task} {MARKS.dot} {_what_is_learned(started.task, started.labels)}"))
            head.append(Content(started.device))
        if width >= 100:
            head += about
            about = []
        run_dir = started.run_dir if started else self.run_label
        if run_dir and width >= 100:  # narrower, it would take a line of its own
            head.append(Content.styled(f"run {run_dir}", "$text-muted"))

        total = state.total_steps
        fraction = state.step / total if total else 0.0
        bar_width = 24 if width >= 100 else 12
        filled = bar(fraction, 1.0, bar_width)
        progress = [
            Content.assemble(
                (filled, "$primary"),
                (MARKS.bar_empty * (bar_width - len(filled)), "$text-muted"),
                f" {fraction:4.0%}",
            ),
            Content(f"step {state.step}/{total or '?'}"),
            Content(f"epoch {state.epoch:.2f}"),
        ]
        if state.last_checkpoint:  # what a crash or a kill -9 would go back to
            progress.append(Content.styled(f"saved {Path(state.last_checkpoint).name}", "$text-muted"))
        if state.state == "paused":  # no speed, no ETA: nothing moves until `p` resumes it
            why = f" ({shorten(state.state_reason, 40)})" if state.state_reason else ""
            paused = f"paused at step {state.step}{why}"
            progress.append(Content.styled(f"{paused}; p resumes", content_tone(self.app, "warning")))
        elif state.samples_per_s is not None:
            progress.append(Content(f"{state.samples_per_s:.1f} samples/s"))
        if state.state == "running":
            progress.append(Content(f"ETA {fmt_duration(state.eta_s)}"))
        if state.eval_progress is not None and state.state == "running":
            done, rows = state.eval_progress
            progress.append(Content.styled(f"evaluating {done}/{rows} rows", "$text-accent"))
        progress.extend(system_chips(state))  # RAM, GPUs, data wait, an OOM retry (ui/system_panel.py)

        numbers = [
            Content(f"loss {fmt_number(state.loss)}"),
            Content(f"smoothed {fmt_number(state.smoothed_loss)}"),
            Content(f"lr {fmt_sci(state.lr)}"),
        ]
        if state.micro_batch and state.effective_batch:
            accumulation = -(-state.effective_batch // state.micro_batch)
            numbers.append(Content(f"batch {state.micro_batch}×{accumulation}={state.effective_batch}"))
        # each severity its own chip, glyph and weight: an error must never read as a warning (#25)
        for severity, glyph, noun in (("error", MARKS.error, "error"), ("warning", MARKS.warning, "warning")):
            count = len(state.raised(severity))
            if count:
                chip = f"{glyph} {count} {noun}{'s' if count > 1 else ''}"
                numbers.append(Content.styled(chip, f"reverse {content_tone(self.app, severity)}"))
        notes = len(state.raised("info"))
        if notes:
            numbers.append(Content.styled(f"{MARKS.info} {notes} note{'s' if notes > 1 else ''}", "italic"))
        if state.error or (state.ended and state.ended.reason in ("error", "disk_full")):
            message = state.error or (state.ended.message if state.ended else "")
            numbers.append(Content.styled(shorten(f"error: {message}", width), "bold $text-error"))
        return [head, progress, numbers + about]

    def _lines(self, width: int) -> list[Content]:
        width = max(width, 20)
        lines: list[Content] = []
        for group in self._chips(width):
            line = Content("")
            for chip in group:
                if line.cell_length and line.cell_length + len(SEPARATOR) + chip.cell_length > width:
                    lines.append(line)
                    line = Content("")
                line = line + SEPARATOR + chip if line.cell_length else chip
            lines.append(line)
        return lines

    # -- Textual hooks

    def render(self) -> Content:
        return Content("\n").join(self._lines(self.content_region.width or self.app.size.width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))


def _what_is_learned(task: Task, labels: list[str]) -> str:
    """ "15 labels" for classes; a regression has one output, named by its target column ("target score")."""
    if task == Task.REGRESSION and labels:
        return f"target {labels[0]}"
    return f"{len(labels)} labels"
