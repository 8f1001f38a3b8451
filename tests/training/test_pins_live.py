"""Pinned predictions refresh while the run is in progress (issue 12): counted in short real runs.

The cadence itself (2 s, 3% of training time, the cold first call free) is tested without a clock
in test_pin_cadence.py; here the tiny model trains for real and the journal is counted.
"""

from __future__ import annotations

from pathlib import Path

from conftest import SAMPLES, run_engine

from cockpit.contract.events import CommandApplied, PinPredictions
from cockpit.rundir.journal import read_journal

DEI = SAMPLES / "dei.parquet"


def _pins(run_dir: Path) -> list[PinPredictions]:
    return [e for e in read_journal(run_dir / "journal.jsonl") if isinstance(e, PinPredictions)]


def test_pins_refresh_all_through_a_short_real_run(tiny_model: Path, tmp_path: Path) -> None:
    # no wall-clock interval, the whole budget: the count depends only on the ratio of a pinned
    # prediction's cost to a training step's, both measured in this process
    engine, ended = run_engine(DEI, tmp_path / "run", tiny_model, max_steps=30, pin_every_s=0, pin_budget=1.0)
    during = [p.step for p in _pins(tmp_path / "run") if 0 < p.step < ended.step]
    assert len(during) >= 10, during
    assert engine.pin_cadence.calls == len(_pins(tmp_path / "run"))
    # the first (cold) call is not charged: the second prediction came early, not tens of steps later
    assert during[0] <= 3, during


def test_pins_are_predicted_at_every_eval_and_on_demand(tiny_model: Path, tmp_path: Path) -> None:
    _, ended = run_engine(
        DEI, tmp_path / "run", tiny_model, max_steps=7, eval_every=3, pin_every_s=3600, schedule=["5:predict"]
    )
    steps = [p.step for p in _pins(tmp_path / "run")]
    assert steps == [0, 3, 4, 6, 7], steps  # start, each eval, the `predict` command (before step 5), end
    (command,) = [e for e in read_journal(tmp_path / "run" / "journal.jsonl") if isinstance(e, CommandApplied)]
    assert command.command == "predict" and command.result.startswith("predicted the") and command.step == 4
