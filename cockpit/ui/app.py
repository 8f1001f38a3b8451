"""The cockpit: a Textual app that shows a training run live (or replays its journal).

Data flows one way: the engine (or a journal reader) puts events on a queue; a timer drains it
four times a second into a `RunState`; panels whose part changed redraw, charts at most twice a
second. Commands flow back through the `RunControl`. The training thread shares the GIL with this
app, so nothing here runs per step: per event the work is O(1), per redraw it is O(plot width).
"""

from __future__ import annotations

import math
import queue
import time
import traceback
from collections.abc import Iterable

from textual import events as textual_events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from cockpit.contract.commands import (
    Command,
    Freeze,
    Pause,
    PinRows,
    PredictPins,
    Resume,
    SaveCheckpoint,
    SaveThresholds,
    SetLearningRate,
    Stop,
    Unfreeze,
    UnpinRows,
)
from cockpit.contract.control import ExampleRow, RunControl
from cockpit.contract.events import CommandApplied, Event, LoadingStage
from cockpit.rundir.fold import FoldSnapshot
from cockpit.rundir.layout import THRESHOLDS_NAME
from cockpit.rundir.thresholds import save_thresholds
from cockpit.ui.command_line import CommandLine
from cockpit.ui.eval_panel import EvalPanel
from cockpit.ui.event_log import EventLog
from cockpit.ui.examples_screen import ExamplesScreen
from cockpit.ui.filter_bar import FilterBar
from cockpit.ui.footer import CockpitFooter
from cockpit.ui.help_screen import HelpScreen
from cockpit.ui.layers_table import LayersTable
from cockpit.ui.loading_screen import LoadingScreen
from cockpit.ui.look import low_colour, use_ascii, wants_ascii
from cockpit.ui.loss_chart import LossChart
from cockpit.ui.lr_dialog import LearningRateDialog
from cockpit.ui.palette import cockpit_commands
from cockpit.ui.pinned_examples import PinnedExamples
from cockpit.ui.quit_dialog import QuitDialog
from cockpit.ui.rates_strip import RatesStrip
from cockpit.ui.replay import drain_events
from cockpit.ui.run_state import EVAL, LAYERS, LAYERS_LAYOUT, LOG, LOSS, PINS, PINS_LAYOUT, STATUS, SYSTEM, RunState
from cockpit.ui.status_bar import StatusBar
from cockpit.ui.system_screen import SystemScreen
from cockpit.ui.themes import DEFAULT_THEME, FALLBACK_THEME, load_themes
from cockpit.ui.thresholds_dialog import ThresholdsDialog
from cockpit.ui.view_bar import VIEWS, ViewBar

__all__ = ["CockpitApp", "ExampleRow", "RunControl"]

# the actions that act on the run or the panels (not on a dialog)
COCKPIT_ACTIONS = frozenset(
    {
        "focus_layers",
        "pause",
        "resume",
        "save",
        "predict_pins",
        "set_learning_rate",
        "examples",
        "save_thresholds",
        "quit_cockpit",
        "detach",
        "show_view",
        "filter",
        "command_line",
        "machine",
    }
)
# the actions that change the run: a replay hides them rather than offer keys that only say "read-only"
RUN_ACTIONS = frozenset(
    {"pause", "resume", "save", "predict_pins", "set_learning_rate", "save_thresholds", "detach", "command_line"}
)

# view name -> the panels shown for it in the compact layout
VIEW_PANELS = {
    "split": ("loss-panel", "pins"),
    "loss": ("loss-panel",),
    "layers": ("layers",),
    "pins": ("pins",),
    "eval": ("eval",),
    "log": ("log",),
}
PANEL_COLUMN = {"loss-panel": "left", "layers": "left", "log": "left", "pins": "right", "eval": "right"}
# the state's parts -> the panel that shows them (the status bar is always on screen)
PANEL_WIDGET = {
    LOSS: "loss-panel",
    LAYERS: "layers",
    LAYERS_LAYOUT: "layers",
    PINS: "pins",
    PINS_LAYOUT: "pins",
    EVAL: "eval",
    LOG: "log",
}


class CockpitApp(App[None]):
    """Live training cockpit; `control=None` makes it a read-only replay of a journal."""

    CSS_PATH = "app.tcss"
    TITLE = "cockpit"
    AUTO_FOCUS = None  # focus follows the view (a hidden layers table must not take `space`)

    DRAIN_INTERVAL_S = 0.25
    # Panels that change every step are redrawn at most this often (seconds). A plotext chart or a
    # DataTable repaint, and the compositor's work after it, cost 10-20 ms (measured at 160x48); an
    # attached cockpit is its own process, but on a small machine it takes its CPU from the trainer,
    # and at 1-4 Hz two clients slowed a 2-core trainer by a fifth (benchmarks/README.md,
    # attach_cost.py). What the user just asked for (a freeze request, a view switch) is drawn at once.
    REDRAW_INTERVAL_S = {STATUS: 0.5, LOSS: 2.0, LAYERS: 2.0, PINS: 2.0}
    # While the terminal says it is not focused (another window or tmux pane is), every panel waits
    # this long; regaining the focus redraws everything at once.
    BLURRED_INTERVAL_S = 5.0
    DRAIN_BUDGET_S = 0.1  # per tick, so replaying a 100k-step journal never freezes the screen
    QUIT_TIMEOUT_S = 5.0  # after Stop, quit anyway if the run's end does not arrive by then
    COMPACT_BELOW = (120, 36)  # narrower or shorter than this: one panel at a time

    # the panels the timer updates, found once on mount
    _status_bar: StatusBar
    _view_bar: ViewBar
    _loss_chart: LossChart
    _rates: RatesStrip
    _layers: LayersTable
    _pins: PinnedExamples
    _eval: EvalPanel
    _log: EventLog

    # `?` and `q` first: the footer keeps them at its left, where a narrow terminal does not cut them
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_cockpit", "Quit"),
        Binding("l", "focus_layers", "Layers"),
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),  # one key, two meanings: the footer names the one it has now
        Binding("s", "save", "Save"),
        Binding("u", "predict_pins", "Predict"),
        Binding("r", "set_learning_rate", "LR"),
        Binding("e", "examples", "Examples"),
        Binding("t", "save_thresholds", "Thresholds"),
        Binding("m", "machine", "Machine"),
        Binding("d", "detach", "Detach"),
        Binding("slash", "filter", "Filter"),
        Binding("colon", "command_line", "Command"),
        # Ctrl-C is a key in a raw-mode terminal, not SIGINT: make it do what users expect of it.
        Binding("ctrl+c", "quit_cockpit", "Quit", show=False, priority=True),
        *[
            Binding(str(n), f"show_view('{view}')", title, show=False)
            for n, (view, title) in enumerate(VIEWS.items(), start=1)
        ],
    ]

    def __init__(
        self,
        events: queue.SimpleQueue[Event | FoldSnapshot],
        control: RunControl | None,
        examples: list[ExampleRow] | None = None,
        theme_name: str = DEFAULT_THEME,
        run_label: str = "",
        ascii: bool | None = None,
    ) -> None:
        super().__init__()
        self.ascii = wants_ascii(ascii)  # --ascii, COCKPIT_ASCII=1 or TERM=linux: no braille or emoji
        use_ascii(self.ascii)
        self.events = events
        self.control = control
        self.examples = examples
        self.run_label = run_label
        self.run_state = RunState()
        self.view = "split"
        self.compact = False
        self._wanted_theme = theme_name
        self._theme_problems: list[str] = []
        self._worker: Worker[object] | None = None
        self._quitting = False
        self._due: set[str] = set()  # changed panels whose redraw interval has not passed yet
        self._drawn_at: dict[str, float] = {}
        self._bindings_for: tuple[str, bool] | None = None  # the run state the footer's keys were last shown for
        self._main_screen: Screen | None = None  # set on mount; the panels live on it
        self.crash: str | None = None  # the traceback of an exception that closed the cockpit
        self._loading: LoadingScreen | None = None  # shown from launch until the run's `run` event
        themes, self._theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(replay=self.control is None, run_label=self.run_label, id="status")
        yield ViewBar(id="views")
        with Horizontal(id="main"):
            with Vertical(id="left", classes="column"):
                with Vertical(id="loss-panel", classes="panel"):
                    yield LossChart(id="loss-chart")
                    yield RatesStrip(id="rates")
                yield LayersTable(id="layers", classes="panel")
                yield EventLog(id="log", classes="panel")
            with Vertical(id="right", classes="column"):
                yield PinnedExamples(id="pins", classes="panel")
                yield EvalPanel(id="eval", classes="panel -empty")
        yield FilterBar(id="filter")
        yield CockpitFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # Widgets the timer updates, found once; dialogs and the examples browser go on top.
        self._main_screen = self.screen
        self._status_bar = self.query_one(StatusBar)
        self._view_bar = self.query_one(ViewBar)
        self._loss_chart = self.query_one(LossChart)
        self._rates = self.query_one(RatesStrip)
        self._layers = self.query_one(LayersTable)
        self._pins = self.query_one(PinnedExamples)
        self._eval = self.query_one(EvalPanel)
        self._log = self.query_one(EventLog)
        self._pins.live = self._layers.live = self.control is not None
        self.screen.set_class(self.ascii, "-ascii")
        self.screen.set_class(low_colour(self), "-low-colour")  # NO_COLOR, 16 colours: focus by border, not hue
        self._apply_theme()
        self.query_one("#loss-panel").border_title = "Loss"
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._set_compact(self.size.width, self.size.height)
        self.render_changes(force=True)
        self.set_interval(self.DRAIN_INTERVAL_S, self._tick)
        if not self.compact:
            self._layers.focus()
        if self.control is not None:
            if self.run_state.started is None:
                self._loading = LoadingScreen(self.run_label)
                self.push_screen(self._loading)
            self._worker = self.run_worker(self.control.run, name="training", thread=True, exit_on_error=False)

    def _handle_exception(self, error: Exception) -> None:
        """Textual closes the app on an unhandled exception; keep its traceback as text first, so that
        the CLI says the cockpit crashed (and where the traceback is) instead of "detached" (#25)."""
        if self.crash is None:
            self.crash = "".join(traceback.format_exception(error))
        super()._handle_exception(error)

    def on_unmount(self) -> None:
        # A control that waits on another process (an attached run) must stop waiting, or the
        # worker thread holds the process open after the cockpit has closed.
        close = getattr(self.control, "close", None)
        if close is not None:
            close()

    def _apply_theme(self) -> None:
        for problem in self._theme_problems:
            self.notify(problem, title="theme not loaded", severity="warning")
        if self._wanted_theme in self.available_themes:
            self.theme = self._wanted_theme
            return
        fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
        if self._wanted_theme != DEFAULT_THEME:
            names = ", ".join(n for n in self.available_themes if n.startswith("cockpit"))
            self.notify(f"unknown theme {self._wanted_theme!r}; available: {names}", severity="warning")
        self.theme = fallback

    def _on_theme_changed(self, _theme: Theme) -> None:
        # Table cells carry resolved colours (Rich text), so they are redrawn in the new ones.
        self.run_state.changed |= {LAYERS_LAYOUT, PINS_LAYOUT, LOSS}
        self.render_changes(force=True)

    def on_resize(self, event: textual_events.Resize) -> None:
        if self._main_screen is not None:  # before mount there is nothing to lay out
            self._set_compact(event.size.width, event.size.height)

    def _set_compact(self, width: int, height: int) -> None:
        min_width, min_height = self.COMPACT_BELOW
        self.compact = width < min_width or height < min_height
        self.screen_stack[0].set_class(self.compact, "-compact")
        self._show_view(self.view)

    def _show_view(self, view: str) -> None:
        self.view = view
        main = self.screen_stack[0]
        shown = VIEW_PANELS[view]
        for panel in PANEL_COLUMN:
            main.query_one(f"#{panel}").set_class(panel in shown, "-current")
        for column in ("left", "right"):
            main.query_one(f"#{column}").set_class(any(PANEL_COLUMN[p] == column for p in shown), "-current")
        main.set_class(len(shown) > 1, "-split")
        self._view_bar.select(view, self.run_state.problems)
        self.run_state.changed.add(LOSS)  # a chart coming into view is drawn at its new size
        if self.compact:  # keys (arrows, space) go to the panel on screen, or to none
            targets = {
                "split": self._pins.matrix,
                "pins": self._pins.matrix,
                "layers": self._layers,
                "eval": self._eval,
                "log": self._log,
            }
            self.set_focus(targets.get(view))

    def action_show_view(self, view: str) -> None:
        """Number keys: in the compact layout, which panel fills the screen."""
        self._show_view(view)
        self.call_after_refresh(self.render_changes, True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Over a dialog or the examples browser, the cockpit's keys rest, except quitting."""
        if action in COCKPIT_ACTIONS and self._main_screen not in (None, self.screen):
            return action == "quit_cockpit" and not isinstance(self.screen, QuitDialog)
        if action in RUN_ACTIONS and self.control is None:
            return False  # a replay: no key that could only say "read-only"
        if action in ("pause", "resume"):  # `p` is one of the two, as the run stands
            return (self.run_state.state == "paused") == (action == "resume")
        if action == "focus_layers" and self._main_screen is not None:
            return self.focused is not self._layers  # no need to offer it where it already is
        if action == "detach":  # only a trainer in another process goes on without the cockpit
            return getattr(self.control, "detachable", False) and self.run_state.ended is None
        if action == "save_thresholds":  # offered once an evaluation found per-label thresholds
            return bool(self.run_state.last_eval and self.run_state.last_eval.thresholds)
        return True

    # ------------------------------------------------------------------ events in

    def _tick(self) -> None:
        self._drain(self.DRAIN_BUDGET_S)
        if self.control is not None and self.run_state.pin_time is not None:
            self._due.add(PINS)  # "predicted ... 3 s ago" keeps counting while nothing else changes
        self.render_changes()

    def catch_up(self) -> None:
        """Drain every queued event and redraw everything now (tests and snapshots use this)."""
        self._drain(None)
        self.render_changes(force=True)

    def _drain(self, budget_s: float | None) -> None:
        deadline = time.monotonic() + budget_s if budget_s is not None else None
        was_running = self.run_state.ended is None
        drain_events(self.events, self._apply, deadline)
        if self._loading is not None and (self.run_state.started is not None or self.run_state.error):
            self._close_loading()
        ended = self.run_state.ended
        if ended is not None and self._quitting:
            self.exit()
        elif ended is not None and was_running and self.control is not None:
            self.refresh_bindings()  # `d` (detach) has nothing left to leave running
            severity = "error" if ended.reason in ("error", "disk_full") else "information"
            self.notify(f"run {ended.in_words()}. q quits", severity=severity, timeout=10)

    def _apply(self, event: Event) -> None:
        if isinstance(event, LoadingStage):
            if self._loading is not None:
                self._loading.add(event)
            return
        self.run_state.apply(event)
        if isinstance(event, CommandApplied) and event.source == "ui" and self.control is not None:
            self._say_what_was_done(event)

    def render_changes(self, force: bool = False) -> None:
        """Redraw the panels whose part of the state changed, each at most at its own rate, and only
        those on screen (a hidden view is drawn when it is shown)."""
        state = self.run_state
        now = time.monotonic()
        self._due |= state.take_changes()
        if self._due & {LOSS, STATUS}:
            self._due.add(PINS)  # the pins' summary line: their loss against the training loss, the lag alarm
        changed = {
            panel
            for panel in self._due
            if force or (self._on_screen(panel) and now - self._drawn_at.get(panel, -math.inf) >= self._interval(panel))
        }
        self._due -= changed
        for panel in changed:
            self._drawn_at[panel] = now
        if STATUS in changed or LOSS in changed:
            self._status_bar.show(state)
        if changed & {LAYERS, LAYERS_LAYOUT}:
            self._layers.show(state, rebuild=LAYERS_LAYOUT in changed)
        if changed & {PINS, PINS_LAYOUT}:
            self._pins.show(state, rebuild=PINS_LAYOUT in changed)
            if PINS_LAYOUT in changed and isinstance(self.screen, ExamplesScreen):
                self.screen.refresh_marks()
        if EVAL in changed:
            self._eval.show(state)
            self._eval.set_class(state.last_eval is None, "-empty")  # small until there is an eval
            self.refresh_bindings()  # `t` (keep thresholds) may have become available
        if LOG in changed:
            self._log.show(state)
        if SYSTEM in changed and isinstance(self.screen, SystemScreen):
            self.screen.show(state)
        if LOG in changed or STATUS in changed:
            self._log.set_class(state.problems > 0, "-alarms")  # the log grows while alarms are up
            self._view_bar.select(self.view, state.problems)
        if STATUS in changed and (state.state, state.ended is None) != self._bindings_for:
            # `p` says Pause or Resume. Only when the state moves: a footer rebuilds all its keys and the
            # screen's layout, which every status redraw (2 a second) made most of an attached client's CPU.
            self._bindings_for = (state.state, state.ended is None)
            self.refresh_bindings()
        if LOSS in changed:
            if not self._loss_chart.draw(state):  # no size yet: draw when laid out
                self._due.add(LOSS)
            self._rates.show(state)

    def _interval(self, panel: str) -> float:
        if not self.app_focus:
            return self.BLURRED_INTERVAL_S
        return self.REDRAW_INTERVAL_S.get(panel, 0.0)

    def _on_screen(self, panel: str) -> bool:
        """Whether `panel` is in the current view (the compact layout shows one or two at a time)."""
        widget = PANEL_WIDGET.get(panel)
        return widget is None or not self.compact or widget in VIEW_PANELS[self.view]

    def on_app_focus(self, _event: textual_events.AppFocus) -> None:
        self.render_changes(force=True)  # back from another window or pane: what changed meanwhile, at once

    def _say_what_was_done(self, event: CommandApplied) -> None:
        """A key's command, as the trainer applied it: which groups a freeze hit, or why it was refused."""
        result = event.result
        if result.startswith("refused") or result.startswith("error"):
            self.notify(f"{event.command}: {result}", severity="warning", timeout=8)
            return
        if result in ("", "ok"):  # a trainer that only says "ok": name what the command itself names
            verb, _, groups = event.command.partition("=")
            done = {"freeze": "froze", "unfreeze": "unfroze"}.get(verb)
            result = f"{done} {groups.replace(',', ', ')}" if done else f"{event.command}: done"
        self.notify(f"step {event.step}: {result}", timeout=6)

    def _close_loading(self) -> None:
        """The run has started (or could not): from the loading screen to the cockpit."""
        if self._loading is None:
            return
        if self._loading not in self.screen_stack:
            self._loading = None
        elif self.screen is self._loading:  # (under a dialog, it goes when the dialog closes)
            self._loading = None
            self.pop_screen()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker:
            return
        if event.state in (WorkerState.ERROR, WorkerState.SUCCESS):
            self._close_loading()
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            message = f"{type(error).__name__}: {error}" if error else "unknown error"
            self.run_state.record_error(message)
            self.notify(message, title="training failed", severity="error", timeout=30)
            self.catch_up()
            if self._quitting:
                self.exit()
        elif event.state == WorkerState.SUCCESS:
            self.catch_up()
            if self._quitting:
                self.exit()

    # ------------------------------------------------------------------ commands out

    def _can_command(self) -> bool:
        if self.control is None:
            self.notify("read-only replay: the run cannot be changed from here", severity="warning")
            return False
        if self.run_state.ended is not None or self.run_state.error is not None:
            self.notify(f"the run has ended ({self.run_state.state}); press q to quit", severity="warning")
            return False
        return True

    def _submit(self, command: Command) -> bool:
        if not self._can_command():
            return False
        assert self.control is not None
        self.control.submit(command, "ui")
        return True

    def on_layers_table_freeze_requested(self, message: LayersTable.FreezeRequested) -> None:
        command = Freeze(message.groups) if message.freeze else Unfreeze(message.groups)
        if self._submit(command):
            self.run_state.request_freeze(list(message.groups), message.freeze)
            if len(message.groups) > 1:
                verb = "freezing" if message.freeze else "unfreezing"
                self.notify(f"{verb} {len(message.groups)} layer groups at the next step: {', '.join(message.groups)}")
            self.render_changes(force=True)  # the user sees the request at once

    def on_examples_screen_pin_toggled(self, message: ExamplesScreen.PinToggled) -> None:
        command = PinRows((message.row,)) if message.pin else UnpinRows((message.row,))
        if not self._submit(command) and isinstance(self.screen, ExamplesScreen):
            self.screen.forget_request(message.row)

    def action_focus_layers(self) -> None:
        if self.compact:
            self._show_view("layers")
        self._layers.focus()

    def action_pause(self) -> None:
        if self._submit(Pause()):
            self._status_bar.request("paused", "pausing after this step")
            self.notify("pausing after this step; p resumes")

    def action_resume(self) -> None:
        if self._submit(Resume()):
            self._status_bar.request("running", "resuming")
            self.notify("resuming")

    def action_filter(self) -> None:
        """`/`: filter the list in view (the focused one, else the log or the compact view's list)."""
        focused = self.focused
        filterable = (self._layers, self._log)
        target = focused if focused in filterable else None
        if target is None and self.compact:
            target = {"layers": self._layers, "log": self._log}.get(self.view)
        if target is None and not self.compact:
            target = self._log
        if target is None:
            self.notify("/ filters a list: 4 shows the layers, 6 the log", severity="warning")
            return
        self.query_one(FilterBar).open_on(target)

    def action_command_line(self, text: str = "") -> None:
        """`:`: any command in the `--at` grammar (pos_weight=auto, freeze=layer.0-3, unpin=17)."""
        if not self._can_command():
            return

        def chosen(command: Command | None) -> None:
            if command is not None and self._submit(command):
                self.notify(f"{command.text}: sent, applied at the next step")

        self.push_screen(CommandLine(self.run_state.start_lr, text), chosen)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """ctrl+p: the cockpit's own actions by name first, then Textual's (its Quit replaced by ours,
        which asks before it stops a run: Textual's closed the cockpit without the dialog)."""
        yield from cockpit_commands(self)
        yield from (command for command in super().get_system_commands(screen) if command.title != "Quit")

    def action_predict_pins(self) -> None:
        if not self.run_state.pins:
            self.notify("no pinned examples: press e to pin training rows", severity="warning")
        elif self._submit(PredictPins()):
            self.notify("predicting the pinned examples after this step")

    def action_save(self) -> None:
        if self._submit(SaveCheckpoint()):
            self.notify("saving a checkpoint after this step")

    def action_set_learning_rate(self) -> None:
        if not self._can_command():
            return

        def chosen(lr: float | None) -> None:
            if lr is not None and self._submit(SetLearningRate(lr)):
                self.notify(f"learning rate set to {lr:g} (applies from the next step)")

        state = self.run_state
        self.push_screen(LearningRateDialog(state.peak_lr, state.lr, state.start_lr), chosen)

    def action_save_thresholds(self) -> None:
        """Multilabel: after a confirmation, keep the latest eval's best per-label thresholds with the model.

        While training, the trainer writes them when it saves the model; after the run has ended,
        the app writes them into the saved model folder itself.
        """
        result = self.run_state.last_eval
        if result is None or not result.thresholds:
            return
        if self.control is None:
            self.notify("read-only replay: the run cannot be changed from here", severity="warning")
            return
        ended, started = self.run_state.ended, self.run_state.started
        training = ended is None and self.run_state.error is None
        if training:
            model_dir = f"{started.run_dir}/model" if started else "the run's model folder"
            destination = f"{model_dir}/{THRESHOLDS_NAME}, written with the model at the end of the run"
        elif ended is not None and ended.model_dir:
            destination = f"{ended.model_dir}/{THRESHOLDS_NAME}"
        else:
            self.notify("the run ended without saving a model: nowhere to keep thresholds", severity="warning")
            return

        def answered(save: bool | None) -> None:
            if not save:
                return
            if training:
                if self._submit(SaveThresholds()):
                    self.notify(f"thresholds from the eval at step {result.step} go to {destination}")
                return
            assert ended is not None and ended.model_dir
            try:
                path = save_thresholds(ended.model_dir, result.thresholds, result.step, result.rows)
            except OSError as exc:
                self.notify(f"could not write the thresholds: {exc}", severity="error")
                return
            self.notify(f"thresholds saved in {path} (README: applying them to pipeline output)")

        self.push_screen(ThresholdsDialog(result, destination), answered)

    def action_machine(self) -> None:
        """`m`: the trainer's memory, GPUs and step-time split (ui/system_panel.py)."""
        self.push_screen(SystemScreen(self.run_state))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_examples(self) -> None:
        if self.examples is None:
            self.notify("no training rows to browse here (a replay has only the journal)", severity="warning")
            return
        try:
            len(self.examples)  # an attached run reads its data file now, the first time
        except Exception as exc:  # noqa: BLE001 - any failure to read the rows is shown, not raised
            self.notify(f"cannot read the training rows: {exc}", severity="error")
            return
        self.push_screen(ExamplesScreen(self.examples, pinned=lambda: {p.index for p in self.run_state.pins}))

    def action_quit_cockpit(self) -> None:
        """Quit at once when nothing is training; otherwise confirm, stop, and wait for the end."""
        training = self.control is not None and self.run_state.ended is None and self.run_state.error is None
        if self._worker is not None and self._worker.state not in (WorkerState.PENDING, WorkerState.RUNNING):
            training = False
        if not training or self._quitting:
            self.exit()
            return

        def confirmed(choice: str | None) -> None:
            if choice == "detach":
                self.action_detach()
                return
            if choice != "stop" or self.control is None:
                return
            self._quitting = True
            self.control.submit(Stop(), "ui")
            self.notify("stopping: finishing this step and saving a checkpoint")
            self.set_timer(self.QUIT_TIMEOUT_S, self.exit)

        self.push_screen(QuitDialog(detachable=getattr(self.control, "detachable", False)), confirmed)

    def action_detach(self) -> None:
        """Leave the trainer running in its own process; `cockpit attach` comes back to it."""
        self.exit()
