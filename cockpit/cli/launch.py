"""Process lifecycle: the engine thread, signals, the headless progress line, exit codes.

Whatever ends the process (the run finishing, `q`, Ctrl-C, SIGTERM, the SSH session dropping
with SIGHUP), the engine is asked to stop after its current step and is waited for, so that a
checkpoint and the journal's `end` event are always written. A second Ctrl-C quits at once.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from cockpit.contract.commands import Command, Stop
from cockpit.contract.enums import EndReason
from cockpit.contract.events import Alarm, EvalProgress, EvalResult, Event, Notice, RunEnded, RunStarted, StepMetrics
from cockpit.diagnostics.judgements import LossTracker
from cockpit.training.engine import Engine
from cockpit.training.prepare import PreparedRun

EXIT_CODES = {EndReason.FINISHED: 0, EndReason.STOPPED: 0, EndReason.INTERRUPTED: 130, EndReason.ERROR: 1}


class EngineThread:
    """Runs the engine in a background thread; what the UI holds as its RunControl."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.ended: RunEnded | None = None
        self.thread = threading.Thread(target=self._target, name="cockpit-engine", daemon=True)
        self._started = threading.Event()

    def _target(self) -> None:
        self.ended = self.engine.run()

    def start(self) -> None:
        self.thread.start()
        self._started.set()

    def submit(self, command: Command, source: str = "ui", id: str = "") -> None:
        self.engine.submit(command, source, id)

    def run(self) -> None:
        """For the UI's worker: wait until training ends (the thread is started by `start`, which
        may come after the app is up)."""
        self._started.wait()
        self.thread.join()

    def stop_and_wait(self, reason: EndReason = EndReason.INTERRUPTED) -> RunEnded | None:
        if self.thread.is_alive():
            self.engine.submit(Stop(reason), "signal")
            self.thread.join()
        return self.ended


class SignalGuard:
    """First SIGINT/SIGTERM (and SIGHUP if asked): stop after this step and save. Second: quit now.

    A trainer without a cockpit in its process ignores SIGHUP: the run outlives its terminal (a
    closed SSH session, `nohup`), and `cockpit attach` finds it again. Only a cockpit that trains
    in its own process (`--foreground`) treats the hangup as the end of the run.

    A signal handler runs in the main thread between two bytecodes, possibly inside a lock the
    main thread holds (Textual's output queue, the command queue), so the handler itself only
    sets an Event; a watcher thread does the work (submit Stop, tell the user, close the app).
    """

    def __init__(
        self, engine: Engine, on_first: Callable[[], None] | None = None, stop_on_hangup: bool = False
    ) -> None:
        self.engine = engine
        self.on_first = on_first
        self.stop_on_hangup = stop_on_hangup
        self.count = 0
        self.signal_name = ""
        self._requested = threading.Event()

    def install(self) -> None:
        threading.Thread(target=self._watch, name="cockpit-signals", daemon=True).start()
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self._handle if self.stop_on_hangup else signal.SIG_IGN)

    def _handle(self, signum: int, _frame: object) -> None:
        self.count += 1
        if self.count == 1:
            self.signal_name = signal.Signals(signum).name
            self._requested.set()
            return
        engine = self.engine
        saved = max(engine.last_saved_step, 0)
        _say(
            f"\ncockpit: quitting now; steps {saved + 1}..{engine.step} are not saved "
            f"(last checkpoint: step {saved}); the journal is complete up to here\n"
        )
        os._exit(130)

    def _watch(self) -> None:
        self._requested.wait()
        self.engine.submit(Stop(EndReason.INTERRUPTED), "signal")
        _say(
            f"\ncockpit: {self.signal_name}: finishing this step, saving a checkpoint (Ctrl-C again to quit at once)\n"
        )
        if self.on_first is not None:
            self.on_first()


def _say(text: str) -> None:
    """Unbuffered write to stderr: safe from a signal handler, silent if the terminal is gone."""
    try:
        os.write(2, text.encode())
    except OSError:
        pass


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class ProgressPrinter:
    """The headless progress line on stderr: step, loss, ETA; alarms and evals as lines."""

    def __init__(self, total_steps: int, out: TextIO | None = None, every_s: float | None = None) -> None:
        self.total = total_steps
        # Looked up per printer, not bound at import: the process's stderr may be replaced later.
        self.out = out if out is not None else sys.stderr
        self.interactive = self.out.isatty()
        # A terminal redraws one line in place; a log file (nohup) gets a line every 10 s.
        self.every_s = every_s if every_s is not None else (1.0 if self.interactive else 10.0)
        self._last = 0.0
        self._loss = LossTracker()  # the smoothed loss the cockpit draws and the alarms quote
        self._rate: float | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._loss = LossTracker()  # as the diagnostics do: a resumed run starts its own curve
        if isinstance(event, StepMetrics):
            smoothed = self._loss.add(event.loss)
            if event.samples_per_s > 0:
                steps_per_s = event.samples_per_s / max(event.effective_batch, 1)
                self._rate = steps_per_s if self._rate is None else 0.8 * self._rate + 0.2 * steps_per_s
            now = time.monotonic()
            if now - self._last >= self.every_s or event.step == self.total:
                self._last = now
                eta = (self.total - event.step) / self._rate if self._rate else float("nan")
                line = (
                    f"step {event.step}/{self.total} epoch {event.epoch:.2f} loss {event.loss:.4f} "
                    f"(smoothed {smoothed if smoothed is not None else float('nan'):.4f}) "
                    f"lr {event.lr:.2e} {event.samples_per_s:.1f} samples/s ETA {_duration(eta)}"
                )
                self._write(line, transient=True)
        elif isinstance(event, EvalProgress) and time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self._write(f"evaluating at step {event.step}: {event.rows_done}/{event.rows_total} rows", transient=True)
        elif isinstance(event, EvalResult):
            m = event.metrics
            self._write(
                f"eval step {event.step}: loss {event.loss:.4f} accuracy {m.get('accuracy', 0):.4f} "
                f"(majority {event.baselines.get('majority_accuracy', 0):.4f}) micro-F1 {m.get('micro_f1', 0):.4f} "
                f"macro-F1 {m.get('macro_f1', 0):.4f}"
            )
        elif isinstance(event, Alarm):
            state = "ALARM" if event.active else "cleared"
            self._write(
                f"[{state} {event.kind}] step {event.step}: {event.message}"
                + (f" -> {event.advice}" if event.active else "")
            )
        elif isinstance(event, Notice) and event.kind == "data_summary":
            self._write(event.message)
        elif isinstance(event, Notice):
            self._write(f"[notice] {event.message}")
        elif isinstance(event, RunEnded):
            self._write(
                f"run ended at step {event.step}: {event.reason}" + (f" ({event.message})" if event.message else "")
            )

    def _write(self, text: str, transient: bool = False) -> None:
        try:
            if self.interactive:
                self.out.write("\r\x1b[2K" + text + ("" if transient else "\n"))
            else:
                self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass


def print_outcome(ended: RunEnded | None, prepared: PreparedRun) -> int:
    if ended is None:
        print("cockpit: the run did not end cleanly", file=sys.stderr)
        return 1
    print(f"run directory: {prepared.run_dir}", file=sys.stderr)
    if ended.model_dir:
        print(f"model: {ended.model_dir}  (loads with pipeline('text-classification', model=...))", file=sys.stderr)
    if ended.checkpoint:
        print(
            f"checkpoint: {ended.checkpoint}  (continue with: cockpit train --resume {prepared.run_dir})",
            file=sys.stderr,
        )
    if ended.reason == EndReason.ERROR:
        print(f"cockpit: training failed: {ended.message}", file=sys.stderr)
    return 1 if ended.reason == EndReason.STOPPED and ended.message else EXIT_CODES.get(ended.reason, 1)


def run_headless(prepared: PreparedRun) -> int:
    """Train with a progress line, in the main thread; exit 0 when done.

    No UI shares this process (a detached trainer, a script, nohup), so the engine runs in the
    thread that loaded the data and the model: torch's OpenMP pool is per calling thread, and a
    second pool in a worker thread competed with the first for the cores under outside load.
    Signals still reach it: their handler only sets a flag, and the stop is applied at the next
    step boundary.
    """
    engine = Engine(prepared, on_nonfinite="stop")
    engine.stream.observers.append(ProgressPrinter(engine.total_steps))
    SignalGuard(engine).install()
    return print_outcome(engine.run(), prepared)


def engine_for_app(prepared: PreparedRun, put: Callable[[Event], None]) -> Engine:
    """The engine as the cockpit runs it: a non-finite loss pauses; its events (and alarms) go to `put`."""
    engine = Engine(prepared, on_nonfinite="pause")
    engine.stream.observers.append(put)
    return engine
