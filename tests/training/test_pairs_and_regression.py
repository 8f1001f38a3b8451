"""Sentence pairs and regression trained for real on the tiny BERT, and the saved model checked through
`pipeline()` against the journal: what the cockpit measured is what a user of the model gets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_engine, sentiment_pairs

from cockpit.contract.events import EvalResult, PinPredictions, RunStarted
from cockpit.rundir.journal import read_journal

TINY_PAIRS = {"max_steps": 24, "eval_every": 12, "eval_split": 0.25, "max_length": 64}


def eval_rows(rows: list[int], path: Path) -> tuple[list[str], list[str], list]:
    """The eval split's rows of the file, as a user reading eval_rows.json would pick them."""
    table = pq.read_table(path).to_pydict()
    column = "score" if "score" in table else "label"
    return (
        [table["sentence1"][r] for r in rows],
        [table["sentence2"][r] for r in rows],
        [table[column][r] for r in rows],
    )


def test_a_pair_file_trains_as_pairs_and_pipeline_with_text_pair_reproduces_the_final_eval(
    tiny_model: Path, tmp_path: Path
) -> None:
    from transformers import pipeline

    data = sentiment_pairs(tmp_path / "pairs.parquet")
    segments: list[set[int]] = []

    def watch(engine) -> None:  # every training batch's segment ids, seen by the real model
        def record(_module, _args, kwargs) -> None:
            segments.append(set(kwargs["token_type_ids"].unique().tolist()))

        engine.model.register_forward_pre_hook(record, with_kwargs=True)

    from conftest import tiny_engine

    engine = tiny_engine(data, tmp_path / "run", tiny_model, **TINY_PAIRS)
    watch(engine)
    ended = engine.run()
    assert ended.reason == "finished"
    assert segments and all(seen == {0, 1} for seen in segments)  # both segments in every batch
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    run = next(e for e in journal if isinstance(e, RunStarted))
    assert run.pins and all(p.text_pair for p in run.pins)  # pins carry both texts
    final = [e for e in journal if isinstance(e, EvalResult)][-1]

    classify = pipeline("text-classification", model=ended.model_dir, top_k=None)
    first, second, truth = eval_rows(list(engine.prepared.evaluation.row_ids), data)
    outputs = classify([{"text": a, "text_pair": b} for a, b in zip(first, second)])
    probs = np.array([[next(s["score"] for s in out if s["label"] == name) for name in run.labels] for out in outputs])
    accuracy = float((probs.argmax(axis=1) == np.asarray(truth)).mean())
    loss = float(-np.log(probs[np.arange(len(truth)), truth]).mean())
    assert accuracy == pytest.approx(final.metrics["accuracy"], abs=1e-6)  # the same rows right (float32 there)
    assert loss == pytest.approx(final.loss, rel=1e-4)


def test_a_float_score_pair_file_trains_as_regression_with_pearson_and_spearman(
    tiny_model: Path, tmp_path: Path
) -> None:
    from transformers import pipeline

    data = sentiment_pairs(tmp_path / "sts.parquet", score=True)
    engine, ended = run_engine(data, tmp_path / "run", tiny_model, **TINY_PAIRS)
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    run = next(e for e in journal if isinstance(e, RunStarted))
    assert run.task == "regression" and run.labels == ["score"] and run.head.outputs == 1
    assert run.targets["std"] > 0 and run.constant_loss == pytest.approx(run.targets["std"] ** 2, rel=1e-5)
    final = [e for e in journal if isinstance(e, EvalResult)][-1]
    assert {"mse", "mae", "pearson", "spearman", "r2"} <= set(final.metrics)
    assert final.baselines["constant_mse"] > 0 and "constant_prediction" in final.baselines
    config = json.loads((Path(ended.model_dir) / "config.json").read_text())
    assert config["problem_type"] == "regression" and len(config["id2label"]) == 1

    score = pipeline("text-classification", model=ended.model_dir, function_to_apply="none")
    first, second, truth = eval_rows(list(engine.prepared.evaluation.row_ids), data)
    predicted = np.array([out["score"] for out in score([{"text": a, "text_pair": b} for a, b in zip(first, second)])])
    assert float(np.mean((predicted - np.asarray(truth)) ** 2)) == pytest.approx(final.metrics["mse"], rel=1e-4)
    pins = [e for e in journal if isinstance(e, PinPredictions)][-1]
    assert all(len(row) == 1 for row in pins.probs)  # one predicted value per pinned pair


def test_a_regression_run_resumes_bit_exactly(tiny_model: Path, tmp_path: Path) -> None:
    """The regression head and its targets go through checkpoints like a classifier's."""
    from conftest import tiny_engine
    from safetensors.torch import load_file

    from cockpit.contract.config import RunConfig
    from cockpit.contract.events import StepMetrics
    from cockpit.training.engine import Engine
    from cockpit.training.prepare import prepare

    data = sentiment_pairs(tmp_path / "sts.parquet", score=True)
    settings = {"max_steps": 8, "eval_split": 0.0}
    run_engine(data, tmp_path / "whole", tiny_model, **settings)
    assert tiny_engine(data, tmp_path / "split", tiny_model, **settings, schedule=["5:stop"]).run().step == 4
    resumed = Engine(prepare(RunConfig.load(tmp_path / "split" / "config.json"), resume_dir=tmp_path / "split"))
    assert resumed.run().reason == "finished"

    def losses(run: Path) -> list[float]:
        steps = [e for e in read_journal(run / "journal.jsonl") if isinstance(e, StepMetrics)]
        return [s.loss for s in sorted(steps, key=lambda s: s.step)]

    assert losses(tmp_path / "split") == losses(tmp_path / "whole")
    whole, split = (load_file(tmp_path / r / "model" / "model.safetensors") for r in ("whole", "split"))
    assert all(torch.equal(whole[k], split[k]) for k in whole)
