"""Ctrl-C and SIGTERM leave a checkpoint and a complete journal; a dropped SSH session (SIGHUP) stops
only a run that trains inside the cockpit's own process (`--foreground`)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.rundir.checkpoint import latest_checkpoint
from cockpit.rundir.journal import read_journal
from cockpit.rundir.lock import live_pid

DEI = Path(__file__).resolve().parents[2] / "sample_data" / "dei.parquet"


def _train_command(tiny_model: Path, run: Path, *extra: str) -> list[str]:
    """`cockpit train` on the DEI sample with the tiny model, as a user would type it."""
    return [
        sys.executable, "-m", "cockpit.cli", "train", str(DEI), "--model", str(tiny_model), "--out", str(run),
        "--max-length", "32", "--batch-size", "8", "--eval-split", "0", *extra,
    ]  # fmt: skip


def _start(tiny_model: Path, run: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        _train_command(tiny_model, run, "--headless", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def _wait_for_steps(run: Path, count: int, process: subprocess.Popen | None, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    journal = run / "journal.jsonl"
    while time.time() < deadline:
        assert process is None or process.poll() is None, process.communicate()
        if journal.exists() and sum(e.type == "step" for e in read_journal(journal)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("the run did not reach its steps in time")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_saves_checkpoint_and_ends_journal(tiny_model: Path, tmp_path: Path, signum: int) -> None:
    run = tmp_path / "run"
    process = _start(tiny_model, run, "--max-steps", "100000")
    _wait_for_steps(run, 3, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "saving a checkpoint" in err
    events = read_journal(run / "journal.jsonl")
    end = events[-1]
    assert end.type == "end" and end.reason == "interrupted"
    checkpoint = latest_checkpoint(run)
    assert checkpoint is not None and checkpoint.name == f"step-{end.step}"
    assert end.step == max(e.step for e in events if e.type == "step")


def test_headless_run_outlives_its_terminal(tiny_model: Path, tmp_path: Path) -> None:
    """`nohup cockpit train --headless` (or none: the hangup is ignored either way) goes on after SIGHUP."""
    run = tmp_path / "run"
    process = _start(tiny_model, run, "--max-steps", "100000")
    _wait_for_steps(run, 3, process)
    process.send_signal(signal.SIGHUP)
    steps = sum(e.type == "step" for e in read_journal(run / "journal.jsonl"))
    _wait_for_steps(run, steps + 3, process)  # still training
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == 130 and read_journal(run / "journal.jsonl")[-1].reason == "interrupted"


def test_resume_after_ctrl_c_continues_numbering_in_the_same_journal(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = _start(tiny_model, run, "--max-steps", "100000", "--freeze", "embeddings")
    _wait_for_steps(run, 3, process)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    stopped_at = read_journal(run / "journal.jsonl")[-1].step

    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cockpit.cli",
            "train",
            "--resume",
            str(run),
            "--headless",
            "--max-steps",
            str(stopped_at + 3),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert resumed.returncode == 0, resumed.stderr
    events = read_journal(run / "journal.jsonl")
    assert [e.step for e in events if e.type == "step"] == list(range(1, stopped_at + 4))
    assert [e.reason for e in events if e.type == "end"] == ["interrupted", "finished"]
    restarted = [e for e in events if e.type == "run"][-1]
    assert restarted.resumed_from == stopped_at and restarted.frozen == ["embeddings"]


@pytest.mark.parametrize("mode", ["--foreground", "detached"])
def test_sighup_with_the_cockpit_open(tiny_model: Path, tmp_path: Path, mode: str) -> None:
    """The SSH session drops while the app is on screen. With `--foreground` the run ends cleanly
    (checkpoint + end); by default the trainer is in its own session and trains on."""
    import pty

    run = tmp_path / "run"
    controller, terminal = pty.openpty()
    steps = "100000" if mode.startswith("--") else "3000"  # a detached trainer must end even if the test does not
    command = _train_command(tiny_model, run, "--max-steps", steps, *([mode] if mode.startswith("--") else []))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    process = subprocess.Popen(
        command, stdin=terminal, stdout=terminal, stderr=terminal, env=env, start_new_session=True
    )
    os.close(terminal)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # keep the pty drained so the app never blocks on output
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    os.read(controller, 65536)
                except OSError:
                    break
            journal = run / "journal.jsonl"
            if journal.exists() and sum(e.type == "step" for e in read_journal(journal)) >= 3:
                break
        process.send_signal(signal.SIGHUP)
        os.close(controller)  # the terminal is gone, as with a dropped SSH session
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    if mode == "detached":
        try:
            assert live_pid(run) is not None
            steps = sum(e.type == "step" for e in read_journal(run / "journal.jsonl"))
            _wait_for_steps(run, steps + 3, None)
            stop = subprocess.run(
                [sys.executable, "-m", "cockpit.cli", "send", str(run), "stop", "--timeout", "60"],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert stop.returncode == 0, stop.stderr
            deadline = time.time() + 120
            while live_pid(run) is not None and time.time() < deadline:
                time.sleep(0.1)
            assert read_journal(run / "journal.jsonl")[-1].reason == "stopped"
        finally:  # a detached trainer outlives this test by design: never leave one behind
            if (pid := live_pid(run)) is not None:
                os.kill(pid, signal.SIGKILL)
        return
    end = read_journal(run / "journal.jsonl")[-1]
    assert end.type == "end" and end.reason == "interrupted"
    assert latest_checkpoint(run) is not None and latest_checkpoint(run).name == f"step-{end.step}"
