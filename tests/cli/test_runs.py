"""`cockpit runs`: one line per run from its summary and the journal's last bytes; how each run ended."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli.runs import describe_run
from cockpit.contract.enums import EndReason
from cockpit.contract.events import RunEnded
from cockpit.rundir.journal import JournalWriter, read_journal
from cockpit.rundir.layout import JOURNAL_NAME, LOCK_NAME, TRAINER_LOG
from cockpit.rundir.summary import read_header, summary_path

SENTIMENT = Path(__file__).resolve().parents[2] / "sample_data" / "sentiment.parquet"


def cockpit(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *map(str, argv)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def exploded(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run whose loss explodes (lr 0.9, no clipping): it ends with the loss alarm raised."""
    run = tmp_path_factory.mktemp("runs") / "exploded"
    done = cockpit(
        "train", SENTIMENT, "--model", tiny_model, "--out", run, "--max-steps", "8", "--lr", "0.9",
        "--warmup-ratio", "0", "--max-grad-norm", "0", "--seed", "42", "--eval-every", "4",
        "--max-length", "32", "--batch-size", "8", "--headless",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return run


def listed(folder: Path) -> dict[str, dict]:
    done = cockpit("runs", folder, "--json")
    assert done.returncode == 0, done.stderr
    return {Path(item["path"]).name: item for item in json.loads(done.stdout)}


def test_runs_json_has_the_alarms_the_eval_and_the_state(exploded: Path) -> None:
    [run] = listed(exploded.parent).values()
    events = read_journal(exploded / JOURNAL_NAME)
    alarms = {}
    for event in events:
        if event.type == "alarm":
            alarms[event.kind] = event.active
    raised = sorted(kind for kind, active in alarms.items() if active)
    assert raised and "loss_rising" in raised
    assert sorted(a["kind"] for a in run["alarms"]) == raised
    assert run["state"] == "finished" and run["pid"] is None and run["detail"] == ""
    assert run["step"] == run["total_steps"] == 8
    last_eval = [e for e in events if e.type == "eval"][-1]
    assert run["eval"] == last_eval.metrics and run["eval_step"] == 8
    assert run["last_checkpoint"].endswith("step-8")
    table = cockpit("runs", exploded.parent).stdout.splitlines()
    assert table[0].split() == ["RUN", "STEP", "LOSS", "EVAL", "ALARMS", "UPDATED", "STATE"]
    assert ",".join(raised) in table[1] and table[1].endswith("finished")


def test_a_run_without_a_summary_or_with_a_stale_one_lists_the_same(exploded: Path, tmp_path: Path) -> None:
    """Runs from before summaries are read from the journal's head and tail; a summary behind the
    journal (the trainer writes one every few seconds) is brought up to date from the bytes after it."""
    reference = describe_run(exploded)
    assert read_header(exploded / JOURNAL_NAME)["offset"] == (exploded / JOURNAL_NAME).stat().st_size
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(exploded / JOURNAL_NAME, old / JOURNAL_NAME)
    same = ("state", "step", "total_steps", "loss", "eval", "eval_step", "alarms", "last_checkpoint")
    without = describe_run(old)
    assert {k: getattr(without, k) for k in same} == {k: getattr(reference, k) for k in same}

    stale = tmp_path / "stale"
    stale.mkdir()
    events = read_journal(exploded / JOURNAL_NAME)
    half = next(i for i, e in enumerate(events) if e.type == "step" and e.step == 4)
    writer = JournalWriter(stale / JOURNAL_NAME)
    for event in events[:half]:
        writer(event)
    writer.keeper.write()  # a summary at step 3 ...
    at_step_3 = summary_path(stale / JOURNAL_NAME).read_bytes()
    for event in events[half:]:
        writer(event)
    writer.close()
    summary_path(stale / JOURNAL_NAME).write_bytes(at_step_3)  # ... and none after it
    assert read_header(stale / JOURNAL_NAME)["run"]["step"] == 3
    behind = describe_run(stale)
    assert {k: getattr(behind, k) for k in same} == {k: getattr(reference, k) for k in same}


def ended(tmp_path: Path, exploded: Path, name: str, **end: object) -> Path:
    """A copy of the real run, ended with `end` instead of its own `end` (or with none)."""
    run = tmp_path / name
    run.mkdir()
    events = read_journal(exploded / JOURNAL_NAME)
    writer = JournalWriter(run / JOURNAL_NAME)
    for event in events[:-1]:
        writer(event)
    if end:
        writer(dataclasses.replace(events[-1], **end))
    writer.close()
    return run


def test_how_each_run_ended_is_said_with_what_to_do(exploded: Path, tmp_path: Path) -> None:
    checkpoint = str(exploded / "checkpoints" / "step-8")
    ended(tmp_path, exploded, "disk", reason=EndReason.STOPPED, message="disk full", checkpoint=checkpoint)
    crash = f"could not write checkpoint step-8: is the disk full?; last good checkpoint: {checkpoint}"
    ended(tmp_path, exploded, "crash", reason=EndReason.ERROR, checkpoint=checkpoint, message=crash)
    (ended(tmp_path, exploded, "killed") / LOCK_NAME).write_text('{"pid": 999999}')  # kill -9: no end, a stale file
    said = ended(tmp_path, exploded, "said")
    (said / TRAINER_LOG).write_text(
        "step 8/8 loss 9.1\ncockpit: training failed: cannot write the journal: No space left on device; "
        f"last good checkpoint: {checkpoint}\n"
    )
    runs = listed(tmp_path)
    resume = "resume with cockpit train --resume "
    assert runs["disk"]["state"] == "stopped"
    assert runs["disk"]["detail"] == f"disk full at step 8; last checkpoint step-8; {resume}{tmp_path / 'disk'}"
    assert runs["crash"]["state"] == "crashed" and runs["crash"]["detail"].startswith(crash + " at step 8; resume")
    assert runs["killed"]["state"] == "died"
    assert runs["killed"]["detail"].startswith("no end in the journal after step 8 (killed?; its pid file is stale)")
    assert f"last checkpoint step-8; {resume}" in runs["killed"]["detail"]
    assert runs["said"]["state"] == "stopped"
    assert runs["said"]["detail"].startswith("training failed: cannot write the journal: No space left on device")
    table = cockpit("runs", tmp_path).stdout
    assert f"stopped: disk full at step 8; last checkpoint step-8; {resume}{tmp_path / 'disk'}" in table


def test_an_ended_run_lists_its_end_even_when_its_summary_missed_it(exploded: Path, tmp_path: Path) -> None:
    run = ended(tmp_path, exploded, "late", reason=EndReason.INTERRUPTED, message="")
    summary_path(run / JOURNAL_NAME).unlink()
    listing = describe_run(run)
    assert listing.state == "interrupted" and listing.detail.startswith("interrupted at step 8; last checkpoint step-8")
    assert isinstance(read_journal(run / JOURNAL_NAME)[-1], RunEnded)
