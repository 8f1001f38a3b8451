"""What a cockpit says as it closes (issue #25): real processes in a real terminal.

A crash of the cockpit is never reported as a detach. The crash is put into the child process only
(its `?` key divides by zero), so the code under test is the real `cockpit attach` / `cockpit train`
exit path: the client says it crashed, where the traceback went, and what became of the run, which
goes on either way. And `q` then `s` ends with a paragraph on the run, not a bare directory name.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cockpit.cli.attach import spawn_trainer
from cockpit.rundir.journal import read_journal
from cockpit.rundir.layout import CRASH_LOG
from cockpit.rundir.lock import live_pid

DEI = Path(__file__).resolve().parents[2] / "sample_data" / "dei.parquet"
TIMEOUT_S = 120
CRASHING = (
    "import sys, cockpit.ui.app as app; app.CockpitApp.action_help = lambda self: 1 / 0; "
    "from cockpit.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def _tiny_args(tiny_model: Path, run: Path, *extra: str) -> list[str]:
    return [
        str(DEI), "--model", str(tiny_model), "--out", str(run), "--max-length", "32", "--batch-size", "8",
        "--eval-split", "0", *extra,
    ]  # fmt: skip


def _steps(run: Path) -> int:
    journal = run / "journal.jsonl"
    return sum(e.type == "step" for e in read_journal(journal)) if journal.exists() else 0


def _wait(predicate, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Terminal:
    """A cockpit command with a crash planted, in its own pseudo-terminal (120x40), its output kept."""

    def __init__(self, *argv: str) -> None:
        self.controller, terminal = pty.openpty()
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CRASHING, *argv],
            stdin=terminal, stdout=terminal, stderr=terminal, env=env, start_new_session=True,
        )  # fmt: skip
        os.close(terminal)
        self.output = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                if select.select([self.controller], [], [], 0.1)[0]:
                    chunk = os.read(self.controller, 65536)
                    if not chunk:
                        return
                    self.output += chunk
            except OSError:
                return

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace").replace("\r", "")

    def press(self, keys: bytes) -> None:
        """Wait for the cockpit's screen, then press `keys` (`?` crashes it)."""
        _wait(lambda: b"Layers" in self.output, "the cockpit's screen")
        for key in keys:
            os.write(self.controller, bytes([key]))
            time.sleep(0.5)

    def crash(self) -> None:
        self.press(b"?")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        os.close(self.controller)


def test_a_crashed_attached_cockpit_says_so_and_the_run_goes_on(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    trainer = spawn_trainer(_tiny_args(tiny_model, run, "--max-steps", "3000"), run)
    terminal = Terminal("attach", str(run))
    try:
        _wait(lambda: _steps(run) >= 2, "the trainer's first steps")
        terminal.crash()
        assert terminal.process.wait(timeout=TIMEOUT_S) == 1
        time.sleep(0.3)  # the last lines through the pty
        said = terminal.text
        assert "the cockpit crashed (ZeroDivisionError: division by zero)" in said, said[-2000:]
        assert f"its traceback is above and in {run / CRASH_LOG}" in said
        assert f"The run goes on (pid {trainer.pid})" in said and "detached:" not in said
        assert "ZeroDivisionError" in (run / CRASH_LOG).read_text()
        steps = _steps(run)
        _wait(lambda: _steps(run) >= steps + 3, "more steps after the crash")
        assert live_pid(run) == trainer.pid
    finally:
        terminal.close()
        if trainer.poll() is None:
            trainer.send_signal(signal.SIGTERM)
            trainer.wait(timeout=TIMEOUT_S)


def test_a_crashed_foreground_cockpit_trains_on_with_a_progress_line(tiny_model: Path, tmp_path: Path) -> None:
    """`--foreground`: the UI is gone, the training thread is not; it used to train on a blank screen."""
    run = tmp_path / "run"
    terminal = Terminal("train", *_tiny_args(tiny_model, run, "--max-steps", "600", "--foreground"))
    try:
        terminal.crash()
        _wait(lambda: b"The run goes on in this process" in terminal.output, "the crash to be said")
        assert "the cockpit crashed (ZeroDivisionError: division by zero)" in terminal.text
        assert terminal.process.wait(timeout=TIMEOUT_S) == 1  # the run finished, but the cockpit crashed
        time.sleep(0.3)
        said = " ".join(terminal.text.split())
        assert "step 600/600 epoch" in said  # the progress line took over
        assert "Run finished at step 600 of 600" in said  # and the summary closes it
        assert read_journal(run / "journal.jsonl")[-1].reason == "finished"
        assert "ZeroDivisionError" in (run / CRASH_LOG).read_text()
    finally:
        terminal.close()


def test_q_then_s_stops_the_run_and_says_what_it_got(tiny_model: Path, tmp_path: Path) -> None:
    """#25: `q` then `s` exited with no summary."""
    run = tmp_path / "run"
    trainer = spawn_trainer(
        _tiny_args(tiny_model, run, "--max-steps", "3000", "--eval-every", "5", "--eval-split", "0.2"), run
    )
    terminal = Terminal("attach", str(run))
    try:
        _wait(lambda: _steps(run) >= 6, "the trainer's first steps and an eval")
        terminal.press(b"qs")
        assert terminal.process.wait(timeout=TIMEOUT_S) == 0
        assert trainer.wait(timeout=TIMEOUT_S) == 0
        time.sleep(0.3)
        said = " ".join(terminal.text.split())
        end = read_journal(run / "journal.jsonl")[-1]
        assert end.reason == "stopped"
        assert f"Run stopped at step {end.step} of 3000" in said and "Best eval: micro-f1" in said, said[-1500:]
        assert f"Last checkpoint: {run}/checkpoints/step-{end.step}" in said
        assert f"cockpit train --resume {run}" in said and f"cockpit replay {run}" in said
    finally:
        terminal.close()
        if trainer.poll() is None:
            trainer.kill()
