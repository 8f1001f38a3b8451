"""Issue 13, as a hostile user tried it: nothing lost, nothing silently wrong.

Each test names the case of the issue it reproduces. Where the exit status or the one line on the
terminal is the behaviour, the case runs as a real process (`python -m cockpit.cli`); where the
behaviour lives in a function, many cases share one process. Runs that need a trained run directory
copy one, trained once per module (6 steps of the tiny BERT, a checkpoint every 2 steps).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.cli.main import main
from cockpit.cli.runs import describe_run
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import CommandApplied, Notice, PinnedExample, RunStarted, StepMetrics
from cockpit.data.labeled import LabeledTexts
from cockpit.data.loading import load_labeled_texts
from cockpit.data.splits import MIN_ROWS, check_enough_rows
from cockpit.rundir.checkpoint import TrainingState, checkpoint_step, list_checkpoints, save_checkpoint
from cockpit.rundir.journal import REPEATED_KIND, SKIPPED_KIND, JournalWriter, parse_event, read_journal
from cockpit.rundir.layout import STATE_FILE
from cockpit.rundir.lock import RunLock
from cockpit.training.lora import save_model_files
from cockpit.training.prepare import data_fingerprint, split_train_rows

SENTIMENT = Path(__file__).resolve().parents[2] / "sample_data" / "sentiment.parquet"
DEI = SENTIMENT.with_name("dei.parquet")
TINY = ["--max-length", "32", "--batch-size", "8", "--headless"]


def cockpit(*argv: object, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`python -m cockpit.cli ARGV` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        cwd=cwd,
        **kwargs,
    )


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("cockpit: ")]


def one_line(result: subprocess.CompletedProcess, status: int = 2) -> str:
    assert result.returncode == status, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    return lines[0]


def main_here(*argv: object) -> int:
    """`cockpit ARGV` in this process (no start-up cost); its signal handlers put back afterwards."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return main([str(a) for a in argv])
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


def in_process(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    status = main_here(*argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return status, err


def refused(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    status, err = in_process(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("cockpit: error: "), err
    return lines[0]


def notices(run: Path, kind: str | None = None) -> list[Notice]:
    return [e for e in read_journal(run / "journal.jsonl") if isinstance(e, Notice) and kind in (None, e.kind)]


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run: 6 steps, checkpoints at 2, 4 and 6 (kept: 3)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    status = main_here("train", SENTIMENT, "--model", tiny_model, "--out", run, "--max-steps", "6", "--save-every", "2",
                       *TINY)  # fmt: skip
    assert status == 0
    return run


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained run to do things to."""
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def resume(capsys: pytest.CaptureFixture[str], run: Path, *flags: object) -> tuple[int, str]:
    return in_process(capsys, "train", "--resume", run, *TINY, *flags)


# ---------------------------------------------------------------------------------------------
# 1. A run directory belongs to one run
# ---------------------------------------------------------------------------------------------


def test_new_run_into_a_used_run_dir_is_refused_and_leaves_it_alone(
    trained: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in (trained / "checkpoints").iterdir())
    journal = (trained / "journal.jsonl").read_bytes()
    line = refused(capsys, "train", SENTIMENT, "--model", tiny_model, "--out", trained, "--max-steps", "2", *TINY)
    assert f"--out {trained}: already holds a cockpit run" in line and "--resume" in line
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == before == ["step-2", "step-4", "step-6"]
    assert (trained / "journal.jsonl").read_bytes() == journal


def test_a_second_trainer_in_one_run_dir_is_refused(
    run: Path, tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held = [RunLock(tmp_path / "busy").acquire(), RunLock(run).acquire()]  # live trainers, as the kernel sees it
    try:
        line = refused(capsys, "train", SENTIMENT, "--model", tiny_model, "--out", tmp_path / "busy", *TINY)
        assert "in use by a running trainer" in line and f"pid {os.getpid()}" in line
        assert "in use by a running trainer" in refused(capsys, "train", "--resume", run, *TINY)
    finally:
        for lock in held:
            lock.release()


def test_rotation_deletes_only_older_checkpoints_by_number(tmp_path: Path, tiny_model: Path) -> None:
    """step-10 sorts before step-9 as text; and a later step's folder is never this save's to delete."""
    from transformers import AutoModel, AutoTokenizer

    model, tokenizer = AutoModel.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)
    for step in (2, 9, 40):
        (tmp_path / "checkpoints" / f"step-{step}").mkdir(parents=True)
        (tmp_path / "checkpoints" / f"step-{step}" / STATE_FILE).write_bytes(b"x")
    state = TrainingState(step=10, optimizer={}, scheduler={}, rng_cpu=None, rng_cuda=[], frozen=[], pin_rows=[],
                          micro_batch=8)  # fmt: skip
    save_checkpoint(tmp_path, partial(save_model_files, model, tokenizer), state, 2)
    assert [checkpoint_step(p) for p in list_checkpoints(tmp_path)] == [9, 10, 40]


# ---------------------------------------------------------------------------------------------
# 2. --resume verifies before it trains, and applies or refuses every flag
# ---------------------------------------------------------------------------------------------


def _edited(run: Path, tmp_path: Path, edit) -> Path:
    table = pq.read_table(SENTIMENT).to_pydict()
    edit(table)
    path = tmp_path / "edited.parquet"
    pq.write_table(pa.table(table), path)
    return path


def test_resume_refuses_other_data_other_model_and_fixed_flags(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dropped = _edited(run, tmp_path, lambda t: [t[c].pop() for c in t])
    line = refused(capsys, "train", dropped, "--resume", run, *TINY)
    assert "499 usable rows, the run started with 500" in line
    added = _edited(run, tmp_path, lambda t: t["label"].__setitem__(slice(0, 5), [2] * 5))
    assert "label(s) added: '2'" in refused(capsys, "train", added, "--resume", run, *TINY)
    changed = _edited(run, tmp_path, lambda t: t["text"].__setitem__(7, "edited"))
    assert "texts or labels of" in refused(capsys, "train", changed, "--resume", run, *TINY)
    line = refused(capsys, "train", "--resume", run, "--model", tmp_path / "elsewhere", "--lr", "0.5", *TINY)
    assert "--model cannot change when resuming" in line
    assert "--batch-size cannot change" in refused(capsys, "train", "--resume", run, "--batch-size", "4", "--headless")
    checkpoint = run / "checkpoints" / "step-6"
    (checkpoint / "tokenizer.json").write_text((run / "checkpoints" / "step-6" / "tokenizer.json").read_text()
                                               .replace('"the"', '"thee"'))  # fmt: skip
    assert "tokenizer is not the one the run started with" in refused(capsys, "train", "--resume", run, *TINY)


def test_resume_refuses_a_changed_eval_file(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pq.read_table(SENTIMENT)
    train, evaluation = tmp_path / "train.parquet", tmp_path / "eval.parquet"
    pq.write_table(table.slice(0, 400), train)
    pq.write_table(table.slice(400), evaluation)
    run = tmp_path / "run"
    status, _ = in_process(capsys, "train", train, "--eval", evaluation, "--model", tiny_model, "--out", run,
                           "--max-steps", "2", "--save-every", "2", *TINY)  # fmt: skip
    assert status == 0
    status, _ = resume(capsys, run, "--max-steps", "3")  # the same eval file: resumes
    assert status == 0
    pq.write_table(table.slice(401), evaluation)  # a row dropped
    line = refused(capsys, "train", "--resume", run, *TINY)
    assert f"the eval file {evaluation} changed since the run started" in line
    assert "(99 usable rows, the run started with 100)" in line
    edited = table.slice(400).to_pydict()
    edited["text"][3] = "edited by hand"
    pq.write_table(pa.table(edited), evaluation)
    assert "same row count, different texts or labels" in refused(capsys, "train", "--resume", run, *TINY)


def test_resume_applies_flags_with_a_notice_and_continues_the_lr_schedule(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old run ended at its last step with lr 0; extended, the first extra step must learn."""
    status, _ = resume(capsys, run, "--max-steps", "9", "--lr", "0.002", "--save-every", "3", "--foreground")
    assert status == 0
    said = [n.message for n in notices(run, "resume")]
    assert any("--max-steps is now 9 (was 6)" in m for m in said), said
    assert any("--lr is now 0.002 (was 5e-05)" in m for m in said), said
    steps = [e for e in read_journal(run / "journal.jsonl") if isinstance(e, StepMetrics)]
    extra = [e.lr for e in steps if e.step > 6]
    assert len(extra) == 3 and all(lr > 0 for lr in extra), extra
    assert extra == sorted(extra, reverse=True)
    assert math.isclose(extra[0], 0.002 * 3 / 9)  # step 7 of 9 on the re-planned linear decay from the new peak
    assert any("had decayed to 0 by step 6" in m and "from lr 0.000667 at step 7" in m for m in said), said
    assert (run / "checkpoints" / "step-9").is_dir()  # --save-every 3 applied


def test_a_longer_max_steps_goes_on_from_the_lr_the_run_had(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Resumed from step 4 of 6 with --max-steps 12: the lr goes on from where it was (no jump), down to 0 at 12."""
    shutil.rmtree(run / "checkpoints" / "step-6")
    before = {e.step: e.lr for e in read_journal(run / "journal.jsonl") if isinstance(e, StepMetrics)}
    status, _ = resume(capsys, run, "--max-steps", "12")
    assert status == 0
    lrs = {e.step: e.lr for e in read_journal(run / "journal.jsonl") if isinstance(e, StepMetrics)}
    assert sorted(lrs) == list(range(1, 13))
    assert math.isclose(lrs[5], before[5])  # the step the crash had taken with the old total: the same lr
    for step in range(5, 13):  # the lr of step s+1: 1/3 of the peak (where step 4 left it) x (12 - s) / (12 - 4)
        assert math.isclose(lrs[step], 5e-5 / 3 * (12 - (step - 1)) / 8), (step, lrs)
    said = [n.message for n in notices(run, "resume")]
    assert any("on from 1.67e-05 at step 5 down to 0 at step 12" in m for m in said), said
    # resumed again (from step-8, same total): the continued plan goes on exactly, and is not announced again
    for step in (10, 12):
        shutil.rmtree(run / "checkpoints" / f"step-{step}")
    status, _ = resume(capsys, run)
    assert status == 0
    again = {e.step: e.lr for e in read_journal(run / "journal.jsonl") if isinstance(e, StepMetrics)}
    assert again == lrs
    assert [n.message for n in notices(run, "resume")] == said


def test_a_longer_max_steps_mid_warmup_finishes_the_warmup_then_decays(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """6 steps warming up over the first 3 (--warmup-ratio 0.5), resumed from step 2 with --max-steps 12."""
    run = tmp_path / "run"
    status, _ = in_process(capsys, "train", SENTIMENT, "--model", tiny_model, "--out", run, "--max-steps", "6",
                           "--warmup-ratio", "0.5", "--save-every", "2", *TINY)  # fmt: skip
    assert status == 0
    for step in (4, 6):
        shutil.rmtree(run / "checkpoints" / f"step-{step}")
    status, _ = resume(capsys, run, "--max-steps", "12")
    assert status == 0
    lrs = [e.lr / 5e-5 for e in read_journal(run / "journal.jsonl") if isinstance(e, StepMetrics)]
    expected = [1 / 4, 2 / 4, 3 / 4, 1.0] + [(12 - s) / (12 - 3) for s in range(4, 12)]  # the old warm-up, then 0 at 12
    assert len(lrs) == 12 and all(math.isclose(a, b) for a, b in zip(lrs, expected, strict=True)), lrs
    said = [n.message for n in notices(run, "resume")]
    assert any("on from 3.75e-05 at step 3, up to the peak 5e-05 at step 4, down to 0 at step 12" in m for m in said)


def test_a_run_stopped_by_a_scheduled_stop_resumes_past_it(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    status, _ = in_process(capsys, "train", SENTIMENT, "--model", tiny_model, "--out", run, "--max-steps", "6",
                           "--at", "4:stop", *TINY)  # fmt: skip
    stopped = read_journal(run / "journal.jsonl")[-1]
    assert status == 0 and stopped.type == "end" and stopped.reason == "stopped"
    status, _ = resume(capsys, run)
    end = read_journal(run / "journal.jsonl")[-1]
    assert status == 0 and end.reason == "finished" and end.step == 6
    assert any("already applied" in n.message for n in notices(run, "resume"))


def test_a_broken_checkpoint_falls_back_to_the_previous_good_one(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newest = run / "checkpoints" / "step-6" / STATE_FILE
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated: a crash or a full disk mid-copy
    (run / "checkpoints" / "step-4" / "model.safetensors").unlink()  # deleted by hand
    status, _ = resume(capsys, run, "--max-steps", "4")
    assert status == 0
    said = " | ".join(n.message for n in notices(run, "resume_checkpoint"))
    assert "step-6 is broken (training_state.pt cannot be loaded" in said and "resuming from step-2" in said
    assert "step-4 is broken (model.safetensors is missing)" in said
    assert [e.resumed_from for e in read_journal(run / "journal.jsonl") if e.type == "run"][-1] == 2


def test_no_good_checkpoint_is_one_line_naming_it(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for checkpoint in list_checkpoints(run):
        (checkpoint / "model.safetensors").unlink()
    (run / "checkpoints" / "step-6" / STATE_FILE).write_bytes(b"PK\x03\x04 a zip of something else")
    line = refused(capsys, "train", "--resume", run, *TINY)
    assert f"checkpoint {run / 'checkpoints' / 'step-6'} is broken" in line and "--model" not in line


def test_resume_runs_remote_code_only_with_the_flag_given_now(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run's config.json says trust_remote_code; the checkpoint ships code. No flag: it never runs."""
    marker = tmp_path / "code-ran"
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "trust_remote_code": True}))
    checkpoint = run / "checkpoints" / "step-6"
    (checkpoint / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertForSequenceClassification\n\n\n"
        "class Evil(BertForSequenceClassification):\n    pass\n"
    )
    model_config = json.loads((checkpoint / "config.json").read_text())
    model_config["auto_map"] = {"AutoModelForSequenceClassification": "evil.Evil"}
    (checkpoint / "config.json").write_text(json.dumps(model_config))
    status, _ = resume(capsys, run)  # nothing left to train: step-6 stays the newest checkpoint
    assert status == 0 and not marker.exists()
    assert not notices(run, "trust_remote_code")
    # ...and the same checkpoint with the flag on this command line does run it, and says so
    status, _ = resume(capsys, run, "--trust-remote-code")
    assert marker.exists()
    assert len(notices(run, "trust_remote_code")) == 1


# ---------------------------------------------------------------------------------------------
# 4. A full disk stops the run: one line, said once, exit 1, the last good checkpoint named
# ---------------------------------------------------------------------------------------------


def failed(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[str, str]:
    """A run that stopped on an error: exit 1, one `cockpit: ` line (and stderr, for the rest)."""
    status, err = in_process(capsys, *argv)
    lines = error_lines(err)
    assert status == 1 and len(lines) == 1, err
    return lines[0], err


def test_a_full_disk_while_journaling_stops_the_run(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run / "journal.jsonl").unlink()
    (run / "journal.jsonl").symlink_to("/dev/full")  # every write: ENOSPC, as on a full disk
    line, err = failed(capsys, "train", "--resume", run, "--max-steps", "9", *TINY)
    assert (
        line.startswith("cockpit: stopped: disk full at step 6 (cannot write the journal") and "No space left" in line
    )
    assert line.endswith(f"; last checkpoint step-6; resume with: cockpit train --resume {run}")
    assert err.count("No space left on device") == 1  # said once (trainer.log is this stderr)
    assert err.rstrip().splitlines()[-1] == line  # and last: a client reads it as the trainer's last words
    assert not (run / "checkpoints" / "step-9").exists()


@contextlib.contextmanager
def small_files() -> Iterator[None]:
    """A file-size limit below training_state.pt (600 KB) and above the weights (290 KB): a disk that fills up.

    Set in this process for the one call and put back after it (the run writes nothing else that large)."""
    handler, limits = signal.getsignal(signal.SIGXFSZ), resource.getrlimit(resource.RLIMIT_FSIZE)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails with EFBIG instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def test_a_full_disk_while_saving_a_checkpoint_stops_the_run(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with small_files():
        line, err = failed(capsys, "train", "--resume", run, "--max-steps", "8", *TINY)
    assert line.startswith("cockpit: stopped: disk full at step 8 (could not write checkpoint step-8")
    assert line.endswith(f"; last checkpoint step-6; resume with: cockpit train --resume {run}")
    assert "enforce fail" not in err and err.count("could not write checkpoint") == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-2", "step-4", "step-6"]
    end = read_journal(run / "journal.jsonl")[-1]  # what `cockpit runs` and the clients read
    assert end.type == "end" and end.reason == "disk_full" and end.step == 8
    assert end.checkpoint == str(run / "checkpoints" / "step-6") and end.resume == f"cockpit train --resume {run}"
    assert f"cockpit: {end.in_words()}" == line
    listing = describe_run(run)
    assert listing.state == "stopped" and listing.detail.startswith("disk full at step 8 (could not write checkpoint")
    assert listing.detail.endswith(f"; last checkpoint step-6; resume with cockpit train --resume {run}")


# ---------------------------------------------------------------------------------------------
# 5. One line where the README promises one
# ---------------------------------------------------------------------------------------------


def test_unusable_paths_are_one_line(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("x")
    common = ("--model", tiny_model, *TINY)
    line = refused(capsys, "train", SENTIMENT, "--out", tmp_path / "a-file", *common)
    assert "is a file" in line
    line = refused(capsys, "train", SENTIMENT, "--out", tmp_path / "a-file" / "run", *common)
    assert "cannot write there" in line
    folder = Path(tempfile.mkdtemp())  # outside tmp_path (0700): another user can enter it
    os.chmod(folder, 0o777)
    data = folder / "secret.csv"
    data.write_text("text,label\nhello,1\n")
    os.chmod(data, 0)
    as_root = os.geteuid() == 0
    if as_root:  # root reads anything: read as nobody, as a user without the permission would
        os.seteuid(65534)
    try:
        line = refused(capsys, "train", data, "--out", folder / "out", *common)
    finally:
        if as_root:
            os.seteuid(0)
        shutil.rmtree(folder)
    assert "secret.csv: cannot be read (Permission denied)" in line


def test_argparse_type_errors_are_one_line() -> None:
    line = one_line(cockpit("train", "data.csv", "--max-steps", "ten"))
    assert line == "cockpit: error: argument --max-steps: invalid int value: 'ten' (see cockpit train --help)"


def test_ctrl_c_while_the_model_loads_exits_130_in_one_line(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", "train", SENTIMENT, "--model", tiny_model, "--out", run, *TINY],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.time() + 120
    while not run.exists() and time.time() < deadline:  # the run dir appears just before data and model load
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert error_lines(err) == ["cockpit: interrupted before training started; nothing was trained"]
    assert not run.exists()  # nothing left behind: the same --out works next time


# ---------------------------------------------------------------------------------------------
# 6. Input: large cells read, broken label columns refused
# ---------------------------------------------------------------------------------------------


def test_input_cases(tmp_path: Path) -> None:
    big = "word " * 300_000  # 1.5 MB in one cell: over the CSV reader's default block
    path = tmp_path / "big.csv"
    pcsv.write_csv(pa.table({"text": [big, "short", "other"], "label": ["a", "b", "a"]}), path)
    assert load_labeled_texts(path).texts[0] == big

    for labels in (["pos", "1", "neg", "0"], ["pos", "neg", "2.5", "neg"], ["a", " 3 ", "b", "b"]):
        path = tmp_path / "mixed.csv"
        pcsv.write_csv(pa.table({"text": ["t1", "t2", "t3", "t4"], "label": labels}), path)
        with pytest.raises(CockpitError, match="mixes numbers and words"):
            load_labeled_texts(path)
    path.write_text("text,label\nfine,1 star\nalso,2 stars\nmore,1 star\n")  # names with digits are words
    assert load_labeled_texts(path).label_names == ["1 star", "2 stars"]

    rows = [f"text {i}" for i in range(MIN_ROWS)]

    def write(labels: list[str]) -> None:
        pq.write_table(pa.table({"text": rows[: len(labels)], "label": labels}), tmp_path / "s.parquet")

    write(["a", "b"])
    with pytest.raises(CockpitError, match=f"only 2 usable row.*at least {MIN_ROWS}"):
        check_enough_rows(load_labeled_texts(tmp_path / "s.parquet"))
    write(["a"] * (MIN_ROWS - 1) + ["b"])
    with pytest.raises(CockpitError, match="class 'b' has only 1 row"):
        check_enough_rows(load_labeled_texts(tmp_path / "s.parquet"))
    write(["a"] * (MIN_ROWS - 2) + ["b"] * 2)
    check_enough_rows(load_labeled_texts(tmp_path / "s.parquet"))


def test_too_few_rows_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two.csv"
    path.write_text("text,label\ngood,pos\nbad,neg\n")
    assert "only 2 usable row(s)" in refused(capsys, "train", path, "--out", tmp_path / "run")


def test_no_eval_rows_is_said_not_silent(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Enough rows to train, none to evaluate: the run says so (journal and terminal) and why."""
    path = tmp_path / "eight.csv"
    path.write_text("text,label\n" + "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(4)))
    cases = {
        ("--eval-split", "0.05"): "--eval-split 0.05 of 8 rows is 0 rows",
        ("--eval-rows", "0"): "--eval-rows 0",
        ("--eval-split", "0"): "--eval-split 0",
        ("--pin", ",".join(map(str, range(8)))): "every row the eval split took is pinned",
    }
    for i, (flags, why) in enumerate(cases.items()):
        run = tmp_path / f"run{i}"
        status, err = in_process(capsys, "train", path, "--model", tiny_model, "--out", run, "--max-steps", "1",
                                 *flags, *TINY)  # fmt: skip
        assert status == 0
        [said] = notices(run, "no_eval_rows")
        assert said.message.startswith("no eval rows") and why in said.message, (flags, said.message)
        assert f"[notice] {said.message}" in err
        assert not [e for e in read_journal(run / "journal.jsonl") if e.type == "eval"]


def test_a_trainer_script_below_the_row_thresholds_hears_it(tiny_model: Path, tmp_path: Path) -> None:
    """CockpitCallback: the thresholds `cockpit train` refuses at are a notice (the script is the user's)."""
    import contextlib
    import io

    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from cockpit import CockpitCallback

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=2)
    rows = [{**tokenizer(f"text {i}", truncation=True, max_length=16), "labels": int(i == 0)} for i in range(10)]
    said = {}
    for name, dataset in {"six": rows[:6], "one positive": rows}.items():
        out = tmp_path / name
        args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=4, max_steps=1, report_to=[],
                                 save_strategy="no", disable_tqdm=True, use_cpu=True)  # fmt: skip
        collate = DataCollatorWithPadding(tokenizer)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate,
                          processing_class=tokenizer, callbacks=[CockpitCallback()])  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.train()
        said[name] = [n.message for n in notices(out / "cockpit", "too_few_rows")]
    assert said["six"] == [f"train_dataset: only 6 usable row(s) (with a text and a label); cockpit needs at least "
                           f"{MIN_ROWS}: add rows or check the text and label columns"]  # fmt: skip
    [one] = said["one positive"]
    assert one.startswith("train_dataset: class 'LABEL_1' has only 1 row; every class needs at least 2")


# ---------------------------------------------------------------------------------------------
# 7. The journal
# ---------------------------------------------------------------------------------------------


def test_journal_reader_skips_and_counts_bad_lines(trained: Path, tmp_path: Path) -> None:
    lines = (trained / "journal.jsonl").read_text().splitlines()
    good = read_journal(trained / "journal.jsonl")
    step = next(i for i, line in enumerate(lines) if '"type":"step"' in line)
    broken = list(lines)
    broken[step] = broken[step].replace('"loss":', '"los":')  # a field missing (an older version)
    broken[step + 1] = broken[step + 1].replace('"step":', '"step":"x","was":')  # a wrong type (a hand edit)
    broken.insert(step + 2, "{torn")
    (tmp_path / "journal.jsonl").write_text("\n".join(broken) + "\n")
    events = read_journal(tmp_path / "journal.jsonl")
    skipped = [e for e in events if isinstance(e, Notice) and e.kind == SKIPPED_KIND]
    assert len(skipped) == 1 and skipped[0].evidence["skipped"] == 3 and f"line {step + 1}" in skipped[0].message
    assert len(events) == len(good) - 2 + 1


def test_journal_writer_starts_on_a_new_line_after_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    JournalWriter(path)(Notice(step=1, kind="a", message="first"))
    with open(path, "a") as handle:
        handle.write('{"type":"step","step":2,"ep')  # killed mid-write
    writer = JournalWriter(path)
    writer(Notice(step=2, kind="b", message="after the crash"))
    writer.close()
    events = read_journal(path)
    assert [e.message for e in events if e.kind != SKIPPED_KIND] == ["first", "after the crash"]


def test_journal_strings_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    pins = [PinnedExample(index=0, text="nan", targets=[1.0, 0.0])]
    writer(RunStarted(step=0, model="m", task="binary", labels=["inf", "-inf"], layers=[], layer_params={},
                      pins=pins, device="cpu", config={"note": "nan"}, total_steps=1, steps_per_epoch=1, run_dir="r",
                      train_rows=1, eval_rows=0, constant_loss=float("nan"), frozen=[], head={}))  # fmt: skip
    writer.close()
    [event] = read_journal(path)
    assert event.labels == ["inf", "-inf"] and event.pins[0].text == "nan" and event.config == {"note": "nan"}
    assert math.isnan(event.constant_loss)
    legacy = path.read_text().replace('{"$float":"nan"}', '"nan"')  # a journal from before the tag
    assert math.isnan(parse_event(legacy).constant_loss)


def test_steps_repeated_after_a_crash_resume_count_once(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The process wrote steps 5 and 6, then died before saving step-6: the resume takes them again."""
    shutil.rmtree(run / "checkpoints" / "step-6")
    status, _ = resume(capsys, run)
    assert status == 0
    events = read_journal(run / "journal.jsonl")
    assert [e.step for e in events if e.type == "step"] == [1, 2, 3, 4, 5, 6]
    [repeated] = [e for e in events if isinstance(e, Notice) and e.kind == REPEATED_KIND]
    assert repeated.evidence == {"resumed_from": 4, "first": 5, "last": 6}


# ---------------------------------------------------------------------------------------------
# Reproducible from the directory; the exploding loss; properties
# ---------------------------------------------------------------------------------------------


def test_eval_rows_are_recorded_for_other_tools(trained: Path) -> None:
    split = json.loads((trained / "eval_rows.json").read_text())
    table = pq.read_table(SENTIMENT).to_pydict()
    [start] = [e for e in read_journal(trained / "journal.jsonl") if e.type == "run"]
    train_rows = set(split_train_rows(split).tolist())  # the rule in the file's note, checked by its hash
    assert len(split["eval_rows"]) == start.eval_rows and len(train_rows) == start.train_rows
    assert not set(split["eval_rows"]) & train_rows
    assert {p.index for p in start.pins} <= train_rows
    assert all(isinstance(table["text"][row], str) for row in split["eval_rows"])


def test_an_exploding_loss_raises_the_alarm_within_5_steps(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    in_process(capsys, "train", SENTIMENT, "--model", tiny_model, "--out", run, "--max-steps", "8", "--lr", "0.9",
               "--warmup-ratio", "0", "--max-grad-norm", "0", "--seed", "42", *TINY)  # fmt: skip
    events = read_journal(run / "journal.jsonl")
    losses = [e.loss for e in events if isinstance(e, StepMetrics)]
    first_far = next(i + 1 for i, loss in enumerate(losses) if loss > 4 * math.log(2))
    alarms = [e for e in events if e.type == "alarm" and e.kind == "loss_rising" and e.active]
    assert alarms and "exploded" in alarms[0].message, losses
    assert alarms[0].step <= first_far + 4


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_journal_reader_never_raises_nor_loses_good_lines(trained: Path, data: st.DataObject) -> None:
    lines = (trained / "journal.jsonl").read_text().splitlines()
    count = len(lines)
    damaged = data.draw(st.sets(st.integers(0, count - 1), max_size=4))
    for i in damaged:
        line = lines[i]
        cut = data.draw(st.integers(0, len(line)))
        lines[i] = data.draw(
            st.sampled_from(
                [line[:cut], line[:cut] + "\x00" + line[cut:], '{"type":"step","step":[]}', "[1,2]", "null"]
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "journal.jsonl"
        path.write_text("\n".join(lines) + "\n")
        events = read_journal(path)
    readable = [e for e in events if not (isinstance(e, Notice) and e.kind == SKIPPED_KIND)]
    skipped = sum(e.evidence["skipped"] for e in events if isinstance(e, Notice) and e.kind == SKIPPED_KIND)
    assert len(readable) + skipped >= count - len(damaged) and readable


@settings(max_examples=60, deadline=None)
@given(
    # no lone surrogates: no data file holds one (UTF-8 cannot), and Arrow's text column refuses them
    texts=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
        min_size=MIN_ROWS,
        max_size=12,
    ),  # fmt: skip
    change=st.sampled_from(["none", "drop", "text", "label", "order"]),
    where=st.integers(0, 11),
)
def test_resume_fingerprint_changes_exactly_when_the_data_does(texts: list[str], change: str, where: int) -> None:
    classes = [i % 2 for i in range(len(texts))]
    i = where % len(texts)

    def table(texts: list[str], classes: list[int], names: list[str] = ["a", "b"]) -> LabeledTexts:  # noqa: B006
        targets = np.eye(2, dtype=np.float32)[classes]
        return LabeledTexts(list(texts), targets, names, "binary", "f", list(range(len(texts))))

    other_texts, other_classes, names = list(texts), list(classes), ["a", "b"]
    if change == "drop":
        del other_texts[i], other_classes[i]
    elif change == "text":
        other_texts[i] += "!"
    elif change == "label":
        other_classes[i] = 1 - other_classes[i]
    elif change == "order":
        names = ["b", "a"]
    other = table(other_texts, other_classes, names)
    assert (data_fingerprint(table(texts, classes)) == data_fingerprint(other)) == (change == "none")


RESUME_FLAGS = [
    ("--lr", "0.01"), ("--lr", "5e-05"), ("--max-steps", "9"), ("--save-every", "3"), ("--save-minutes", "0.5"),
    ("--eval-every", "2"),
    ("--keep-checkpoints", "5"), ("--device", "cpu"), ("--batch-size", "4"), ("--batch-size", "8"), ("--seed", "7"),
    ("--model", "/elsewhere"), ("--eval-split", "0.3"), ("--max-length", "64"), ("--freeze", "embeddings"),
    ("--epochs", "2"), ("--warmup-ratio", "0"), ("--pin", "3,4"),
]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(flags=st.lists(st.sampled_from(RESUME_FLAGS), unique_by=lambda f: f[0], max_size=4))
def test_resume_never_ignores_a_flag(trained: Path, flags: list[tuple[str, str]]) -> None:
    """Every flag given with --resume is applied (and said, when it changes something) or refused."""
    from cockpit.cli.main import RESUME_MAY_CHANGE, build_parser, given_flags, resume_with_flags
    from cockpit.contract.config import RunConfig

    argv = ["train", "--resume", str(trained), *[word for flag in flags for word in flag]]
    parser = build_parser()
    args = parser.parse_args(argv)
    old = RunConfig.load(trained / "config.json")
    dest = {flag: next(iter(given_flags(parser, [flag]))) for flag, _ in flags}
    changed = {f for f, _ in flags if getattr(args, dest[f]) != getattr(old, dest[f])}
    fixed = [f for f in changed if dest[f] not in RESUME_MAY_CHANGE]
    try:
        config, said = resume_with_flags(args, given_flags(parser, argv))
    except CockpitError as exc:
        assert fixed and any(f"{f} cannot change" in str(exc) for f in fixed), exc
        return
    assert not fixed
    for flag, _ in flags:
        assert getattr(config, dest[flag]) == getattr(args, dest[flag])
    assert sorted(m.split()[1] for m in said) == sorted(changed)


# ---------------------------------------------------------------------------------------------
# A real crash: SIGKILL, then --resume from another folder while a client follows the journal
# ---------------------------------------------------------------------------------------------


def _wait_for(path: Path, text: str, count: int, process: subprocess.Popen, log: Path) -> None:
    """Until `text` is in the file `count` times (no wall-clock assertion: the deadline only stops a hang)."""
    deadline = time.time() + 240
    while time.time() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(
                f"the trainer ended ({process.returncode}) before {text!r} x{count}: {log.read_text()}"
            )
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} x{count} in {path}")


PAUSED = '"type":"state","step":6'


@pytest.fixture(scope="module")
def crash_resumed(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run started in one folder with relative paths, killed with SIGKILL after step 6 (its last
    checkpoint: step-4, so steps 5 and 6 are taken again), its config.json put back as older versions
    wrote it (relative paths), then resumed from another folder while `AttachedRun` (the attach
    client) follows the journal. `--at 7:pause` holds each process at a known step: the first to be
    killed there, the resumed one until the test sends `resume` through the inbox."""
    import queue

    from cockpit.cli.attach import AttachedRun
    from cockpit.contract.commands import Resume
    from cockpit.rundir.inbox import send_command

    root = tmp_path_factory.mktemp("crash")
    started, elsewhere = root / "project", root / "elsewhere"
    (started / "data").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(SENTIMENT, started / "data" / "sentiment.parquet")
    argv = ["train", "data/sentiment.parquet", "--model", tiny_model, "--out", "runs/r", "--max-steps", "8",
            "--save-every", "4", "--eval-every", "3", "--at", "7:pause", "--pin-every", "0", *TINY]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "cockpit.cli"]
    run = started / "runs" / "r"
    logs = [root / "first.log", root / "resumed.log"]  # stderr to files: a full pipe would block the trainer
    with open(logs[0], "w") as log:
        first = subprocess.Popen([*command, *map(str, argv)], cwd=started, env=env, stderr=log)
    _wait_for(run / "journal.jsonl", PAUSED, 1, first, logs[0])
    first.kill()  # SIGKILL: no end event, no checkpoint of steps 5 and 6
    first.wait(timeout=60)
    saved = json.loads((run / "config.json").read_text())
    older = {**saved, "data": "data/sentiment.parquet"}  # as cockpit wrote it before paths were absolute
    (run / "config.json").write_text(json.dumps(older))

    events: queue.SimpleQueue = queue.SimpleQueue()
    client = AttachedRun(run, events)  # follows from the journal's first line, as `cockpit attach` does
    try:
        with open(logs[1], "w") as log:
            resumed = subprocess.Popen([*command, "train", "--resume", "../project/runs/r", "--headless"],
                                       cwd=elsewhere, env=env, stderr=log)  # fmt: skip
        try:
            _wait_for(run / "journal.jsonl", PAUSED, 2, resumed, logs[1])
            send_command(run, Resume(), "test")
            resumed.wait(timeout=240)
        finally:
            resumed.kill()
        assert client.ended.wait(60)
    finally:
        client.close()
    live = []
    while not events.empty():
        live.append(events.get())
    return {"run": run, "saved": saved, "status": resumed.returncode, "stderr": logs[1].read_text(), "live": live}


def test_resume_from_another_folder_finds_the_data(crash_resumed: dict) -> None:
    """config.json now holds absolute paths; an older relative one is read relative to the folder the
    run was started in (the run directory less its --out), not the current one."""
    assert Path(crash_resumed["saved"]["data"]).is_absolute()
    assert Path(crash_resumed["saved"]["data"]) == crash_resumed["run"].parents[1] / "data" / "sentiment.parquet"
    assert crash_resumed["status"] == 0, crash_resumed["stderr"]
    end = read_journal(crash_resumed["run"] / "journal.jsonl")[-1]
    assert end.type == "end" and end.reason == "finished" and end.step == 8
    config = json.loads((crash_resumed["run"] / "config.json").read_text())
    assert config["data"] == crash_resumed["saved"]["data"]  # rewritten absolute by the resumed run


def test_a_live_attach_after_a_crash_resume_counts_each_step_once(crash_resumed: dict) -> None:
    """The journal holds steps 5-6 (and the eval at 6) twice; the live fold and the replay agree."""
    from conftest import plain

    from cockpit.ui.run_state import RunState

    journal = crash_resumed["run"] / "journal.jsonl"
    raw = [json.loads(line)["step"] for line in journal.read_text().splitlines() if '"type":"step"' in line]
    assert raw == [1, 2, 3, 4, 5, 6, 5, 6, 7, 8]  # the crash is real: steps 5 and 6 were taken twice
    live, replay = RunState(), RunState()
    for event in crash_resumed["live"]:
        live.apply(event)
    for event in read_journal(journal):
        replay.apply(event)
    assert live.loss_history.xs == replay.loss_history.xs == [1, 2, 3, 4, 5, 6, 7, 8]
    assert live.eval_losses.xs == [3, 6, 8] and live.last_eval.step == 8 and live.previous_eval.step == 6
    assert plain(live) == plain(replay)


# ---------------------------------------------------------------------------------------------
# 8. The inbox, as any process of the owner's uid can use it against the trainer (issue 23)
# ---------------------------------------------------------------------------------------------

AS_ROOT = os.geteuid() == 0
NEEDS_ROOT = pytest.mark.skipif(not AS_ROOT, reason="chown to another uid needs root; this test run is not root")


def tree_digest(folder: Path) -> str:
    """Every entry under `folder` (itself included): name, kind, mode, owner and content, hashed."""
    digest = hashlib.sha256()
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        digest.update(f"{path.relative_to(folder)}|{info.st_mode:o}|{info.st_uid}|{info.st_size}".encode())
        if stat.S_ISREG(info.st_mode):
            digest.update(path.read_bytes())
        elif stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path).encode())
    return digest.hexdigest()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every run directory, with what an inbox attack could delete or chmod."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "settings.json").write_text('{"keep": true}')
    (folder / "00000000000000000001-1-0.json").write_text(json.dumps({"id": "x", "command": "stop"}))
    (folder / "notes.txt").write_text("mine")
    (folder / "sub").mkdir()
    os.chmod(folder, 0o755)
    return folder


def journal_lines(run: Path, after: int = 0) -> list[bytes]:
    with open(run / "journal.jsonl", "rb") as handle:
        handle.seek(after)
        return handle.read().splitlines()


def refusals(run: Path) -> list[CommandApplied]:
    return [
        e
        for e in read_journal(run / "journal.jsonl")
        if isinstance(e, CommandApplied) and e.result.startswith("refused")
    ]


class LiveTrainer:
    """`cockpit train --headless` in its own process on the tiny model, for as long as a test needs."""

    def __init__(self, tiny_model: Path, run: Path, log: Path) -> None:
        self.run, self.log = run, log
        argv = ["train", SENTIMENT, "--model", tiny_model, "--out", run, "--max-steps", "1000000", "--eval-split", "0",
                "--pin-every", "0", *TINY]  # fmt: skip
        with open(log, "w") as handle:
            self.process = subprocess.Popen([sys.executable, "-m", "cockpit.cli", *map(str, argv)], stderr=handle,
                                            env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
        self.wait_for(lambda: self.steps() >= 2, "the first steps")

    def steps(self) -> int:
        journal = self.run / "journal.jsonl"
        return journal.read_bytes().count(b'"type":"step"') if journal.exists() else 0

    def wait_for(self, condition, what: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the trainer ended ({self.process.returncode}): {self.log.read_text()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def trains_on(self, more: int = 5) -> None:
        start = self.steps()
        self.wait_for(lambda: self.steps() >= start + more, f"{more} more steps")

    def journaled(self, text: str) -> bool:
        return text.encode() in (self.run / "journal.jsonl").read_bytes()

    def stop(self) -> int:
        """SIGTERM, as a scheduler would: the trainer must end (a blocked open would never return)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


@pytest.fixture(scope="module")
def live(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTrainer]:
    folder = tmp_path_factory.mktemp("live-inbox")
    trainer = LiveTrainer(tiny_model, folder / "run", folder / "trainer.log")
    yield trainer
    if trainer.process.poll() is None:
        trainer.process.kill()
        trainer.process.wait()


def test_a_symlinked_inbox_is_replaced_and_its_target_left_alone(live: LiveTrainer, outside: Path) -> None:
    before, start = tree_digest(outside), (live.run / "journal.jsonl").stat().st_size
    inbox = live.run / "inbox"
    os.rename(inbox, live.run / "inbox.moved")
    inbox.symlink_to(outside)
    live.wait_for(lambda: live.journaled("was a symbolic link"), "the notice of the replaced link")
    live.trains_on()
    assert tree_digest(outside) == before
    assert inbox.is_dir() and not inbox.is_symlink() and stat.S_IMODE(inbox.stat().st_mode) == 0o700
    [notice] = [n for n in notices(live.run, "inbox") if "symbolic link" in n.message]
    assert (
        f"(to {outside})" in notice.message and "nothing it pointed to was read, deleted or changed" in notice.message
    )
    assert cockpit("send", live.run, "lr=4e-5").returncode == 0  # the run's own folder works again
    assert max(map(len, journal_lines(live.run, start))) < 8192


def test_a_loosened_inbox_is_put_back_to_0700_with_a_notice(live: LiveTrainer) -> None:
    os.chmod(live.run / "inbox", 0o777)
    live.wait_for(lambda: live.journaled("was mode 0777"), "the notice of the loosened mode")
    assert stat.S_IMODE((live.run / "inbox").stat().st_mode) == 0o700
    live.trains_on()


def test_a_directory_a_link_and_a_200_mb_file_are_refused_in_a_few_bytes(live: LiveTrainer, outside: Path) -> None:
    before, start = tree_digest(outside), (live.run / "journal.jsonl").stat().st_size
    inbox = live.run / "inbox"
    (inbox / "x.json").mkdir()
    (inbox / "x.json" / "inside.json").write_text("{}")
    (inbox / "link.json").symlink_to(outside / "settings.json")
    with open(inbox / "big.json", "wb") as handle:  # 200 MB, sparse: no disk needed, still 200 MB to read
        handle.truncate(200 << 20)
    live.wait_for(lambda: len(refusals(live.run)) >= 3 and not (inbox / "big.json").exists(), "the three refusals")
    live.trains_on()
    said = {e.command: e.result for e in refusals(live.run)}
    assert said["x.json"] == "refused: a directory, not a command file (left in place)"
    assert said["link.json"] == "refused: a symbolic link, not a command file (left in place)"
    assert said["big.json"] == f"refused: {200 << 20} bytes, not a command file (not read)"
    assert (inbox / "x.json" / "inside.json").exists() and (inbox / "link.json").is_symlink()
    assert tree_digest(outside) == before
    live.trains_on()  # refused once each, not at every step
    assert sum(e.command in said for e in refusals(live.run)) == 3
    new = journal_lines(live.run, start)
    assert max(map(len, new)) < 8192 and sum(map(len, new)) < 1 << 20


def test_a_fifo_swapped_in_never_blocks_the_trainer(live: LiveTrainer) -> None:
    """A command file replaced by a FIFO under the same name, over and over, while the trainer reads the folder."""
    import threading

    inbox = live.run / "inbox"
    done = threading.Event()

    def swap() -> None:
        for i in itertools.count():
            if done.is_set():
                return
            (inbox / ".next.tmp").write_text(json.dumps({"id": f"race-{i}", "command": "not a command"}))
            os.replace(inbox / ".next.tmp", inbox / "race.json")
            os.mkfifo(inbox / ".fifo.tmp")
            os.replace(inbox / ".fifo.tmp", inbox / "race.json")

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        live.trains_on(20)
    finally:
        done.set()
        swapper.join()
    os.unlink(inbox / "race.json")
    os.mkfifo(inbox / "stays.json")  # and one that stays
    sent = cockpit("send", live.run, "pause")  # applied at the next boundary: nothing blocks the trainer
    assert sent.returncode == 0 and sent.stdout.startswith("applied at step"), sent.stderr
    assert cockpit("send", live.run, "resume").returncode == 0
    assert [e.result for e in refusals(live.run) if e.command == "stays.json"] == [
        "refused: a named pipe (FIFO), not a command file (left in place)"
    ]
    live.trains_on()


@NEEDS_ROOT
def test_an_inbox_given_to_another_uid_is_not_read_until_it_is_the_owners_again(live: LiveTrainer) -> None:
    inbox = live.run / "inbox"
    os.chown(inbox, 12345, -1)
    try:
        live.wait_for(lambda: live.journaled("belongs to uid 12345"), "the notice of the foreign folder")
        sent = cockpit("send", live.run, "pause", "--timeout", "5")
        assert sent.returncode == 2 and "belongs to uid 12345" in sent.stderr
        live.trains_on()
    finally:
        os.chown(inbox, os.geteuid(), -1)
    assert cockpit("send", live.run, "lr=3e-5").returncode == 0


def test_sigterm_ends_the_trainer_after_every_attack(live: LiveTrainer) -> None:
    assert live.stop() == 130, live.log.read_text()
    end = read_journal(live.run / "journal.jsonl")[-1]
    assert end.type == "end" and end.reason == "interrupted"


def test_resume_with_a_directory_and_a_symlinked_inbox_trains(
    run: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (run / "inbox" / "x.json").mkdir(parents=True)
    status, _ = resume(capsys, run, "--max-steps", "8")
    assert status == 0
    assert [e.result for e in refusals(run)] == ["refused: a directory, not a command file (left in place)"]
    before = tree_digest(outside)
    shutil.rmtree(run / "inbox")
    (run / "inbox").symlink_to(outside)
    status, _ = resume(capsys, run, "--max-steps", "10")
    assert status == 0 and read_journal(run / "journal.jsonl")[-1].step == 10
    assert tree_digest(outside) == before
    assert any("was a symbolic link" in n.message for n in notices(run, "inbox"))


# ---------------------------------------------------------------------------------------------
# 9. Every way a trainer ends is named where the user looks (issue 23)
# ---------------------------------------------------------------------------------------------


def at_a_terminal(*argv: object, timeout: float = 240) -> tuple[int, list[str]]:
    """`cockpit ARGV` in a pseudo-terminal, as a person runs it: its exit status and the lines it
    left after the cockpit closed (escape sequences removed)."""
    import pty
    import re
    import select

    controller, terminal = pty.openpty()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    process = subprocess.Popen([sys.executable, "-m", "cockpit.cli", *map(str, argv)], stdin=terminal,
                               stdout=terminal, stderr=terminal, env=env, start_new_session=True)  # fmt: skip
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        status = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    after = output.decode(errors="replace").rsplit("\x1b[?1049l", 1)[-1]  # what was printed after the app's screen
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", "", after)
    return status, [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]


def test_a_refused_resume_at_a_terminal_says_the_trainers_line_and_its_status(run: Path) -> None:
    """The cockpit opens, its trainer refuses the resume (exit 2): its one line, not a crash report."""
    shutil.rmtree(run / "checkpoints")
    status, lines = at_a_terminal("train", "--resume", run)
    assert status == 2, lines
    assert lines == [f"cockpit: error: --resume {run}: no checkpoint in {run / 'checkpoints'}"], lines


def test_a_killed_trainer_is_named_with_its_signal_and_last_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    """The client that started the trainer (`cockpit train` at a terminal) knows how it went: SIGKILL."""
    import queue

    from cockpit.cli.attach import AttachedRun, TrainerGone, spawn_trainer

    run = tmp_path / "run"
    argv = [SENTIMENT, "--model", tiny_model, "--out", run, "--max-steps", "100000", "--save-every", "3",
            "--max-length", "32", "--batch-size", "8"]  # fmt: skip
    trainer = spawn_trainer([str(a) for a in argv], run)
    client = AttachedRun(run, queue.SimpleQueue(), trainer)
    try:
        while not list_checkpoints(run):
            assert trainer.poll() is None, (run / "trainer.log").read_text()
            time.sleep(0.05)
        trainer.kill()
        with pytest.raises(TrainerGone) as gone:
            client.run()
    finally:
        client.close()
        trainer.kill()
    message = str(gone.value)
    assert message.startswith(f"the trainer (pid {trainer.pid}) was killed (SIGKILL) at step "), message
    assert "without ending the run: last checkpoint step-" in message
    assert message.endswith(f"continue with: cockpit train --resume {run}")
    assert client.exit is not None and client.exit.refused is None


def test_a_client_names_a_dead_trainer_without_importing_torch(trained: Path, tmp_path: Path) -> None:
    """What a client runs when its trainer dies (the journal's tail, the checkpoint listing) imports no torch."""
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    lines = [line for line in (copy / "journal.jsonl").read_text().splitlines() if '"type":"end"' not in line]
    (copy / "journal.jsonl").write_text("\n".join(lines) + "\n")  # as a kill -9 leaves it: no end
    script = (
        "import queue, sys\n"
        "from cockpit.cli.attach import AttachedRun, TrainerGone\n"
        f"client = AttachedRun({str(copy)!r}, queue.SimpleQueue())\n"
        "try:\n    client.run()\nexcept TrainerGone as gone:\n    print(gone)\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    said, imports = result.stdout.splitlines()
    assert "without ending the run: last checkpoint step-6; continue with" in said, result.stderr
    assert imports == "no torch"


# ---------------------------------------------------------------------------------------------
# 10. Nothing lost by default: a checkpoint every --save-minutes of training (issue 23)
# ---------------------------------------------------------------------------------------------


def test_kill_9_with_no_checkpoint_flag_resumes_from_the_timed_checkpoint_bit_exactly(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default cadence, its interval shortened to 30 ms of training (`--save-minutes 0.0005`): kill -9
    after its checkpoints, `--resume`, and the run ends with the very weights of a run never killed.

    `--at 50:pause` holds each process at a known step, whatever the machine's speed (a paused run
    trains no time, so writes no checkpoint): the first to be killed there, the resumed one until
    the test sends `resume` through the inbox. Pausing changes no number of the run."""
    from cockpit.contract.commands import Resume
    from cockpit.rundir.inbox import send_command

    common = [DEI, "--model", tiny_model, "--max-steps", "60", "--eval-split", "0", "--pin-every", "0", *TINY]
    status, _ = in_process(capsys, "train", *common, "--out", tmp_path / "whole", "--save-minutes", "0")
    assert status == 0
    run, paused = tmp_path / "killed", '"type":"state","step":49'
    argv = ["train", *common, "--out", run, "--save-minutes", "0.0005", "--at", "50:pause"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    logs = [tmp_path / "first.log", tmp_path / "resumed.log"]
    with open(logs[0], "w") as log:
        first = subprocess.Popen([sys.executable, "-m", "cockpit.cli", *map(str, argv)], stderr=log, env=env)
    try:
        _wait_for(run / "journal.jsonl", paused, 1, first, logs[0])
        first.kill()  # SIGKILL: no end, and the steps after its last checkpoint are lost
        first.wait(timeout=60)
    finally:
        first.kill()
    saved = [e for e in read_journal(run / "journal.jsonl") if e.type == "checkpoint"]
    assert saved and not any(e.type == "end" for e in read_journal(run / "journal.jsonl"))
    newest = list_checkpoints(run)[-1]  # committed; journaled at the next step (the kill may come first)
    assert checkpoint_step(newest) >= saved[-1].step
    with open(logs[1], "w") as log:
        resumed = subprocess.Popen([sys.executable, "-m", "cockpit.cli", "train", "--resume", str(run), "--headless"],
                                   stderr=log, env=env)  # fmt: skip
    try:
        _wait_for(run / "journal.jsonl", paused, 2, resumed, logs[1])
        send_command(run, Resume(), "test")
        assert resumed.wait(timeout=240) == 0, logs[1].read_text()
    finally:
        resumed.kill()
    events = read_journal(run / "journal.jsonl")
    assert [e.resumed_from for e in events if e.type == "run"][-1] == checkpoint_step(newest)
    assert not list((run / "checkpoints").glob(".*"))  # a write the kill cut short is cleared, never resumed from
    whole = read_journal(tmp_path / "whole" / "journal.jsonl")
    assert [e.loss for e in events if e.type == "step"] == [e.loss for e in whole if e.type == "step"]
    from safetensors.torch import load_file

    mine, reference = (load_file(folder / "model" / "model.safetensors") for folder in (run, tmp_path / "whole"))
    assert mine.keys() == reference.keys() and all(torch.equal(mine[k], reference[k]) for k in mine)


def test_save_minutes_counts_training_time_not_pauses() -> None:
    from cockpit.training.saving import SaveCadence

    cadence = SaveCadence(every=None, minutes=10, now=0.0)
    assert not cadence.due(step=7, now=599.0) and cadence.due(step=8, now=600.0)
    cadence.saved(now=600.0)
    cadence.waited(3600.0)  # an hour paused at a boundary
    assert not cadence.due(step=9, now=4799.0) and cadence.due(step=10, now=4800.0)
    steps = SaveCadence(every=3, minutes=10, now=0.0)
    assert [s for s in range(1, 10) if steps.due(s, now=1.0)] == [3, 6, 9]
    off = SaveCadence(every=0, minutes=10, now=0.0)  # --save-every 0: no periodic checkpoint at all
    assert not any(off.due(s, now=1e9) for s in range(1, 10))


def test_a_failed_background_commit_reaches_the_training_thread_and_keeps_the_last_checkpoint(
    tmp_path: Path, tiny_model: Path
) -> None:
    from transformers import AutoModel, AutoTokenizer

    from cockpit.rundir.checkpoint import CheckpointWriteError
    from cockpit.training.saving import CheckpointSaver

    model, tokenizer = AutoModel.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)

    def state(step: int) -> TrainingState:
        return TrainingState(step=step, optimizer={}, scheduler={}, rng_cpu=torch.get_rng_state(), rng_cuda=[],
                             frozen=[], pin_rows=[], micro_batch=8)  # fmt: skip

    saver = CheckpointSaver(tmp_path, keep=3)
    save_model = partial(save_model_files, model, tokenizer)
    saver.save(save_model, state(2))
    saver.wait()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-2"]
    (tmp_path / "checkpoints" / "step-4").write_text("in the way")  # the rename onto it fails (even as root)
    saver.save(save_model, state(4))  # written now, committed in the background
    with pytest.raises(CheckpointWriteError, match="could not write checkpoint step-4"):
        saver.wait()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-2"]
    assert not list((tmp_path / "checkpoints").glob(".step-*.partial"))  # nothing half-written is left
    assert [step for step, _ in saver.collect()] == [2]
