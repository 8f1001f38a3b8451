"""`cockpit train` with the cockpit open from the first second: the run is prepared behind it.

Importing torch and transformers, reading the data, loading the model and tokenizing take seconds
to minutes; the user used to look at a blank terminal all that while. Here the app starts first
(it imports neither torch nor transformers), and a thread worker imports them, prepares the run
reporting each stage as a `LoadingStage` event (the app's loading screen lists them), then trains.
A bad input still ends as one line and exit status 2, as before: the worker keeps the error, the
app closes, and `cli.py` prints it.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.contract.commands import Command, Stop
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Event, LoadingStage, RunEnded
from cockpit.rundir.journal import JournalWriter, read_journal
from cockpit.rundir.layout import JOURNAL_NAME

if TYPE_CHECKING:
    from cockpit.cli.launch import EngineThread, SignalGuard
    from cockpit.training.prepare import PreparedRun

StageCallback = Callable[[str, str], None]


class PreparingRun:
    """The app's RunControl from launch on: prepare (stage by stage), then train in an EngineThread.

    Commands sent before the engine exists (a quit while the model loads) wait and are handed to
    it first, so nothing a user asked for is lost.
    """

    def __init__(self, prepare_run: Callable[[StageCallback], PreparedRun], events: queue.SimpleQueue[Event]) -> None:
        self.prepare_run = prepare_run
        self.events = events
        self.prepared: PreparedRun | None = None
        self.runner: EngineThread | None = None
        self.error: CockpitError | None = None
        self.on_prepared: Callable[[PreparedRun], None] | None = None
        self.on_engine: Callable[[EngineThread], None] | None = None
        self.on_error: Callable[[CockpitError], None] | None = None
        self._early: list[tuple[Command, str]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()  # the cockpit has closed: `run` need not wait for the end

    @property
    def engine(self) -> Any:
        return self.runner.engine if self.runner is not None else None

    def stage(self, stage: str, detail: str = "") -> None:
        self.events.put(LoadingStage(stage=stage, detail=detail))

    def submit(self, command: Command, source: str = "ui") -> None:
        with self._lock:
            if self.runner is None:
                self._early.append((command, source))
                return
        self.runner.submit(command, source)

    def run(self) -> None:
        """The app's training worker: import, prepare, build the engine, train until the end."""
        self.stage("starting", "importing torch and transformers")
        from cockpit.cli.launch import EngineThread, engine_for_app

        try:
            self.prepared = prepared = self.prepare_run(self.stage)
        except CockpitError as exc:  # bad input: one line and exit 2, as without the app
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)
            return
        self.stage("first step", f"on {prepared.device}")
        if self.on_prepared is not None:
            self.on_prepared(prepared)
        journal = prepared.run_dir / JOURNAL_NAME
        if prepared.resume is not None and journal.exists():  # the whole history, not only what follows
            for event in read_journal(journal):
                self.events.put(event)
        engine = engine_for_app(prepared, self.events.put)
        with self._lock:
            self.runner = runner = EngineThread(engine)
            early, self._early = self._early, []
        for command, source in early:
            runner.submit(command, source)
        if self.on_engine is not None:
            self.on_engine(runner)
        runner.start()
        while runner.thread.is_alive() and not self._closed.is_set():
            runner.thread.join(0.25)

    def close(self) -> None:
        """The cockpit is closing: stop waiting for the run in the app's worker.

        Textual's shutdown waits for its thread workers, so a cockpit that crashed used to sit on a
        blank terminal until the run ended (#25); the engine thread itself goes on either way.
        """
        self._closed.set()

    def stop_and_wait(self, reason: str = "interrupted") -> Any:
        with self._lock:
            runner = self.runner
            if runner is None:
                self._early.append((Stop(reason), "signal"))
                return None
        return runner.stop_and_wait(reason)


def journal_stages(run_dir: Path) -> StageCallback:
    """For a trainer a cockpit attaches to: each loading stage goes into the journal it follows."""

    def stage(name: str, detail: str = "") -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        writer = JournalWriter(run_dir / JOURNAL_NAME)
        try:
            writer(LoadingStage(stage=name, detail=detail))
        finally:
            writer.close()

    return stage


def train_with_app(
    prepare_run: Callable[[StageCallback], PreparedRun], theme: str, run_label: str = "", ascii: bool | None = None
) -> int:
    """Open the cockpit at once and prepare + train behind it; the exit status of the run."""
    from cockpit.data.examples import TrainingExamples
    from cockpit.ui.app import CockpitApp

    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    control = PreparingRun(prepare_run, events)
    app = CockpitApp(events, control, theme_name=theme, run_label=run_label, ascii=ascii)
    guards: list[SignalGuard] = []

    def close_app() -> None:
        if app.is_running:  # (after a crash there is no app left to close)
            app.call_from_thread(app.exit)

    def prepared(run: PreparedRun) -> None:
        app.examples = TrainingExamples(run.train)  # rows made when read: none held per training row

    def engine_ready(runner: EngineThread) -> None:
        from cockpit.cli.launch import SignalGuard

        # signal handlers can only be installed from the main thread, where the app's loop runs
        guard = SignalGuard(runner.engine, on_first=close_app, stop_on_hangup=True)
        try:
            app.call_from_thread(guard.install)
        except RuntimeError:  # the app has closed (crashed) meanwhile: the main thread installs one
            return
        guards.append(guard)

    control.on_prepared, control.on_engine = prepared, engine_ready
    control.on_error = lambda _error: close_app()
    app.run()
    if control.error is not None:
        raise control.error
    if app.crash is not None and control.runner is not None and control.runner.thread.is_alive():
        return _train_on_without_app(app.crash, control, guards)
    if control.runner is None:
        print("cockpit: stopped while the run was being prepared; nothing was trained", file=sys.stderr)
    ended = control.stop_and_wait("interrupted")
    if control.prepared is None or ended is None:
        return 130
    return _outcome(ended, control.prepared)


def _train_on_without_app(crash: str, control: PreparingRun, guards: list[SignalGuard]) -> int:
    """The cockpit crashed, the training thread did not: say so, and go on as `--headless` would."""
    from cockpit.cli.crash import crashed_line, keep_traceback
    from cockpit.cli.launch import ProgressPrinter, SignalGuard

    assert control.runner is not None and control.prepared is not None
    engine = control.runner.engine
    print(crashed_line(crash, keep_traceback(control.prepared.run_dir, crash)), file=sys.stderr)
    print(
        "The run goes on in this process, with a progress line; Ctrl-C stops it after a checkpoint.",
        file=sys.stderr,
    )
    # nothing drains the app's queue any more: the progress line takes its place (a new list, as the
    # stream dispatches over a copy of it)
    engine.stream.observers = [o for o in engine.stream.observers if o != control.events.put]
    engine.stream.observers.append(ProgressPrinter(engine.total_steps))
    if not guards:  # the app closed before it could install one; this is the main thread
        SignalGuard(engine).install()
    control.runner.thread.join()
    assert control.runner.ended is not None
    return max(_outcome(control.runner.ended, control.prepared), 1)


def _outcome(ended: RunEnded, prepared: PreparedRun) -> int:
    """The one-paragraph summary, then the run's exit status."""
    from cockpit.cli.launch import outcome_code
    from cockpit.cli.summary import run_summary

    print(run_summary(prepared.run_dir), file=sys.stderr)
    return outcome_code(ended)
