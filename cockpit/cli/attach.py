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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.cli.crash import crashed_line, keep_traceback
from cockpit.cli.runs import describe_run
from cockpit.cli.summary import run_summary
from cockpit.contract.commands import Command, CommandSyntaxError, parse_command
from cockpit.contract.enums import EndReason
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Event, LoadingStage, RunEnded, RunStarted, StepMetrics
from cockpit.rundir.fold import FoldSnapshot
from cockpit.rundir.inbox import send_command
from cockpit.rundir.journal import RunReader, parse_event
from cockpit.rundir.layout import CONFIG_NAME, EVAL_ROWS_NAME, JOURNAL_NAME, TRAINER_LOG
from cockpit.rundir.lock import live_pid, lock_holder

# How often a client looks whether the trainer is still alive: a dead trainer is named within this
# (plus a read of the journal's last lines and a listing of the checkpoint folders: milliseconds; no
# torch on that path, whose import alone took 1.9 s). Each look is a waitpid or an flock: microseconds.
LIVENESS_POLL_S = 0.2
# How much of the journal's end a client reads to learn how the trainer went.
TAIL_BYTES = 64 << 10
# A trainer that wrote its `end`: how long the journal follower may take to hand it to the cockpit.
END_DELIVERY_S = 5.0
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


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def trainer_log_tail(run_dir: Path, since: int = 0) -> str:
    """The last line the trainer wrote to its log after byte `since` (its one-line error or last words), or ""."""
    try:
        with open(run_dir / TRAINER_LOG, "rb") as handle:
            handle.seek(max(since, _file_size(run_dir / TRAINER_LOG) - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    # progress bars redraw with \r: the line is what the last redraw left
    lines = [line.rsplit("\r", 1)[-1].strip() for line in text.splitlines()]
    return next((line for line in reversed(lines) if line), "")


def journal_tail(journal: Path) -> list[tuple[dict[str, Any], str]]:
    """The journal's last complete records (from its last TAIL_BYTES), oldest first, each with its line."""
    try:
        with open(journal, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            lines = handle.read().decode("utf-8", errors="replace").split("\n")
    except OSError:
        return []
    whole = lines[1 if size > TAIL_BYTES else 0 : -1]  # the first may be cut, the last not yet whole
    return [(record, line) for line in whole if (record := _json_or_none(line)) is not None]


def how_to_resume(run_dir: Path) -> str:
    """The last checkpoint and the command that continues from it (a listing of folders: no torch)."""
    from cockpit.rundir.checkpoint import latest_checkpoint

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return "no checkpoint was saved (the first comes after --save-minutes of training): start the run again"
    return f"last checkpoint {checkpoint.name}; continue with: cockpit train --resume {run_dir}"


@dataclass(frozen=True)
class TrainerExit:
    """How the trainer a client followed went: with its `end` (`ended`), refused before it trained
    (`refused`: its exit status, 2 for bad input, and its one line), or gone without a word."""

    message: str
    ended: RunEnded | None = None
    refused: int | None = None


class RunExamples(Sequence):
    """The examples browser's rows for a run trained in another process: read from the run's own
    data file (config.json says which, and how) the first time the browser opens, not before.

    The file holds the eval split too: `eval_rows.json` (written before the first step) says which
    rows, and the browser lists them as eval rows, which cannot be pinned.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._rows: Sequence | None = None

    def _loaded(self) -> Sequence:
        if self._rows is None:
            from cockpit.contract.config import RunConfig
            from cockpit.data.examples import TrainingExamples
            from cockpit.data.loading import DataSpec
            from cockpit.data.sources import read_data

            config = RunConfig.load(self.run_dir / CONFIG_NAME)
            read = read_data(config.data, DataSpec.of(config), config.train_split, config.eval_split_name)
            self._rows = TrainingExamples(read.train, eval_rows=self._eval_rows())
        return self._rows

    def _eval_rows(self) -> list[int]:
        """The run's eval split as file row numbers; none if the file is not there yet (or is damaged)."""
        try:
            rows = json.loads((self.run_dir / EVAL_ROWS_NAME).read_text(encoding="utf-8")).get("eval_rows", [])
        except (OSError, ValueError, AttributeError):
            return []
        return [int(row) for row in rows] if isinstance(rows, list) else []

    def __len__(self) -> int:
        return len(self._loaded())

    def __getitem__(self, index: Any) -> Any:
        return self._loaded()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._loaded())

    def search(self, query: str, limit: int) -> tuple[int, list[Any]]:
        return self._loaded().search(query, limit)


class TrainerGone(RuntimeError):
    """The trainer process ended without writing the journal's `end`: killed, crashed, or refused to start."""


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
        # What this trainer wrote is what came after: its start (a resumed run's journal and log
        # hold the earlier processes' too, and their `end`s are not this trainer's).
        self.since = time.time() if trainer is not None else float(lock_holder(self.run_dir).get("started") or 0)
        self.log_from = _file_size(self.run_dir / TRAINER_LOG)
        self.exit: TrainerExit | None = None  # set by run() once the trainer has gone
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
        """Block until the trainer has written its `end` or gone, or the cockpit closes; raise
        TrainerGone if it went without an `end` (named within LIVENESS_POLL_S of its death)."""
        while not self._stop_reading.wait(LIVENESS_POLL_S):
            found = self.look()
            if found is None:
                continue
            self.exit = found
            if found.ended is not None:
                self.ended.wait(END_DELIVERY_S)  # the follower hands the same `end` to the cockpit
                return
            self._stop_reading.set()
            if found.refused is not None and self.on_failed_start is not None:
                self.on_failed_start()
            raise TrainerGone(found.message)

    def look(self) -> TrainerExit | None:
        """How the trainer went, if it has (its `end`, its refusal, its death); None while it trains.

        A waitpid or an flock while it trains; once it is gone (or an `end` was read), the journal's
        last lines: this trainer's `end` is the last record written since it started.
        """
        alive = self.trainer_alive()
        if alive and not self.ended.is_set():
            return None
        tail = journal_tail(self.run_dir / JOURNAL_NAME)
        mine = [(r, line) for r, line in tail if _written_at(r) >= self.since and r.get("type") != LoadingStage.type]
        if mine and mine[-1][0].get("type") == RunEnded.type:
            ended = _end_or_none(mine[-1][1])
            return TrainerExit(ended.in_words() if ended else "the run ended", ended=ended)
        if alive:  # an earlier process's `end`, read before this trainer's start
            return None
        return self._gone([record for record, _line in tail], started=bool(mine))

    def _gone(self, records: list[dict[str, Any]], started: bool) -> TrainerExit:
        """The trainer is gone without its `end`: its own last words if it left any, else what is known."""
        status = self.trainer.poll() if self.trainer is not None else None
        said = trainer_log_tail(self.run_dir, self.log_from)
        killed = status is not None and status < 0
        if not started and status is not None and status > 0:  # refused before training: its one line, its status
            return TrainerExit(
                said or f"cockpit: the trainer exited with status {status} before training", refused=status
            )
        if said.startswith("cockpit: ") and not killed:  # its last words: "stopped: disk full at step ..."
            return TrainerExit(said.removeprefix("cockpit: "))
        pid = self.trainer.pid if self.trainer is not None else lock_holder(self.run_dir).get("pid", "?")
        if killed:
            how = f"was killed ({signal.Signals(-status).name})"
        elif status is not None:
            how = f"exited with status {status}"
        else:
            how = "is gone (killed with -9, out of memory, or its machine stopped?)"
        steps = [r.get("step") for r in records if r.get("type") == StepMetrics.type]
        where = f" at step {steps[-1]}" if steps else ""
        return TrainerExit(
            f"the trainer (pid {pid}) {how}{where} without ending the run: {how_to_resume(self.run_dir)}"
        )


def _written_at(record: dict[str, Any]) -> float:
    value = record.get("time")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _end_or_none(line: str) -> RunEnded | None:
    """The journal's `end` line as its event (None from a journal this version cannot read)."""
    try:
        event = parse_event(line)
    except ValueError:
        return None
    return event if isinstance(event, RunEnded) else None


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
        threading.Thread(target=lambda: app.call_from_thread(app.exit), daemon=True).start()
        fallback = threading.Timer(3.0, os._exit, args=(0,))
        fallback.daemon = True
        fallback.start()

    signal.signal(signal.SIGHUP, hangup)


def run_attached(run_dir: Path, theme: str, train_argv: list[str] | None = None, ascii: bool | None = None) -> int:
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
    app = CockpitApp(events, control, examples=examples, theme_name=theme, run_label=str(run_dir), ascii=ascii)
    if control is not None:
        control.on_failed_start = lambda: app.call_from_thread(app.exit)
    _close_on_hangup(app)
    app.run()
    code, words = client_outcome(app, control, run_dir)
    if words:
        print(words, file=sys.stderr)
    return code


def client_outcome(app: Any, control: AttachedRun | None, run_dir: Path) -> tuple[int, str]:
    """(exit status, what to tell the user) once the cockpit has closed on `run_dir`.

    A cockpit that crashed says so first, and where its traceback is: issue #25 found a crash
    reported as "detached: the run goes on", exit 0. What happened to the run follows either way:
    still training, refused before training (its one line, its status: 2 for bad input), gone
    without an `end` (how, and the resume), or ended (how, and the run's summary).
    """
    crashed = ""
    if app.crash is not None:
        crashed = crashed_line(app.crash, keep_traceback(run_dir, app.crash)) + "\n"
    if control is None:  # a replay
        return (1, crashed.rstrip()) if crashed else (0, "")
    gone = control.exit or control.look()
    if gone is None:
        pid = control.trainer.pid if control.trainer is not None else live_pid(run_dir)
        if crashed:
            return 1, crashed + f"The run goes on (pid {pid}); re-attach with: cockpit attach {run_dir}"
        return 0, f"detached: the run goes on (pid {pid}); re-attach with: cockpit attach {run_dir}"
    if gone.refused is not None:
        return gone.refused, crashed + gone.message
    if gone.ended is None:
        return 1, crashed + f"cockpit: {gone.message}"
    how = f"cockpit: {gone.ended.in_words()}\n" if gone.ended.reason != EndReason.FINISHED else ""
    words = crashed + how + run_summary(run_dir)
    if crashed or control.trainer is None:
        return (1 if crashed else 0), words
    try:  # `cockpit train` at a terminal exits as its trainer did (0 finished, 130 interrupted, 1 error)
        return control.trainer.wait(timeout=END_DELIVERY_S), words
    except subprocess.TimeoutExpired:
        return 0, words
