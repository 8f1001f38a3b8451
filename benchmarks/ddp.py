"""Several ranks on the CPU: step time with 2 ranks against 1, and what the step-boundary broadcast costs.

Two parts, both with gloo:

  boundary  under `torch.distributed.run` with 2 ranks: rank 0 runs `StepBoundary.send([])`
            (one int64 flag, what every step pays when no command is due) and, interleaved in blocks
            of 50, `broadcast_object_list([None])` (what sending an object every step would cost)
            and `StepBoundary.any_rank(False)` (the out-of-memory agreement each micro-batch pays);
            per-call medians and p90 from rank 0.
  steps     `cockpit train --headless` on the same data and model with 1 rank (per-rank batch B) and
            `--nproc 2` (2 ranks, per-rank batch B, so twice the samples per step), alternating
            1 2 1 2 ...; seconds per step from the journal's samples/s over the steps after warm-up.

    python benchmarks/ddp.py --model embedded:all-MiniLM-L6-v2 --steps 30 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def boundary_worker(calls: int) -> None:
    import torch.distributed as dist

    from cockpit.training.distributed import StepBoundary, setup, teardown

    ranks = setup("cpu")
    boundary = StepBoundary(ranks)
    timings: dict[str, list[float]] = {"int64_flag": [], "object_list_none": [], "oom_agreement": []}
    arms = list(timings)
    try:
        for block in range(calls // 50):  # blocks of 50, in turn, so load drifts hit every arm
            arm = arms[block % len(arms)]
            for _ in range(50):
                started = time.perf_counter()
                if arm == "object_list_none":
                    dist.broadcast_object_list([None], src=0)
                elif arm == "oom_agreement":  # what each micro-batch pays: "did any rank run out?"
                    boundary.any_rank(False)
                elif ranks.is_main:
                    boundary.send([])
                else:
                    boundary.receive()
                timings[arm].append(time.perf_counter() - started)
        if ranks.is_main:

            def summary(values: list[float]) -> dict[str, float]:
                values = sorted(values)
                return {"median_ms": 1e3 * statistics.median(values), "p90_ms": 1e3 * values[int(0.9 * len(values))]}

            print(json.dumps({arm: summary(values) for arm, values in timings.items()}))
    finally:
        teardown()


def step_seconds(journal: Path, warmup: int) -> float:
    from cockpit.rundir.journal import read_journal

    steps = [e for e in read_journal(journal) if e.type == "step" and e.step > warmup]
    return statistics.median(e.effective_batch / e.samples_per_s for e in steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="embedded:all-MiniLM-L6-v2")
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "sentiment.parquet"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--boundary-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.boundary_worker:
        boundary_worker(args.calls)
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*launcher, __file__, "--boundary-worker", "--calls", str(args.calls)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    print("boundary:", done.stdout.strip().splitlines()[-1])
    results: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for ranks in (1, 2):
                out = Path(tmp) / f"r{round_}-n{ranks}"
                command = [
                    sys.executable, "-m", "cockpit", "train", args.data, "--model", args.model, "--out", str(out),
                    "--batch-size", str(args.batch_size), "--max-steps", str(args.steps), "--eval-split", "0",
                    "--headless", "--pin-budget", "0.001", *(["--nproc", "2"] if ranks == 2 else []),
                ]  # fmt: skip
                subprocess.run(command, capture_output=True, text=True, env=env, check=True)
                results[ranks].append(step_seconds(out / "journal.jsonl", args.warmup))
    one, two = statistics.median(results[1]), statistics.median(results[2])
    print(f"seconds per step, 1 rank (batch {args.batch_size}): {one:.3f}  runs {results[1]}")
    print(f"seconds per step, 2 ranks (batch {args.batch_size} each): {two:.3f}  runs {results[2]}")
    print(f"2 ranks / 1 rank step time: {two / one:.2f}; samples/s ratio {2 * one / two:.2f}")


if __name__ == "__main__":
    main()
