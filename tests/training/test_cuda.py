"""CUDA only (marker `cuda`, skipped without a GPU; `benchmarks/gpu_check.sh` runs them): bf16 autocast,
and a real out-of-memory (a batch too big for a capped allocator) recovered by halving the micro-batch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import run_engine, tiny_engine, write_parquet

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]


def _report(name: str, values: dict) -> None:
    """benchmarks/gpu_check.sh collects these into its JSON."""
    folder = os.environ.get("COCKPIT_GPU_REPORT")
    if folder:
        (Path(folder) / f"{name}.json").write_text(json.dumps(values, default=str))


def test_engine_trains_with_bf16_autocast_on_cuda(tmp_path: Path, tiny_model: Path) -> None:
    texts = [f"{'good' if i % 2 else 'bad'} thing number {i}" for i in range(64)]
    data = write_parquet(tmp_path / "d.parquet", {"text": texts, "label": [i % 2 for i in range(64)]})
    torch.cuda.reset_peak_memory_stats()
    _, ended = run_engine(data, tmp_path / "run", tiny_model, max_steps=4, device="cuda", precision="bf16")
    assert ended.reason == "finished", ended.message
    events = _journal(tmp_path / "run")
    start = next(e for e in events if e["type"] == "run")
    assert "cuda" in start["device"] and "bfloat16" in start["device"]
    assert all(e["loss"] == e["loss"] for e in events if e["type"] == "step")  # finite, not NaN
    _report("bf16", {"device": start["device"], "peak_allocated_mib": torch.cuda.max_memory_allocated() / 2**20})


def test_real_out_of_memory_is_recovered_by_halving(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 512-token BERT batch of 256 needs far more than the 2 GiB the allocator is capped at; the
    engine halves the micro-batch until it fits (the effective batch stays 256), and the final
    evaluation starts at batch 1024 and halves its own batch if that does not fit."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from cockpit.training import batches

    model_dir = tmp_path / "bert-512"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    words = "good bad fine thing number item service staff story plot".split()
    texts = [" ".join(words[(i + j) % len(words)] for j in range(600)) for i in range(400)]
    data = write_parquet(tmp_path / "long.parquet", {"text": texts, "label": [i % 2 for i in range(400)]})
    monkeypatch.setattr(batches, "EVAL_BATCH_SIZE", 1024)
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(min(1.0, 2 * 2**30 / total))
    try:
        engine, ended = run_engine(
            data,
            tmp_path / "run",
            model_dir,
            max_steps=2,
            device="cuda",
            precision="bf16",
            batch_size=256,
            max_length=512,
            eval_rows=300,
        )
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert ended.reason == "finished", ended.message
    events = _journal(tmp_path / "run")
    halvings = [e for e in events if e["type"] == "notice" and e["kind"] == "out_of_memory"]
    assert halvings, "the capped allocator should have run out of memory at micro-batch 256"
    last_step = [e for e in events if e["type"] == "step"][-1]
    assert last_step["micro_batch"] < 256 and last_step["effective_batch"] == 256
    evaluation = next(e for e in events if e["type"] == "eval")
    assert evaluation["rows"] == 300
    _report(
        "oom",
        {
            "halvings": [h["evidence"] for h in halvings],
            "final_micro_batch": last_step["micro_batch"],
            "eval_batch_after": getattr(getattr(engine, "evaluator", None), "batch_size", None),
        },
    )


def test_a_cuda_run_samples_its_device(tmp_path: Path, tiny_model: Path) -> None:
    """The machine sampler on a GPU: torch's allocated/reserved/total memory of the training device,
    and, with pynvml (the `gpu` extra), NVML's utilisation and power of the same device."""
    from cockpit.training.system import SystemSampler

    texts = [f"{'good' if i % 2 else 'bad'} thing number {i}" for i in range(64)]
    data = write_parquet(tmp_path / "d.parquet", {"text": texts, "label": [i % 2 for i in range(64)]})
    engine = tiny_engine(data, tmp_path / "run", tiny_model, max_steps=4, device="cuda")
    engine.hooks.append(SystemSampler())
    ended = engine.run()
    assert ended.reason == "finished", ended.message
    sample = [e for e in _journal(tmp_path / "run") if e["type"] == "system"][-1]
    device = sample["devices"][0]
    assert device["index"] == torch.cuda.current_device() and device["name"] == torch.cuda.get_device_name()
    assert 0 < device["allocated_mib"] <= device["reserved_mib"] < device["total_mib"]
    try:
        import pynvml  # noqa: F401
    except ImportError:
        assert "pynvml is not installed" in sample["note"] and device["utilisation"] is None
    else:
        assert device["utilisation"] is not None and device["power_w"] > 0, sample["note"]
    _report("system", {"sample": sample})
