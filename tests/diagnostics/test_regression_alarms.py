"""Regression alarms on the real engine and the tiny BERT: predictions that collapse to one value, targets
on a scale the head will fight; and a healthy regression run that raises nothing."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
from conftest import SAMPLES, run_engine, write_parquet

from cockpit.contract.events import Alarm, EvalResult
from cockpit.rundir.journal import read_journal


def ratings(path: Path, scale: float = 1.0, offset: float = 0.0) -> Path:
    """The sentiment sample as scores: 4 +- 0.6 for positive rows, 1 +- 0.6 for negative ones."""
    table = pq.read_table(SAMPLES / "sentiment.parquet").to_pydict()
    rng = random.Random(1)
    scores = [offset + scale * round(1.0 + 3.0 * label + rng.uniform(-0.6, 0.6), 2) for label in table["label"]]
    return write_parquet(path, {"text": table["text"], "score": scores})


def train(data: Path, run: Path, model: Path, **settings: object) -> list:
    run_engine(data, run, model, **{"eval_every": 50, "warmup_ratio": 0.0, **settings})
    return read_journal(run / "journal.jsonl")


def alarms(events: list) -> list[Alarm]:
    return [e for e in events if isinstance(e, Alarm)]


def test_predictions_stuck_at_one_value_raise_the_regression_collapse(tiny_model: Path, tmp_path: Path) -> None:
    """lr 1e-7: the fresh head's outputs spread ~0.05 around 0 while the scores spread 1.5."""
    events = train(ratings(tmp_path / "r.parquet"), tmp_path / "run", tiny_model, max_steps=100, lr=1e-7)
    [alarm] = [a for a in alarms(events) if a.kind == "collapse"]
    evals = [e for e in events if isinstance(e, EvalResult)]
    assert alarm.step == evals[1].step and alarm.severity == "error"  # two flat evaluations in a row
    assert alarm.evidence["prediction_std"] < 0.1 * alarm.evidence["target_std"]
    assert "Every prediction is about" in alarm.message and "targets spread" in alarm.message


def test_a_healthy_regression_run_raises_nothing(tiny_model: Path, tmp_path: Path) -> None:
    events = train(ratings(tmp_path / "r.parquet"), tmp_path / "run", tiny_model, max_steps=200, lr=3e-3)
    final = [e for e in events if isinstance(e, EvalResult)][-1]
    assert final.metrics["r2"] > 0.8 and final.metrics["pearson"] > 0.9
    assert alarms(events) == [], [(a.kind, a.message) for a in alarms(events)]


def test_targets_on_a_large_scale_are_named_before_step_one(tiny_model: Path, tmp_path: Path) -> None:
    """Mean ~10,000, std ~1,500: a head starting near 0 fights that for thousands of steps."""
    data = ratings(tmp_path / "big.parquet", scale=1000.0, offset=7500.0)
    events = train(data, tmp_path / "run", tiny_model, max_steps=3)
    [alarm] = [a for a in alarms(events) if a.kind == "target_scale"]
    assert alarm.step == 0 and alarm.severity == "warning"
    assert alarm.evidence["mean"] > 9000 and "normalised targets" in alarm.advice


def test_a_classification_head_on_scores_is_named() -> None:
    """Seed 003 the other way round: a 2-output classification head (an NLI checkpoint's) trained on a score."""
    from cockpit.contract.events import HeadFit
    from cockpit.diagnostics.setup import head_problems

    head = HeadFit(outputs=2, labels=1, problem_type="single_label_classification")
    problems, fatal = head_problems("regression", head, 1)
    assert fatal and "scores (regression)" in problems[0] and "2 output(s)" in problems[0]
    assert head_problems("regression", HeadFit(outputs=1, labels=1, problem_type="regression"), 1) == ([], False)


def test_normalize_targets_trains_large_scores_and_saves_a_model_in_their_units(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Scores around 10,000: with --normalize-targets the head learns z-scores, no scale alarm is raised,
    the eval is in the scores' units, and pipeline() on the saved model gives those units back."""
    from transformers import pipeline

    data = ratings(tmp_path / "big.parquet", scale=1000.0, offset=7500.0)
    run_engine(data, tmp_path / "run", tiny_model, max_steps=200, lr=3e-3, eval_every=50, normalize_targets=True)
    events = read_journal(tmp_path / "run" / "journal.jsonl")
    assert not [a for a in alarms(events) if a.kind == "target_scale"]
    final = [e for e in events if isinstance(e, EvalResult)][-1]
    assert final.metrics["r2"] > 0.8 and final.baselines["constant_prediction"] > 9000
    table = pq.read_table(data).to_pydict()
    score = pipeline("text-classification", model=str(tmp_path / "run" / "model"), function_to_apply="none")
    predicted = [out["score"] for out in score(table["text"][:20])]
    assert min(predicted) > 5000 and max(predicted) < 15000  # the saved model speaks the scores' units
