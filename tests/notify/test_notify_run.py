"""Notifications from real runs: `cockpit train` processes telling a real HTTP server on 127.0.0.1
(started here; nothing goes to any other address) and a real command.

The default sample run (`cockpit train sample_data/dei.parquet`) raises the collapse alarm at step 30;
the tiny model does too at --lr 1e-3, which keeps the fast test fast; the slow test is the real one.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, tiny_engine
from notify.receiver import receiver

from cockpit.cli.attach import spawn_trainer
from cockpit.contract.events import Alarm, Notice, RunEnded, RunStarted, StepMetrics, SystemSample
from cockpit.rundir.journal import read_journal
from cockpit.rundir.layout import CONFIG_NAME, JOURNAL_NAME

DEI = SAMPLES / "dei.parquet"
TIMEOUT_S = 600


def recording_command(folder: Path) -> str:
    """A real command: the time it started, the summary variable and stdin, one file per call."""
    return (
        "t=$(date +%s.%N); body=$(cat); "
        f'printf "%s\\n%s\\n%s\\n" "$t" "$COCKPIT_SUMMARY" "$body" > "{folder}/$COCKPIT_KIND.$$"'
    )


def calls(folder: Path, kind: str) -> list[tuple[float, str, dict]]:
    found = []
    for path in sorted(folder.glob(f"{kind}.*")):
        at, line, body = path.read_text().split("\n", 2)
        found.append((float(at), line, json.loads(body)))
    return found


def train(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "train", *map(str, argv), "--headless"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def check_collapse_told(run: Path, server, folder: Path) -> Alarm:  # noqa: ANN001 - a notify.receiver.Receiver
    """The collapse alarm reached the URL and the command within a second of being journaled."""
    journal = read_journal(run / JOURNAL_NAME)
    collapse = next(e for e in journal if isinstance(e, Alarm) and e.kind == "collapse" and e.active)
    posted = [r for r in server.received if r.json()["kind"] == "alarm" and r.json()["event"]["kind"] == "collapse"]
    assert len(posted) == 1, [r.json()["text"] for r in server.received]
    assert posted[0].json()["event"]["time"] == collapse.time
    assert 0 <= posted[0].at - collapse.time < 1.0
    ran = [c for c in calls(folder, "alarm") if c[2]["event"]["kind"] == "collapse"]
    assert len(ran) == 1 and 0 <= ran[0][0] - collapse.time < 1.0
    assert ran[0][1].endswith(f"ALARM collapse at step {collapse.step}: {collapse.message}")
    ended = next(e for e in journal if isinstance(e, RunEnded))
    told = [r.json() for r in server.received if r.json()["kind"] == "end"]
    assert [t["event"]["reason"] for t in told] == [ended.reason] and len(calls(folder, "end")) == 1
    return collapse


def test_the_collapse_alarm_of_a_cli_run_reaches_a_url_and_a_command_within_a_second(
    tiny_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    run = tmp_path / "run"
    with receiver() as server:
        result = train(DEI, "--model", tiny_model, "--lr", "1e-3", "--out", run,
                       "--notify", recording_command(folder), "--notify-url", server.url)  # fmt: skip
        assert result.returncode == 0, result.stderr
        collapse = check_collapse_told(run, server, folder)
    assert collapse.step == 30
    # the webhook's path is its password: config.json keeps it (a resume goes on telling), owner-only;
    # the journal, which people share, does not hold it
    assert stat.S_IMODE(os.stat(run / CONFIG_NAME).st_mode) == 0o600
    assert json.loads((run / CONFIG_NAME).read_text())["notify_url"] == server.url
    journal_text = (run / JOURNAL_NAME).read_text()
    assert "secret-token" not in journal_text
    started = next(e for e in read_journal(run / JOURNAL_NAME) if isinstance(e, RunStarted))
    assert started.config["notify_url"] == server.url.rsplit("/hook", 1)[0] + "/…"


@pytest.mark.slow
def test_the_default_sample_run_tells_its_collapse_alarm(tmp_path: Path) -> None:
    """`cockpit train sample_data/dei.parquet` as the README starts it: the embedded MiniLM, defaults."""
    folder = tmp_path / "calls"
    folder.mkdir()
    run = tmp_path / "run"
    with receiver() as server:
        result = train(DEI, "--out", run, "--notify", recording_command(folder), "--notify-url", server.url)
        assert result.returncode == 0, result.stderr
        collapse = check_collapse_told(run, server, folder)
    assert collapse.step == 30


def test_notify_on_a_live_run_through_cockpit_send(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = [str(DEI), "--model", str(tiny_model), "--out", str(run), "--max-length", "32", "--eval-split", "0",
            "--max-steps", "3000"]  # fmt: skip
    trainer = spawn_trainer(argv, run)
    try:
        with receiver() as server:
            deadline = time.monotonic() + TIMEOUT_S
            while not any(isinstance(e, StepMetrics) for e in _events(run)) and time.monotonic() < deadline:
                time.sleep(0.2)
            said = _send(run, f"notify={server.url}")
            assert said.returncode == 0, said.stderr
            assert "notifying http://127.0.0.1:" in said.stdout and "/…" in said.stdout and "secret" not in said.stdout
            assert _send(run, "stop").returncode == 0
            trainer.wait(timeout=TIMEOUT_S)
            told = server.wait_for(1)
        assert [r.json()["event"]["reason"] for r in told] == ["stopped"]
    finally:
        if trainer.poll() is None:
            trainer.kill()
    commands = [e.command for e in _events(run) if e.type == "command"]
    assert f"notify={server.url.rsplit('/hook', 1)[0]}/…" in commands  # journaled without the secret


def test_a_hanging_url_costs_the_trainer_no_waiting(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every evaluation is told to a server that holds each request: the run trains all its steps
    while the first request is still held, and says once that the URL failed: in the journal when the
    timeout comes during the run, on stderr when a fast machine ended the run first."""
    with receiver(hold=True) as server:
        engine = tiny_engine(DEI, tmp_path / "run", tiny_model, max_steps=12, eval_every=1,
                             notify_url=server.url, notify_on=["eval", "end"], notify_every=0.0)  # fmt: skip
        engine.notifier.timeout_s = 0.3
        ended = engine.run()
        assert ended.reason == "finished" and ended.step == 12
        assert server.holding.is_set() and len(server.received) >= 1
    notices = [e for e in read_journal(tmp_path / "run" / JOURNAL_NAME) if isinstance(e, Notice)]
    journaled = [n.message for n in notices if n.kind == "notify_failed"]
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cockpit: notify: POST")]
    failures = journaled + said
    assert len(failures) == 1 and "timed out" in failures[0]


def test_a_cpu_run_journals_its_machine(tiny_model: Path, tmp_path: Path) -> None:
    """`cockpit train` samples the trainer's RAM and the step's parts; the last step always has one."""
    run = tmp_path / "run"
    result = train(DEI, "--model", tiny_model, "--out", run, "--max-steps", "8", "--eval-split", "0")
    assert result.returncode == 0, result.stderr
    samples = [e for e in read_journal(run / JOURNAL_NAME) if isinstance(e, SystemSample)]
    assert samples and samples[-1].step == 8 and all(s.devices == [] for s in samples)
    last = samples[-1]
    assert 100 < last.rss_mib < last.ram_total_mib and last.step_times is not None
    times = last.step_times
    parts = times.data_s + times.forward_backward_s + times.optimizer_s + times.instruments_s + times.other_s
    assert times.data_s > 0 and times.forward_backward_s > times.data_s and parts == pytest.approx(times.total_s)


def _events(run: Path) -> list:
    journal = run / JOURNAL_NAME
    return read_journal(journal) if journal.exists() else []


def _send(run: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "send", str(run), command], capture_output=True, text=True, timeout=120
    )
