"""The comparison a user makes: `cockpit train --headless` against a Trainer script, in seconds per step.

Both train the same model (the same head initialisation: the same seed and loader) on the same rows
with the same settings (batch size, max length, lr, warm-up, weight decay, clipping, seed, steps),
each with its own data path, as a user runs them: cockpit tokenizes each batch as it draws it; the
Trainer script tokenizes every row before training (as `datasets.map` does, before its clock starts)
and pads with `DataCollatorWithPadding`. With `--fixed-shape` (the default) every text is a real
sample text joined with the next ones until it is longer than `--max-length` tokens, so every batch
of both is batch x max-length: both do the same arithmetic whatever order they draw rows in.

Arms, alternating within each round, each in a fresh process:
  cockpit          `python -m cockpit.cli train DATA --headless ...`, OpenMP's wait as a user leaves it
                   (unset: cockpit chooses its own, training/openmp.py)
  cockpit_passive  the same with OMP_WAIT_POLICY=PASSIVE (cockpit's choice before: no spin at all)
  cockpit_active   the same with OMP_WAIT_POLICY=ACTIVE in its environment
  cockpit_spinN    the same with GOMP_SPINCOUNT=N (libgomp reckons 100,000 spins a ms; ~65,000 on the 2-core box);
                   `cockpit_spin` alone is N=30000 (about 0.3 ms of spinning before a thread sleeps)
  trainer          the Trainer script, OMP_WAIT_POLICY unset (libgomp's default: spin, then sleep)
  trainer_passive  the same with OMP_WAIT_POLICY=PASSIVE
  trainer_malloc   the same with glibc's malloc thresholds that `cockpit train` sets (training/allocator.py)
  parts            cockpit's engine in this benchmark's child as the detached trainer runs it (main thread,
                   cockpit's OpenMP wait): `overhead.py`'s `main_thread` arm, whose named parts (batch tokenization,
                   per-group norms, optimizer, journal, observers, pinned predictions) say where a step goes
  parts_ahead      the same, tokenizing the next batch beside each step even where no core is free
Seconds per step: cockpit's from its journal's step times, the script's from an `on_step_end`
callback, both from the end of the last warm-up step to the end of the last step. `--load N` runs N
busy processes beside every arm (a shared machine).

    python benchmarks/user_path.py --rounds 3 --json benchmarks/results-user-path.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from overhead import ROOT, Setup, busy, run_arm_in_child, warmup_steps

from cockpit.contract.config import DEFAULT_MODEL, RunConfig
from cockpit.rundir.journal import read_journal
from cockpit.rundir.layout import JOURNAL_NAME
from cockpit.training.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD
from cockpit.training.allocator import USER_SETTINGS as ALLOCATOR_SETTINGS
from cockpit.training.openmp import CHOICES as WAIT_CHOICES

ARMS = (
    "cockpit", "trainer", "parts", "parts_ahead", "cockpit_active", "cockpit_passive", "cockpit_spin",
    "trainer_passive", "trainer_malloc",
)  # fmt: skip
# The OpenMP settings of each arm's environment (None: as a user leaves it). libgomp waits for the next
# parallel region by spinning GOMP_SPINCOUNT times before it sleeps: 300,000 by default (libgomp reckons
# ~3 ms), 0 with OMP_WAIT_POLICY=PASSIVE, ~5 minutes with ACTIVE; a GOMP_SPINCOUNT given is used whatever
# the policy.
ENVIRONMENT = {
    "cockpit": {},
    "cockpit_active": {"OMP_WAIT_POLICY": "ACTIVE"},
    "cockpit_passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "trainer": {},
    "trainer_passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "trainer_malloc": {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)},
}


def fixed_shape_data(source: Path, target: Path, max_length: int) -> Path:
    """`source`'s rows with each text joined to the next ones until it has more words than
    `max_length` (so more tokens too): every batch is then padded to max-length by both tools."""
    table = pq.read_table(source)
    texts = table.column("text").to_pylist()
    joined = []
    for i in range(len(texts)):
        words, j = [], i
        while len(words) <= max_length:
            words += texts[j % len(texts)].split()
            j += 1
        joined.append(" ".join(words))
    pq.write_table(table.set_column(table.schema.get_field_index("text"), "text", pa.array(joined)), target)
    return target


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spin_count(arm: str) -> str | None:
    """N of a `cockpit_spinN` arm (`cockpit_spin`: 30000), else None."""
    if arm == "cockpit_spin":
        return "30000"
    suffix = arm.removeprefix("cockpit_spin")
    return suffix if suffix != arm and suffix.isdigit() else None


def env_for(arm: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in WAIT_CHOICES + ALLOCATOR_SETTINGS}
    count = spin_count(arm)
    return {**env, **ENVIRONMENT.get(arm, {}), **({"GOMP_SPINCOUNT": count} if count else {})}


def arm_cockpit(args: argparse.Namespace, data: Path, arm: str, folder: Path) -> dict[str, Any]:
    """`cockpit train --headless` as a user runs it; its step times from its own journal."""
    run = folder / f"{arm}-{time.monotonic_ns()}"
    first, last = args.warmup, args.warmup + args.steps
    command = [
        sys.executable, "-m", "cockpit.cli", "train", str(data), "--model", args.model, "--out", str(run),
        "--max-steps", str(last + 1), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
        "--eval-split", "0", "--seed", str(args.seed), "--headless",
    ]  # fmt: skip
    trainer = subprocess.Popen(command, env=env_for(arm), stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    cpu: dict[int, float] = {}
    journal = run / JOURNAL_NAME
    while trainer.poll() is None and len(cpu) < 2:  # a step's event is written during the next step
        seen = {e.step for e in read_journal(journal) if e.type == "step"} if journal.exists() else set()
        for mark in (first, last):
            if mark in seen and mark not in cpu:
                cpu[mark] = cpu_seconds(trainer.pid)
        time.sleep(0.05)
    if trainer.wait() != 0:
        raise RuntimeError(f"cockpit train failed: {(run / 'trainer.log')}")
    times = {e.step: e.time for e in read_journal(journal) if e.type == "step"}
    return {
        "s_per_step": (times[last] - times[first]) / args.steps,
        "median_s_per_step": median_step(times, first, last),
        "cpu_s_per_step": (cpu[last] - cpu[first]) / args.steps if len(cpu) == 2 else None,
    }


def median_step(times: dict[int, float], first: int, last: int) -> float:
    """The median of the steps' durations after `first` up to `last`: a step the machine stalled
    (another process, the VM's neighbour) moves the mean, not this."""
    return statistics.median(times[step] - times[step - 1] for step in range(first + 1, last + 1))


def arm_trainer(args: argparse.Namespace, data: Path, arm: str, folder: Path) -> dict[str, Any]:
    report = folder / f"{arm}-{time.monotonic_ns()}.json"
    command = [sys.executable, __file__, "--trainer-child", str(report), "--data", str(data), "--model", args.model,
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
               "--max-length", str(args.max_length), "--seed", str(args.seed)]  # fmt: skip
    done = subprocess.run(command, env=env_for(arm), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the Trainer script failed: {done.stderr[-2000:]}")
    return json.loads(report.read_text())


def trainer_child(args: argparse.Namespace, report: Path) -> None:
    """The Trainer script a user writes: rows tokenized first, then `Trainer.train()`."""
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments, set_seed

    from cockpit.training.prepare import prepare

    set_seed(args.seed)
    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as out:
        config = RunConfig(
            data=args.data, model=args.model, out=str(Path(out) / "run"), eval_split=0.0,
            batch_size=args.batch_size, max_length=args.max_length, max_steps=total, seed=args.seed,
        )  # fmt: skip
        prepared = prepare(config)  # the same rows, labels and model (head initialised from the same seed)
        tokenizer, train = prepared.loaded.tokenizer, prepared.train
        encoded = tokenizer([train.texts[i] for i in range(len(train))], truncation=True, max_length=args.max_length)
        rows = [
            {"input_ids": ids, "attention_mask": mask,
             "labels": target.tolist() if train.task == "multilabel" else int(target.argmax())}
            for ids, mask, target in zip(encoded["input_ids"], encoded["attention_mask"], train.targets, strict=True)
        ]  # fmt: skip
        marks: dict[int, tuple[float, float]] = {}

        class StepEnd(TrainerCallback):
            def on_step_end(self, _args, state, control, **kwargs):
                marks[state.global_step] = (time.perf_counter(), time.process_time())

        training = TrainingArguments(
            output_dir=str(Path(out) / "hf"), per_device_train_batch_size=args.batch_size, max_steps=total,
            learning_rate=config.lr, weight_decay=config.weight_decay, warmup_steps=warmup_steps(total + 1),
            lr_scheduler_type="linear", max_grad_norm=config.max_grad_norm, eval_strategy="no", save_strategy="no",
            report_to=[], logging_steps=10**9, disable_tqdm=True, dataloader_num_workers=0, seed=args.seed,
            use_cpu=not torch.cuda.is_available(),
        )  # fmt: skip
        trainer = Trainer(model=prepared.loaded.model, args=training, train_dataset=rows,
                          data_collator=DataCollatorWithPadding(tokenizer), callbacks=[StepEnd()])  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.train()
    (w0, c0), (w1, c1) = marks[args.warmup], marks[total]
    report.write_text(json.dumps({
        "s_per_step": (w1 - w0) / args.steps,
        "median_s_per_step": median_step({step: wall for step, (wall, _) in marks.items()}, args.warmup, total),
        "cpu_s_per_step": (c1 - c0) / args.steps,
    }))  # fmt: skip


def arm_parts(args: argparse.Namespace, data: Path, arm: str, folder: Path) -> dict[str, Any]:
    """`overhead.py`'s `main_thread` arm; `parts_ahead`: its `main_thread_ahead` (the next batch tokenized
    beside each step even without a free core)."""
    setup = Setup(data=str(data), model=args.model, steps=args.warmup + args.steps, warmup=args.warmup,
                  batch_size=args.batch_size, max_length=args.max_length, seed=args.seed, device="auto",
                  precision="fp32", wait_policy="cockpit")  # fmt: skip
    run = run_arm_in_child("main_thread_ahead" if arm == "parts_ahead" else "main_thread", setup)
    return {"s_per_step": run.mean, "median_s_per_step": statistics.median(run.seconds),
            "cpu_s_per_step": statistics.fmean(run.cpu_seconds), "parts": run.info["parts"]}  # fmt: skip


ARM_FUNCTIONS = {"cockpit": arm_cockpit, "cockpit_active": arm_cockpit, "cockpit_passive": arm_cockpit,
                 "trainer": arm_trainer, "trainer_passive": arm_trainer, "trainer_malloc": arm_trainer,
                 "parts": arm_parts, "parts_ahead": arm_parts}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--arms", default="cockpit,trainer,parts", help=f"a subset of {','.join(ARMS)}, or cockpit_spinN"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="measured steps per arm")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "sentiment.parquet"))
    parser.add_argument("--no-fixed-shape", action="store_true", help="the texts as they are (dynamic padding)")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside every arm")
    parser.add_argument(
        "--threads", type=int, help="torch threads of every arm (OMP_NUM_THREADS); fewer than the cores leaves one free"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--trainer-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trainer_child:
        trainer_child(args, args.trainer_child)
        return
    arms = [a for a in args.arms.split(",") if a]
    if args.threads:  # every arm's process (the engine's child takes it from this one's torch)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    loaders = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for process in loaders:
        process.start()
    results: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    try:
        with tempfile.TemporaryDirectory(prefix="cockpit-user-path-") as temp:
            folder = Path(temp)
            data = Path(args.data)
            if not args.no_fixed_shape:
                data = fixed_shape_data(data, folder / "fixed-shape.parquet", args.max_length)
            for round_index in range(args.rounds):
                for arm in arms:
                    before = os.getloadavg()[0]
                    row = ARM_FUNCTIONS["cockpit" if spin_count(arm) else arm](args, data, arm, folder)
                    row["load_1m"] = [round(before, 2), round(os.getloadavg()[0], 2)]
                    results[arm].append(row)
                    print(f"round {round_index + 1} {arm:<16} {row['s_per_step']:.4f} s/step "
                          f"(median {row.get('median_s_per_step', float('nan')):.4f}), load "
                          f"{row['load_1m'][0]:.1f}->{row['load_1m'][1]:.1f}", file=sys.stderr)  # fmt: skip
    finally:
        for process in loaders:
            process.terminate()
    means = {arm: statistics.fmean(r["s_per_step"] for r in rows) for arm, rows in results.items()}
    report: dict[str, Any] = {"config": {k: str(v) for k, v in vars(args).items()}, "rounds": results, "means": means}
    if "cockpit" in means and "trainer" in means:
        pairs = list(zip(results["cockpit"], results["trainer"]))
        report["cockpit_over_trainer"] = {
            "mean": means["cockpit"] / means["trainer"],
            "per_round": [c["s_per_step"] / t["s_per_step"] for c, t in pairs],
            "median_step_per_round": [c["median_s_per_step"] / t["median_s_per_step"] for c, t in pairs],
        }
    for arm in ("parts", "parts_ahead"):
        if arm in results:
            names = {name for row in results[arm] for name in row["parts"]}
            report[f"{arm}_ms_per_step"] = {
                name: statistics.fmean(row["parts"].get(name, {}).get("ms_per_step", 0.0) for row in results[arm])
                for name in sorted(names)
            }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
