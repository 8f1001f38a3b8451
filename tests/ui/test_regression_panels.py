"""The panels of a regression run on sentence pairs, from a real journal (the tiny BERT, real engine): the
pinned examples show each pair and its predicted value beside its target on a number line, not per-label
probabilities; the eval panel shows MSE, MAE, Pearson and Spearman beside the constant predictor."""

from __future__ import annotations

from pathlib import Path

from conftest import run_engine, sentiment_pairs
from textual.widgets import DataTable, Static
from ui_fixtures.harness import cell_text, plain, run_async, running_app

from cockpit.contract.events import EvalResult, PinPredictions, RunStarted
from cockpit.rundir.journal import read_journal


def regression_journal(tiny_model: Path, tmp_path: Path) -> list:
    data = sentiment_pairs(tmp_path / "sts.parquet", score=True)
    run_engine(data, tmp_path / "run", tiny_model, max_steps=12, eval_every=6, eval_split=0.25, max_length=64)
    return read_journal(tmp_path / "run" / "journal.jsonl")


def test_a_regression_pair_run_shows_values_and_pairs(tiny_model: Path, tmp_path: Path) -> None:
    events = regression_journal(tiny_model, tmp_path)
    run = next(e for e in events if isinstance(e, RunStarted))
    pins = [e for e in events if isinstance(e, PinPredictions)][-1]
    final = [e for e in events if isinstance(e, EvalResult)][-1]

    @run_async
    async def look() -> None:
        async with running_app(events) as (app, _pilot):
            texts = plain(app.query_one("#pins-texts", Static))
            first = run.pins[0]
            assert f"{first.text[:20]}" in texts and " ║ " in texts  # both texts of the pair
            assert "→" in texts and "●" in texts  # target -> prediction, and where they sit on a number line
            matrix = app.query_one("#pins-matrix", DataTable)
            assert [str(c.label) for c in matrix.columns.values()][0] == "label"
            assert cell_text(matrix, "label0", "label") == "score"  # one row: the target, not per-label probs
            target, predicted, mark = cell_text(matrix, "label0", "pin0").split()[:3]
            assert float(target) == round(run.pins[0].targets[0], 2) and mark in "✓✗"
            assert abs(float(predicted) - pins.probs[0][0]) < 0.01  # the predicted value itself
            evaluation = plain(app.query_one("#eval-body", Static))
            assert "mse" in evaluation and "pearson" in evaluation and "spearman" in evaluation
            assert f"constant predictor {final.baselines['constant_mse']:.4f}" in evaluation
            assert "spread" in evaluation and "predictions" in evaluation and "targets" in evaluation
            assert "predicted" not in evaluation  # no class distribution table for scores

    look()
