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
from cockpit.contract.events import Event, LoadingStage
from cockpit.rundir.journal import JournalWriter, read_journal
from cockpit.rundir.layout import JOURNAL_NAME

if TYPE_CHECKING:
    from cockpit.cli.launch import EngineThread
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
        runner.run()

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


def train_with_app(prepare_run: Callable[[StageCallback], PreparedRun], theme: str, run_label: str = "") -> int:
    """Open the cockpit at once and prepare + train behind it; the exit status of the run."""
    from cockpit.data.examples import TrainingExamples
    from cockpit.ui.app import CockpitApp

    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    control = PreparingRun(prepare_run, events)
    app = CockpitApp(events, control, theme_name=theme, run_label=run_label)

    def prepared(run: PreparedRun) -> None:
        app.examples = TrainingExamples(run.train)  # rows made when read: none held per training row

    def engine_ready(runner: EngineThread) -> None:
        from cockpit.cli.launch import SignalGuard

        # signal handlers can only be installed from the main thread, where the app's loop runs
        guard = SignalGuard(runner.engine, on_first=lambda: app.call_from_thread(app.exit), stop_on_hangup=True)
        app.call_from_thread(guard.install)

    control.on_prepared, control.on_engine = prepared, engine_ready
    control.on_error = lambda _error: app.call_from_thread(app.exit)
    app.run()
    if control.error is not None:
        raise control.error
    if control.runner is None:
        print("cockpit: stopped while the run was being prepared; nothing was trained", file=sys.stderr)
    ended = control.stop_and_wait("interrupted")
    if control.prepared is None or ended is None:
        return 130
    from cockpit.cli.launch import print_outcome

    return print_outcome(ended, control.prepared)
