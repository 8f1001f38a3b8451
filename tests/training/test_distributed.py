"""Several ranks: real `torch.distributed.run`, gloo, 2 CPU processes, the tiny model.

Each torchrun job costs two Python processes that import torch and transformers, so the checks
share jobs: one job trains 10 steps with a group frozen from the start and unfrozen at step 4,
two more frozen at step 3 and unfrozen at step 6, and every rank records a digest of its weights
after each step; the same run on one process, and a resume of its step-5 checkpoint on one
process, must land on the same weights. A second job, started through `cockpit train --nproc 2`,
is paused for longer than the process group's timeout and then sent SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_RUN, build_tiny_model
from safetensors.torch import load_file

from cockpit.cli.ranks import split_launch_args, torchrun_args
from cockpit.contract.commands import SetLearningRate
from cockpit.contract.config import RunConfig
from cockpit.rundir.checkpoint import list_checkpoints
from cockpit.rundir.inbox import send_command
from cockpit.rundir.journal import parse_event, read_journal
from cockpit.training.engine import Engine
from cockpit.training.prepare import prepare

ROOT = Path(__file__).resolve().parents[2]
DEI = ROOT / "sample_data" / "dei.parquet"
SCHEDULE = ["4:unfreeze=layer.1", "3:freeze=embeddings,layer.0", "6:unfreeze=embeddings,layer.0"]
STEPS = 10


@pytest.fixture(scope="module")
def model_without_dropout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with dropout off: each rank would draw its own dropout masks for its shard,
    which one process on the whole batch cannot reproduce."""
    path = build_tiny_model(tmp_path_factory.mktemp("tiny-bert-nodrop"))
    config = json.loads((path / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return path


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **extra}


def _tiny_flags(model: Path, per_rank_batch: int) -> list[str]:
    return [
        "--model", str(model), "--batch-size", str(per_rank_batch), "--lr", str(TINY_RUN["lr"]),
        "--eval-split", str(TINY_RUN["eval_split"]), "--max-length", str(TINY_RUN["max_length"]),
        "--seed", str(TINY_RUN["seed"]), "--headless",
    ]  # fmt: skip


def _records(path: Path) -> dict[int, dict]:
    """step -> the last record of that step (a step can be recorded at `run` and again later)."""
    return {r["step"]: r for r in map(json.loads, path.read_text().splitlines())}


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def _one_process(data: Path, out: Path, model: Path, **overrides) -> Engine:
    config = RunConfig(data=str(data), model=str(model), out=str(out), **{**TINY_RUN, **overrides})
    engine = Engine(prepare(config), on_nonfinite="stop")
    assert engine.run().reason == "finished"
    return engine


def test_launcher_flags_pass_through_to_torchrun() -> None:
    options, rest = split_launch_args(["train", "d.csv", "--nproc", "4", "--nnodes=2", "--node-rank", "1",
                                       "--rdzv-endpoint", "host:29400", "--lr", "1e-5"])  # fmt: skip
    assert rest == ["train", "d.csv", "--lr", "1e-5"]
    args = torchrun_args(options, rest)
    assert args[:4] == ["--nproc_per_node=4", "--nnodes=2", "--node_rank=1", "--rdzv_backend=c10d"]
    assert "--rdzv_endpoint=host:29400" in args and "--standalone" not in args
    assert args[-6:] == ["-m", "cockpit", "train", "d.csv", "--lr", "1e-5"]
    assert "--standalone" in torchrun_args({"--nproc": "2"}, rest)


@pytest.fixture(scope="module")
def two_rank_run(model_without_dropout: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run directory, per-rank records) of 10 steps on 2 ranks, per-rank batch 4, with layer.1 frozen
    from the start and unfrozen at step 4, embeddings and layer.0 frozen at step 3 and unfrozen at 6.
    Rank 1 alone runs out of (simulated) CUDA memory on micro-batches above 2 rows: both ranks must
    retry the first step with micro-batches of 2, together."""
    tmp = tmp_path_factory.mktemp("ddp")
    run, record = tmp / "run", tmp / "record"
    record.mkdir()
    schedule = [flag for entry in SCHEDULE for flag in ("--at", entry)]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(ROOT / "tests" / "training" / "ddp_rank.py"), str(record), "train", str(DEI), "--out", str(run),
        *_tiny_flags(model_without_dropout, 4), "--max-steps", str(STEPS), "--save-every", "5",
        "--freeze", "layer.1", *schedule,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=_env(COCKPIT_TEST_OOM="1:2"), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "terminate called" not in done.stderr
    return run, record


def test_ranks_stay_in_sync_through_freezing_and_unfreezing(two_rank_run: tuple[Path, Path]) -> None:
    run, record = two_rank_run
    ranks = [_records(record / f"rank{r}.jsonl") for r in (0, 1)]
    assert sorted(ranks[0]) == sorted(ranks[1]) == list(range(STEPS + 1))
    for step in range(STEPS + 1):  # every weight identical on both ranks, after every step
        assert ranks[0][step]["all"] == ranks[1][step]["all"], f"ranks differ after step {step}"
    groups = {step: r["groups"] for step, r in ranks[0].items()}
    # layer.1, frozen when DDP was built, trains steps 1-3 frozen, then moves from step 4 on
    assert groups[0]["layer.1"] == groups[1]["layer.1"] == groups[3]["layer.1"] != groups[4]["layer.1"]
    # frozen at step 3, unfrozen at step 6: bit-identical through steps 3-5
    for name in ("embeddings", "layer.0"):
        assert groups[1][name] != groups[2][name] == groups[3][name] == groups[5][name] != groups[6][name], name

    journal = read_journal(run / "journal.jsonl")
    assert [e.step for e in journal if e.type == "step"] == list(range(1, STEPS + 1))
    # rank 1's out-of-memory in its first forward: one retry of step 1 on both ranks, said once
    retries = [e for e in journal if e.type == "notice" and e.kind == "out_of_memory"]
    assert [(e.step, e.evidence) for e in retries] == [(1, {"old_micro_batch": 4, "micro_batch": 2})]
    assert {e.micro_batch for e in journal if e.type == "step"} == {2}
    evals = [e for e in journal if e.type == "eval"]
    assert evals and all(e.rows == 50 for e in evals)  # rank 0 alone: each eval row counted once
    assert [c.name for c in list_checkpoints(run)] == ["step-5", "step-10"]
    assert sum(e.type == "end" for e in journal) == 1


def test_two_ranks_match_one_process_and_resume_on_one(
    two_rank_run: tuple[Path, Path], model_without_dropout: Path, tmp_path: Path
) -> None:
    """One process with the global batch (2 x 4) in one piece, the same schedule. They differ only
    by float rounding: DDP sums the two ranks' half-batch gradients (another reduction order than
    one kernel over 8 rows) and pads each shard to its own longest row (other matmul shapes);
    dropout, which draws its masks per rank, is off."""
    run, _ = two_rank_run
    single = _one_process(DEI, tmp_path / "single", model_without_dropout, max_steps=STEPS, batch_size=8,
                          freeze="layer.1", schedule=SCHEDULE)  # fmt: skip
    single_losses = [e.loss for e in read_journal(tmp_path / "single" / "journal.jsonl") if e.type == "step"]
    ddp_losses = [e.loss for e in read_journal(run / "journal.jsonl") if e.type == "step"]
    assert ddp_losses == pytest.approx(single_losses, rel=1e-5, abs=1e-6)
    ddp_final = _weights(run / "model")
    for name, value in single.model.state_dict().items():
        if name in ddp_final:
            torch.testing.assert_close(ddp_final[name], value, rtol=1e-4, atol=1e-5, msg=name)

    # The 2-rank run's step-5 checkpoint resumed on one process: the global batch stays 8 (two
    # micro-batches of 4 here), and it lands on the 2-rank run's final weights.
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(run, resumed_dir)
    shutil.rmtree(resumed_dir / "checkpoints" / "step-10")
    config = RunConfig.load(resumed_dir / "config.json")
    assert config.ranks == 2
    resumed = Engine(prepare(config, resume_dir=resumed_dir), on_nonfinite="stop")
    assert resumed.effective_batch == 8 and resumed.step == 5
    assert resumed.run().reason == "finished"
    for name, value in resumed.model.state_dict().items():
        if name in ddp_final:
            torch.testing.assert_close(ddp_final[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_launcher_resume_pause_past_the_timeout_then_sigterm(two_rank_run: tuple[Path, Path], tmp_path: Path) -> None:
    """`cockpit train --resume RUN --nproc 2` from the 2-rank run's step-5 checkpoint retraces steps
    6 and 7 exactly, pauses before step 8 for twice the process group's timeout (4 s here) while the
    other rank is kept alive, takes a command from rank 0's inbox meanwhile, and SIGTERM to the
    launcher leaves one checkpoint and one `end`."""
    source, _ = two_rank_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    shutil.rmtree(run / "checkpoints" / "step-10")
    config_path = run / "config.json"
    config = json.loads(config_path.read_text())
    config["schedule"].append("8:pause")
    config_path.write_text(json.dumps(config))
    before = len((run / "journal.jsonl").read_text().splitlines())
    command = [sys.executable, "-m", "cockpit", "train", "--resume", str(run), "--nproc", "2"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(COCKPIT_BOUNDARY_TIMEOUT="4")
    )

    def session() -> list:  # this run's events, as written (read_journal keeps a retaken step once)
        lines = (run / "journal.jsonl").read_text().splitlines()[before:]
        return [e for e in map(parse_event, lines) if e is not None]

    deadline = time.time() + 240
    while not any(e.type == "state" and e.state == "paused" for e in session()):
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.2)
    sent = send_command(run, SetLearningRate(1e-4), "test")  # rank 0's inbox, polled while paused
    time.sleep(8)  # twice the process group's timeout
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 130, err[-3000:]
    # Known defect (#15, open): after SIGTERM, about one run in several on gloo/CPU prints "terminate
    # called without an active exception" from a rank being torn down, though the run ended cleanly
    # (exit 130, one end, one checkpoint: asserted below). The clean-finish test keeps that assertion.
    assert "Traceback" not in err

    events = session()
    ends = [e for e in events if e.type == "end"]
    assert len(ends) == 1 and ends[0].reason == "interrupted" and ends[0].step == 7
    assert [c.name for c in list_checkpoints(run)] == ["step-5", "step-7"]
    assert [(c.command, c.result, c.step) for c in events if c.type == "command" and c.id == sent] == [
        ("lr=0.0001", "ok", 7)
    ]
    # the same ranks from the same checkpoint: steps 6 and 7 exactly as the first time
    first = {e.step: e.loss for e in read_journal(source / "journal.jsonl") if e.type == "step"}
    again = {e.step: e.loss for e in events if e.type == "step"}
    assert again == {6: first[6], 7: first[7]}


def test_foreground_with_ranks_is_one_line() -> None:
    """--foreground trains in this one process: with --nproc it is refused before anything starts."""
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "train", str(DEI), "--nproc", "2", "--foreground"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "--foreground" in lines[0] and "--headless" in lines[0], lines
