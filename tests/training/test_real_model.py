"""The embedded all-MiniLM-L6-v2 (22M parameters), trained for real on the shipped sample data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_engine

from cockpit.contract.config import DEFAULT_MODEL, RunConfig
from cockpit.rundir.journal import read_journal
from cockpit.training.prepare import prepare

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.mark.slow
def test_minilm_learns_dei_and_saved_model_reproduces_pins(tmp_path: Path) -> None:
    from transformers import pipeline

    _, ended = run_engine(
        SAMPLES / "dei.parquet",
        tmp_path / "run",
        DEFAULT_MODEL,
        max_steps=30,
        batch_size=16,
        lr=1e-3,
        max_length=64,
        eval_split=0.1,
        warmup_ratio=0.1,
        freeze="embeddings",
    )
    assert ended.reason == "finished"
    events = read_journal(tmp_path / "run" / "journal.jsonl")
    start = events[0]
    assert start.layers == ["embeddings"] + [f"layer.{i}" for i in range(6)] + ["pooler", "head"]
    losses = [e.loss for e in events if e.type == "step"]
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])
    assert np.mean(losses[-5:]) < start.constant_loss  # better than predicting the label frequencies
    pins = [e for e in events if e.type == "pins"]
    assert pins[-1].loss < pins[0].loss
    classify = pipeline("text-classification", model=ended.model_dir, top_k=None, device="cpu")
    for pin, probs in zip(start.pins, pins[-1].probs):
        scores = {s["label"]: s["score"] for s in classify([pin.text], truncation=True, max_length=64)[0]}
        assert [scores[name] for name in start.labels] == pytest.approx(probs, abs=1e-4)


@pytest.mark.slow
def test_minilm_sampled_relative_update_is_within_a_tenth_of_the_exact_one(tmp_path: Path) -> None:
    """The per-layer update is read from every 8th row of each large matrix; on real training
    the estimate stays close to ||w_after - w_before|| / ||w_before|| over the whole group."""
    import torch

    from cockpit.contract.events import StepMetrics
    from cockpit.training.engine import Engine

    config = RunConfig(
        data=str(SAMPLES / "dei.parquet"),
        model=DEFAULT_MODEL,
        out=str(tmp_path / "run"),
        max_steps=6,
        batch_size=16,
        lr=5e-5,
        max_length=64,
        eval_split=0.0,
    )
    engine = Engine(prepare(config), on_nonfinite="stop")
    weights: dict[int, dict[str, torch.Tensor]] = {}
    errors: list[float] = []

    def observe(event: object) -> None:
        if getattr(event, "type", "") in ("run", "step"):
            weights[event.step] = {
                g.name: torch.cat([p.detach().flatten().clone() for p in g.params]) for g in engine.groups
            }
        if isinstance(event, StepMetrics):
            for name, stats in event.layers.items():
                before, after = weights[event.step - 1][name], weights[event.step][name]
                exact = float((after - before).norm() / before.norm())
                errors.append(abs(stats.update_ratio / exact - 1))
                assert stats.weight_norm == pytest.approx(float(before.norm()), rel=0.02), name

    engine.observers.append(observe)
    assert engine.run().reason == "finished"
    assert engine.norms.snapshot_size < 0.2 * sum(p.numel() for p in engine.model.parameters())
    assert len(errors) == 6 * 9 and max(errors) < 0.1, sorted(errors)[-5:]
