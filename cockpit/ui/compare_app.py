"""`cockpit compare`: several runs on one screen, read from their journals, live ones followed.

Each run's journal is read by the replay's reader thread (`ui.replay.start_journal_reader`) into a
queue of its own; a timer folds what arrived into the run's `ComparedRun` and redraws what changed:
the tables at once, the chart at most once a second. Keys: `c` the next chart (loss, eval, lr,
gradient norm, relative update), `g` the layer group of the last two, `m` the eval metric, `q` quits.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Static

from cockpit.contract.events import HEADLINE_METRICS, Event
from cockpit.ui.compare_chart import CHARTS, CompareChart
from cockpit.ui.compare_config import CompareConfig
from cockpit.ui.compare_panel import run_colour_variable
from cockpit.ui.compare_pins import ComparePins
from cockpit.ui.compare_runs import CompareRuns, shorten_left
from cockpit.ui.compare_state import ComparedRun, compared_runs
from cockpit.ui.replay import drain_events, start_journal_reader
from cockpit.ui.series import update_static
from cockpit.ui.themes import DEFAULT_THEME, FALLBACK_THEME, load_themes


class CompareApp(App[None]):
    """The runs of `runs` ((label, journal, live) each) side by side."""

    TITLE = "cockpit compare"
    DRAIN_INTERVAL_S = 0.25
    CHART_INTERVAL_S = 1.0
    DRAIN_BUDGET_S = 0.1

    CSS = """
    #compare-main { height: 1fr; }
    #chart-column { width: 2fr; }
    #details { width: 1fr; min-width: 40; }
    .panel { border: round $border-blurred; border-title-color: $text-muted; border-title-style: bold; }
    #chart-title, #marks { height: auto; padding: 0 1; }
    #marks { max-height: 6; }
    CompareRuns { border: round $border-blurred; }
    """

    BINDINGS = [
        Binding("c", "next_chart", "Chart"),
        Binding("g", "next_group", "Layer group"),
        Binding("m", "next_metric", "Eval metric"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, runs: list[tuple[str, Path, bool]], theme_name: str = DEFAULT_THEME) -> None:
        super().__init__()
        self.sources = runs
        self.runs: list[ComparedRun] = compared_runs([label for label, _, _ in runs])
        self.queues: list[queue.SimpleQueue[Event]] = [queue.SimpleQueue() for _ in runs]
        self._stop_reading = threading.Event()  # the live runs' readers follow their journals until set
        self.chart = "loss"
        self.metric = ""  # the eval metric charted: the first of `metrics()` until `m` picks another
        self.group = ""
        self._wanted_theme = theme_name
        self._changed = True
        self._chart_due = True
        self._chart_drawn_at = 0.0

    def compose(self) -> ComposeResult:
        yield CompareRuns(id="runs")
        with Horizontal(id="compare-main"):
            with Vertical(id="chart-column", classes="panel"):
                yield Static(id="chart-title")
                yield CompareChart(id="chart")
                yield Static(id="marks")
            with VerticalScroll(id="details"):
                yield CompareConfig(id="config", classes="panel")
                yield ComparePins(id="pins", classes="panel")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        themes, _problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        self.theme = self._wanted_theme if self._wanted_theme in self.available_themes else DEFAULT_THEME
        if self.theme not in self.available_themes:
            self.theme = FALLBACK_THEME
        self.query_one("#runs").border_title = "Runs"
        self.query_one("#config").border_title = "Flags that differ"
        self.query_one("#pins").border_title = "Pinned examples the runs share"
        for (_, journal, live), events in zip(self.sources, self.queues, strict=True):
            start_journal_reader(journal, events, follow=live, stop=self._stop_reading, every_event=True)
        self.set_interval(self.DRAIN_INTERVAL_S, self.update_runs)

    def on_unmount(self) -> None:
        self._stop_reading.set()

    # ------------------------------------------------------------------ events in

    def update_runs(self, budget_s: float | None = DRAIN_BUDGET_S, force: bool = False) -> None:
        """Fold what the readers queued (for at most `budget_s` seconds), then redraw what changed."""
        deadline = time.monotonic() + budget_s if budget_s is not None else None
        for run, events in zip(self.runs, self.queues, strict=True):
            if drain_events(events, run.apply, deadline):
                self._changed = self._chart_due = True
        self.render_changes(force)

    def catch_up(self) -> None:
        """Fold everything queued and redraw all now (tests use this)."""
        self.update_runs(None, force=True)

    def render_changes(self, force: bool = False) -> None:
        if self._changed or force:
            self._changed = False
            if not self.group or self.group not in self.groups():
                self.group = self.default_group()
            if self.metric not in self.metrics():
                self.metric = self.metrics()[0]
            self.query_one(CompareRuns).show(self.runs)
            self.query_one(CompareConfig).show(self.runs)
            self.query_one(ComparePins).show(self.runs)
            update_static(self.query_one("#marks", Static), self.marks_text())
        now = time.monotonic()
        if (self._chart_due and now - self._chart_drawn_at >= self.CHART_INTERVAL_S) or force:
            update_static(self.query_one("#chart-title", Static), self.chart_title())
            if self.query_one(CompareChart).draw(self.runs, self.chart, self.group, self.metric):
                self._chart_due, self._chart_drawn_at = False, now

    # ------------------------------------------------------------------ what is shown

    def groups(self) -> list[str]:
        """Every run's layer groups, the first run's order first."""
        return list(dict.fromkeys(name for run in self.runs for name in run.state.layers))

    def metrics(self) -> list[str]:
        """The eval metrics the runs report, the headline ones first, then the eval loss."""
        found = {name for run in self.runs for e in run.evals for name in e.metrics}
        rest = sorted(found - set(HEADLINE_METRICS))
        return [m for m in HEADLINE_METRICS if m in found] + rest + ["loss"]

    def default_group(self) -> str:
        """The first group a run froze or unfroze (where the runs part), else the head (the last)."""
        groups = self.groups()
        for run in self.runs:
            for mark in run.marks:
                verb, _, named = mark.command.partition("=")
                if verb in ("freeze", "unfreeze"):
                    first = named.split(",")[0].split("-")[0]
                    if first in groups:
                        return first
        return groups[-1] if groups else ""

    def chart_title(self) -> Content:
        title = CHARTS[self.chart]
        if self.chart in ("grad", "update"):
            title = title.replace("a layer group", self.group or "-")
        elif self.chart == "eval":
            title = f"evaluation: {self.metric.replace('_', '-')}"
        legend = [Content.styled(f"{run.glyph} ", f"bold ${run_colour_variable(i)}") for i, run in enumerate(self.runs)]
        return Content.assemble((title, "bold"), "   ", *legend)  # the keys are in the footer

    def marks_text(self) -> Content:
        """Where each run parted from the first, and the commands marked on the chart, as a list
        (a label on the chart may be cut)."""
        lines = []
        first = self.runs[0]
        for position, run in enumerate(self.runs[1:], start=1):
            parted = run.parted_from(first)
            if parted is not None and first.state.step and run.state.step:
                said = "from the first step" if parted == 1 else f"at step {parted} (the same losses before)"
                lines.append(
                    Content.assemble(
                        (f"{run.glyph} ", f"bold ${run_colour_variable(position)}"),
                        f"parts from {first.glyph} {said}",
                    )
                )
        for position, run in enumerate(self.runs):
            for mark in run.marks:
                lines.append(
                    Content.assemble(
                        (f"{run.glyph} ", f"bold ${run_colour_variable(position)}"),
                        f"step {mark.step}: {mark.command}",
                        (f"  ({mark.source}) {shorten_left(run.label, 40)}", "$text-muted"),
                    )
                )
        return Content("\n").join(lines) if lines else Content.styled("no commands changed these runs", "$text-muted")

    # ------------------------------------------------------------------ keys

    def action_next_chart(self) -> None:
        names = list(CHARTS)
        self.chart = names[(names.index(self.chart) + 1) % len(names)]
        self.render_changes(force=True)

    def action_next_group(self) -> None:
        groups = self.groups()
        if groups:
            self.group = groups[(groups.index(self.group) + 1) % len(groups)] if self.group in groups else groups[0]
            if self.chart not in ("grad", "update"):
                self.chart = "grad"
        self.render_changes(force=True)

    def action_next_metric(self) -> None:
        names = self.metrics()
        self.metric = names[(names.index(self.metric) + 1) % len(names)] if self.metric in names else names[0]
        self.chart = "eval"
        self.render_changes(force=True)
