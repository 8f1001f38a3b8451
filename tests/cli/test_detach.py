"""A run outlives its terminal: real trainer processes, real clients, no mocks.

The trainer is started exactly as `cockpit train` starts it (`spawn_trainer`: its own session, output
in trainer.log). Clients are the real cockpit (`cockpit attach` in a pseudo-terminal, or the app
driven by Pilot over an `AttachedRun`), `cockpit send` and `cockpit runs` as subprocesses.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import plain
from ui_fixtures.harness import run_async

from cockpit.cli.attach import AttachedRun, RunExamples, TrainerGone, spawn_trainer
from cockpit.contract.commands import Freeze, Unfreeze
from cockpit.contract.events import CommandApplied, Event, StepMetrics
from cockpit.rundir.fold import FoldSnapshot
from cockpit.rundir.journal import read_journal
from cockpit.rundir.lock import live_pid
from cockpit.ui.app import CockpitApp
from cockpit.ui.examples_screen import ExamplesScreen
from cockpit.ui.run_state import RunState

DEI = Path(__file__).resolve().parents[2] / "sample_data" / "dei.parquet"
TIMEOUT_S = 120  # loading torch and the data on a busy 2-core machine takes a while


def trainer_argv(tiny_model: Path, run: Path, *extra: str) -> list[str]:
    return [
        str(DEI), "--model", str(tiny_model), "--out", str(run), "--max-length", "32", "--batch-size", "8",
        "--eval-split", "0", "--max-steps", "3000", *extra,
    ]  # fmt: skip


def cockpit(*argv: object, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *map(str, argv)], capture_output=True, text=True, timeout=timeout
    )


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def steps_in(run: Path) -> int:
    journal = run / "journal.jsonl"
    return sum(isinstance(e, StepMetrics) for e in read_journal(journal)) if journal.exists() else 0


def checkpoints_in(run: Path) -> int:
    journal = run / "journal.jsonl"
    return sum(e.type == "checkpoint" for e in read_journal(journal)) if journal.exists() else 0


def wait_for_more_steps(run: Path, more: int = 3) -> None:
    start = steps_in(run)
    wait_for(lambda: steps_in(run) >= start + more, f"{more} more steps in {run}")


@pytest.fixture(scope="module")
def live_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One detached trainer for the module's client tests; stopped through `cockpit send` at the end."""
    run = tmp_path_factory.mktemp("detached") / "run"
    trainer = spawn_trainer(trainer_argv(tiny_model, run), run)
    wait_for(lambda: steps_in(run) >= 2, "the detached trainer's first steps")
    yield run
    if trainer.poll() is None:
        cockpit("send", run, "stop")
        trainer.wait(timeout=TIMEOUT_S)


class PtyClient:
    """`cockpit attach RUN` in its own pseudo-terminal, as an SSH session would run it."""

    def __init__(self, run: Path) -> None:
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: a session whose controlling terminal is the pty
            os.execv(sys.executable, [sys.executable, "-m", "cockpit.cli", "attach", str(run)])
        self.output = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def drawn(self) -> bool:
        return b"Layers" in self.output

    def exited(self) -> bool:
        done, _status = os.waitpid(self.pid, os.WNOHANG)
        return done == self.pid


def fold(events: queue.SimpleQueue[Event], state: RunState) -> RunState:
    while True:
        try:
            state.apply(events.get_nowait())
        except queue.Empty:
            return state


def commands_in(run: Path) -> list[CommandApplied]:
    return [e for e in read_journal(run / "journal.jsonl") if isinstance(e, CommandApplied)]


@run_async
async def test_attach_from_another_process_freezes_exactly(live_run: Path) -> None:
    """The full cockpit on a run started elsewhere: `space` on layer.0 freezes it from the next step."""
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    control = AttachedRun(live_run, events)
    app = CockpitApp(events, control, examples=RunExamples(live_run), run_label=str(live_run))
    async with app.run_test(size=(160, 48)) as pilot:
        while not app.run_state.layers:
            await pilot.pause(0.1)
        await pilot.press("l", "down", "space")
        deadline = time.monotonic() + TIMEOUT_S
        while not any(c.command == "freeze=layer.0" for c in commands_in(live_run)):
            assert time.monotonic() < deadline, "the freeze was never applied"
            await pilot.pause(0.1)
        await pilot.press("e")  # the examples browser reads the run's own data file
        await pilot.pause(0.5)
        assert isinstance(app.screen, ExamplesScreen) and len(app.examples) > 200
        await pilot.press("escape")
        await pilot.pause(0.2)
        await pilot.press("d")  # detach: the app closes, the run goes on
    assert app.return_code == 0  # `d` closed the cockpit (a test's own teardown leaves it None)
    freeze = next(c for c in commands_in(live_run) if c.command == "freeze=layer.0")
    assert freeze.source.startswith(f"attach pid {os.getpid()}") and freeze.id and freeze.result == "froze layer.0"
    wait_for_more_steps(live_run)
    after = [e for e in read_journal(live_run / "journal.jsonl") if isinstance(e, StepMetrics) and e.step > freeze.step]
    assert after and all(e.layers["layer.0"].frozen and e.layers["layer.0"].update_ratio == 0.0 for e in after)
    assert all(e.layers["layer.1"].update_ratio > 0 for e in after)
    assert live_pid(live_run) is not None


def test_killed_or_hung_up_clients_leave_the_run_going(live_run: Path) -> None:
    """kill -9 of a client, and the hangup of its terminal (a dropped SSH session), touch nothing."""
    killed = PtyClient(live_run)
    wait_for(killed.drawn, "the first client's screen")
    os.kill(killed.pid, signal.SIGKILL)
    wait_for(killed.exited, "the killed client to end")
    wait_for_more_steps(live_run)

    hung_up = PtyClient(live_run)
    wait_for(hung_up.drawn, "the second client's screen")
    os.close(hung_up.master)  # the terminal goes away: the kernel sends the client SIGHUP
    wait_for(hung_up.exited, "the hung-up client to end")
    wait_for_more_steps(live_run)
    assert live_pid(live_run) is not None


def test_two_clients_see_each_others_commands_in_journal_order(live_run: Path) -> None:
    first_events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    second_events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    first, second = AttachedRun(live_run, first_events), AttachedRun(live_run, second_events)
    first_state, second_state = RunState(), RunState()
    try:
        first.submit(Freeze(("layer.1",)))
        wait_for(lambda: fold(second_events, second_state).layers.get("layer.1", None) is not None
                 and second_state.layers["layer.1"].frozen, "the second client to see the first's freeze")  # fmt: skip
        second.submit(Unfreeze(("layer.1",)))
        wait_for(lambda: not fold(first_events, first_state).layers["layer.1"].frozen
                 and any(c.command == "unfreeze=layer.1" for c in commands_in(live_run)),
                 "the first client to see the second's unfreeze")  # fmt: skip
    finally:
        first.close()
        second.close()
    sources = {c.command: c.source for c in commands_in(live_run)}
    assert sources["freeze=layer.1"] == sources["unfreeze=layer.1"] == first.source  # one test process, one name


def test_twenty_reattaches_lose_no_event_and_send_stops_the_run(live_run: Path) -> None:
    for _ in range(20):
        events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        client = AttachedRun(live_run, events)
        wait_for(client.started.is_set, "the attach to read the run's start")
        client.close()
    stopped = cockpit("send", live_run, "stop")
    assert stopped.returncode == 0 and stopped.stdout.startswith("applied at step"), stopped.stderr
    wait_for(lambda: live_pid(live_run) is None, "the trainer to end")
    events: queue.SimpleQueue[Event | FoldSnapshot] = queue.SimpleQueue()
    final = AttachedRun(live_run, events)
    wait_for(final.ended.is_set, "the journal's end")
    seen = []
    while not events.empty():
        seen.append(events.get())
    journal = read_journal(live_run / "journal.jsonl")
    assert isinstance(seen[0], FoldSnapshot)  # the trainer's summary, then whatever was written after it
    state, replayed = RunState(), RunState()
    for item in seen:
        state.apply(item)
    for event in journal:
        replayed.apply(event)
    assert plain(state) == plain(replayed)  # nothing lost: the whole journal's state
    assert state.step == max(e.step for e in journal if isinstance(e, StepMetrics)) and state.ended is not None

    finished = cockpit("send", live_run, "pause")  # a finished run: one line, exit 2
    assert finished.returncode == 2 and finished.stderr.count("\n") == 1 and "not live" in finished.stderr
    runs = cockpit("runs", live_run.parent)
    assert runs.returncode == 0 and "stopped" in runs.stdout


def test_a_killed_trainer_is_named_by_its_clients(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    trainer = spawn_trainer(trainer_argv(tiny_model, run, "--save-every", "2"), run)
    wait_for(lambda: checkpoints_in(run) >= 1, "a journaled checkpoint")
    running = cockpit("runs", tmp_path)
    assert f"running (pid {trainer.pid}; saved step-" in running.stdout, running.stdout  # what a kill -9 keeps
    control = AttachedRun(run, queue.SimpleQueue())
    outcome: list[BaseException] = []
    waiter = threading.Thread(target=lambda: _capture(control.run, outcome))
    waiter.start()
    trainer.kill()
    killed_at = time.monotonic()
    waiter.join(timeout=30)
    assert time.monotonic() - killed_at < 5, "the client took more than a few seconds to notice"
    assert outcome and isinstance(outcome[0], TrainerGone)
    message = str(outcome[0])
    assert f"the trainer (pid {trainer.pid}) is gone" in message and "without ending the run" in message
    assert "last checkpoint step-" in message and f"cockpit train --resume {run}" in message
    dead = cockpit("runs", tmp_path)
    assert "died: no end in the journal after step" in dead.stdout and "its pid file is stale" in dead.stdout
    assert "last checkpoint step-" in dead.stdout and f"resume with cockpit train --resume {run}" in dead.stdout
    again = spawn_trainer(["--resume", str(run), "--max-steps", str(steps_in(run) + 2)], run)  # nothing stale blocks
    assert again.wait(timeout=TIMEOUT_S) == 0, (run / "trainer.log").read_text()


def _capture(call: Callable[[], object], into: list[BaseException]) -> None:
    try:
        call()
    except BaseException as exc:  # the test asserts on it
        into.append(exc)


def test_a_command_not_from_the_runs_owner_is_refused_and_journaled(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    trainer = spawn_trainer(trainer_argv(tiny_model, run, "--max-steps", "400"), run)
    try:
        wait_for(lambda: steps_in(run) >= 1, "the first step")
        hidden, final = run / "inbox" / ".foreign.tmp", run / "inbox" / "99999999999999999999-1-0.json"
        hidden.write_text(json.dumps({"id": "foreign-1", "command": "stop", "source": "someone else"}))
        os.chown(hidden, 12345, -1)
        os.replace(hidden, final)
        wait_for(lambda: any(c.id == "foreign-1" for c in commands_in(run)), "the refusal in the journal")
        refusal = next(c for c in commands_in(run) if c.id == "foreign-1")
        assert refusal.result.startswith("refused: sent by uid 12345") and refusal.source == "someone else"
        wait_for_more_steps(run)  # and the run was not stopped
    finally:
        trainer.kill()
        trainer.wait()
