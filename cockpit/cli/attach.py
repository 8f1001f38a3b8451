"""A cockpit in one process, the trainer in another: spawn it detached, follow its journal, steer it.

The trainer runs in its own session (`setsid`), so closing the terminal, a dropped SSH connection or
SIGHUP to the cockpit never reaches it. The cockpit is only a client:
- what it shows comes from the run's journal: the run's summary (its fold so far, kept by the
  trainer beside the journal), then every event written after it, so an attach shows the whole
  history at once at any run length, and every client sees the events in journal order;
- what it asks for goes into the run's command inbox (`cockpit.inbox`), applied by the trainer at
  its next step boundary and journaled with the client's name as the source;
- whether the trainer is alive comes from its run-directory lock (`cockpit.rundir`), which the
  kernel releases when the trainer dies, however it dies.
A client that hangs or is killed holds nothing the trainer waits for, so it cannot stall the run.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cockpit.cli.runs import describe_run
from cockpit.contract.commands import Command, CommandSyntaxError, parse_command
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Event, RunEnded, RunStarted
from cockpit.rundir.fold import FoldSnapshot
from cockpit.rundir.inbox import send_command
from cockpit.rundir.journal import RunReader
from cockpit.rundir.layout import CONFIG_NAME, JOURNAL_NAME, TRAINER_LOG
from cockpit.rundir.lock import live_pid

# How often a client looks whether the trainer is still alive: a dead trainer is named within this.
LIVENESS_POLL_S = 0.5
# How often a client looks for new journal lines (it reads only the bytes written since).
JOURNAL_POLL_S = 0.1


def client_name() -> str:
    """How this client appears as a command's source in the journal."""
    try:
        terminal = os.ttyname(0)
    except OSError:
        terminal = "no terminal"
    return f"attach pid {os.getpid()} on {terminal}"


def spawn_trainer(train_argv: list[str], run_dir: Path) -> subprocess.Popen[bytes]:
    """Start `cockpit train ARGV --headless` in a new session, its output in RUN_DIR/trainer.log."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / TRAINER_LOG, "ab")  # noqa: SIM115 - the child holds it; ours closes below
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "cockpit.cli", "train", *train_argv, "--headless"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # no controlling terminal: its hangup never reaches the trainer
            env={**os.environ, "COCKPIT_DETACHED": "1"},
        )
    finally:
        log.close()


def trainer_log_tail(run_dir: Path, lines: int = 1) -> list[str]:
    """The last lines the trainer wrote (its one-line error, when it refused to start)."""
    try:
        text = (run_dir / TRAINER_LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def how_to_resume(run_dir: Path) -> str:
    from cockpit.rundir.checkpoint import latest_checkpoint  # imports torch: only when a trainer has died

    checkpoint = latest_checkpoint(run_dir)
    saved = f"last checkpoint {checkpoint.name}" if checkpoint else "no checkpoint was saved"
    return f"{saved}; continue with: cockpit train --resume {run_dir}"


class RunExamples(Sequence):
    """The examples browser's rows for a run trained in another process: read from the run's own
    data file (config.json says which, and how) the first time the browser opens, not before."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._rows: Sequence | None = None

    def _loaded(self) -> Sequence:
        if self._rows is None:
            from cockpit.contract.config import RunConfig
            from cockpit.data.examples import TrainingExamples
            from cockpit.data.loading import load_labeled_texts

            config = RunConfig.load(self.run_dir / CONFIG_NAME)
            data = load_labeled_texts(Path(config.data), config.text_column, config.label_columns, config.label_names)
            self._rows = TrainingExamples(data)
        return self._rows

    def __len__(self) -> int:
        return len(self._loaded())

    def __getitem__(self, index: Any) -> Any:
        return self._loaded()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._loaded())

    def search(self, query: str, limit: int) -> tuple[int, list[Any]]:
        return self._loaded().search(query, limit)


class TrainerGone(RuntimeError):
    """The trainer process ended without writing the journal's `end` (killed, or it crashed)."""


class AttachedRun:
    """The cockpit's `RunControl` for a trainer in another process (see the module docstring)."""

    detachable = True

    def __init__(
        self,
        run_dir: Path,
        events: queue.SimpleQueue[Event | FoldSnapshot],
        trainer: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.events = events
        self.trainer = trainer
        self.source = client_name()
        self.started = threading.Event()  # the journal's `run` event has been read
        self.ended = threading.Event()  # ... and its `end`
        self._stop_reading = threading.Event()
        self.on_failed_start: Callable[[], None] | None = None  # e.g. close the cockpit
        self._reader = threading.Thread(target=self._read, name="cockpit-journal-follower", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """The run's fold so far (its summary, then the bytes after it), then each new event, until its `end`."""
        journal = self.run_dir / JOURNAL_NAME
        while not journal.exists():  # a trainer still loading its data
            if self._stop_reading.wait(JOURNAL_POLL_S):
                return
        run = RunReader(journal)
        try:
            ended = False
            for item in run.catch_up():
                self.events.put(item)
                ended = self._note(item, ended)
            if ended:
                return
            for event in run.follow(self._stop_reading, JOURNAL_POLL_S):
                self.events.put(event)
                if self._note(event, False):
                    return
        finally:
            run.close()

    def _note(self, item: Event | FoldSnapshot, ended: bool) -> bool:
        """Set `started` and `ended` from what was read; whether the run has ended as of `item`."""
        if isinstance(item, FoldSnapshot):
            if item.state["started"] is not None:
                self.started.set()
            ended = item.state["ended"] is not None
        elif isinstance(item, RunStarted):
            self.started.set()
            ended = False
        elif isinstance(item, RunEnded):
            ended = True
        if ended:
            self.ended.set()
        else:
            self.ended.clear()
        return ended

    def submit(self, command: Command, source: str = "ui") -> None:
        send_command(self.run_dir, command, self.source)

    def trainer_alive(self) -> bool:
        if self.trainer is not None:
            return self.trainer.poll() is None
        return live_pid(self.run_dir) is not None

    def close(self) -> None:
        """The cockpit is closing: stop following (the trainer is not touched)."""
        self._stop_reading.set()

    def run(self) -> None:
        """Block until the run's `end` is read, or the cockpit closes; raise TrainerGone if the
        trainer dies without an `end`."""
        while not self.ended.wait(LIVENESS_POLL_S) and not self._stop_reading.is_set():
            if not self.trainer_alive():
                if self.ended.wait(1.0):  # its last lines may still be on their way
                    return
                self._stop_reading.set()
                if self.failed_to_start() is not None and self.on_failed_start is not None:
                    self.on_failed_start()
                raise TrainerGone(self.gone_message())

    def gone_message(self) -> str:
        if not self.started.is_set():
            tail = trainer_log_tail(self.run_dir)
            return tail[0] if tail else f"the trainer did not start (see {self.run_dir / TRAINER_LOG})"
        return f"the trainer process died without ending the run (killed?): {how_to_resume(self.run_dir)}"

    def failed_to_start(self) -> int | None:
        """The trainer's exit status if it ended before training started (bad input: 2), else None."""
        if self.trainer is None or self.started.is_set():
            return None
        code = self.trainer.poll()
        return code if code not in (None, 0) else None


def newest_run(root: Path, live_only: bool) -> Path | None:
    """The most recently written run directory under `root` (a live one only, if asked)."""
    candidates = [p.parent for p in root.glob(f"*/{JOURNAL_NAME}")]
    if live_only:
        candidates = [p for p in candidates if live_pid(p) is not None]
    return max(candidates, key=lambda p: (p / JOURNAL_NAME).stat().st_mtime, default=None)


def resolve_attach_target(given: str | None, root: Path = Path("runs")) -> Path:
    """`cockpit attach [RUN_DIR]`: the given directory, else the newest live run, else the newest run."""
    if given:
        path = Path(given)
        run_dir = path.parent if path.name == JOURNAL_NAME else path
        if not (run_dir / JOURNAL_NAME).exists() and live_pid(run_dir) is None:
            raise CockpitError(f"{given}: no journal there; give a run directory written by cockpit train")
        return run_dir
    found = newest_run(root, live_only=True) or newest_run(root, live_only=False)
    if found is None:
        raise CockpitError(f"no runs under {root}/; give a run directory: cockpit attach RUN_DIR")
    return found


def send_and_wait(run_dir: Path, text: str, timeout_s: float = 60.0) -> str:
    """`cockpit send`: apply one command to a live run; the journal's line for it, once applied.

    Raises CockpitError (one line, exit 2) when the command is not valid, the run is not live, the
    run refuses it, or it is not applied within `timeout_s` (then it stays queued for the run).
    """
    try:
        command = parse_command(text)
    except CommandSyntaxError as exc:
        raise CockpitError(f"send {text!r}: {exc}") from None
    run_dir = Path(run_dir)
    journal = run_dir / JOURNAL_NAME
    if live_pid(run_dir) is None:
        raise CockpitError(f"{run_dir}: the run is not live ({describe_run(run_dir).state}); nothing to send to")
    start = journal.stat().st_size if journal.exists() else 0
    command_id = send_command(run_dir, command, "send")
    deadline = time.monotonic() + timeout_s
    for record in _records_from(journal, start, until=lambda: time.monotonic() > deadline or not live_pid(run_dir)):
        if record.get("type") == "command" and record.get("id") == command_id:
            result = str(record.get("result", ""))
            if result.startswith("refused"):
                raise CockpitError(f"send {text!r}: {result}")
            return f"applied at step {record.get('step')}: {record.get('command')} ({result or 'ok'})"
    if live_pid(run_dir) is None:
        raise CockpitError(f"{run_dir}: the run ended before applying {text!r}")
    raise CockpitError(
        f"send {text!r}: not applied within {timeout_s:g} s (the run may be evaluating); "
        "it stays queued and is applied at the next step boundary"
    )


def _records_from(journal: Path, offset: int, until: Callable[[], bool]) -> Iterator[dict[str, Any]]:
    """The journal's records written after `offset`, as they come, until `until()` holds.

    The journal may not exist yet (a trainer still loading its data): it is waited for.
    """
    while not journal.exists():
        if until():
            return
        time.sleep(0.05)
    with open(journal, encoding="utf-8") as handle:
        handle.seek(offset)
        pending = ""
        asked = time.monotonic()
        while True:
            line = handle.readline()
            if not line or time.monotonic() - asked > 0.5:  # a journal that never pauses still ends
                asked = time.monotonic()
                if until():
                    return
            if not line:
                time.sleep(0.05)
                continue
            pending += line
            if pending.endswith("\n"):
                record, pending = _json_or_none(pending), ""
                if record is not None:
                    yield record


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _close_on_hangup(app: Any) -> None:
    """The terminal is gone (an SSH session dropped): close this client; the trainer goes on.

    Installed explicitly: a client started under nohup or by a CI runner inherits SIGHUP ignored,
    and would then sit on a dead terminal for ever. A cockpit that cannot close on a dead terminal
    is ended after 3 s; it holds nothing the trainer needs.
    """

    def hangup(_signum: int, _frame: object) -> None:
        app.detached = True
        threading.Thread(target=lambda: app.call_from_thread(app.exit), daemon=True).start()
        fallback = threading.Timer(3.0, os._exit, args=(0,))
        fallback.daemon = True
        fallback.start()

    signal.signal(signal.SIGHUP, hangup)


def run_attached(run_dir: Path, theme: str, train_argv: list[str] | None = None) -> int:
    """The cockpit as a client of a trainer in another process (started here first if `train_argv`).

    Closing this cockpit, detaching (`d`), a dropped SSH session or kill -9 of this process leave the
    trainer running; `q` asks whether to stop the run or only detach.
    """
    from cockpit.ui.app import CockpitApp
    from cockpit.ui.replay import start_journal_reader

    trainer = spawn_trainer(train_argv, run_dir) if train_argv is not None else None
    live = trainer is not None or live_pid(run_dir) is not None
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    control = AttachedRun(run_dir, events, trainer) if live else None
    if control is None:  # a finished (or dead) run: its replay
        start_journal_reader(run_dir / JOURNAL_NAME, events, follow=False)
    examples = RunExamples(run_dir) if (run_dir / CONFIG_NAME).exists() or train_argv is not None else None
    app = CockpitApp(events, control, examples=examples, theme_name=theme, run_label=str(run_dir))
    if control is not None:
        control.on_failed_start = lambda: app.call_from_thread(app.exit)
    _close_on_hangup(app)
    app.run()
    if control is None:
        return 0
    failed = control.failed_to_start()
    if failed is not None:  # refused before training: its one line, its status (2 for bad input)
        print(
            "\n".join(trainer_log_tail(run_dir)) or f"cockpit: the trainer exited with status {failed}", file=sys.stderr
        )
        return failed
    pid = trainer.pid if trainer is not None else live_pid(run_dir)
    if control.ended.is_set():
        print(f"run directory: {run_dir}", file=sys.stderr)
        return 0
    if app.detached or control.trainer_alive():
        print(f"detached: the run goes on (pid {pid}); re-attach with: cockpit attach {run_dir}", file=sys.stderr)
        return 0
    print(f"cockpit: the trainer is gone without ending the run: {how_to_resume(run_dir)}", file=sys.stderr)
    return 1
