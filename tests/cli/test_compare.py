"""`cockpit compare`: two real tiny-model runs that part at a mid-run freeze, read from their journals.

The fold (`ui.compare_state`) is the replay's reader plus `RunState`; the table `--json` prints is
parsed from a real `cockpit compare` process; the app is driven by Pilot on the same journals.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, run_engine
from textual.widgets import Static
from ui_fixtures.harness import plain, run_async

from cockpit.cli.compare import fold_journals, resolve_runs
from cockpit.contract.errors import CockpitError
from cockpit.rundir.journal import read_journal
from cockpit.rundir.layout import JOURNAL_NAME
from cockpit.ui.compare_app import CompareApp
from cockpit.ui.compare_pins import ComparePins
from cockpit.ui.compare_state import config_diff, shared_pins

SENTIMENT = SAMPLES / "sentiment.parquet"
SETTINGS = {"max_steps": 12, "eval_every": 4, "eval_split": 0.2, "pins": [0, 1]}


@pytest.fixture(scope="module")
def two_runs(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same run twice, the second with layer.0 frozen from step 6 on."""
    root = tmp_path_factory.mktemp("compare")
    plain, frozen = root / "plain", root / "frozen"
    run_engine(SENTIMENT, plain, tiny_model, **SETTINGS)
    run_engine(SENTIMENT, frozen, tiny_model, schedule=["6:freeze=layer.0"], **SETTINGS)
    return plain, frozen


def compare(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "compare", *map(str, argv)], capture_output=True, text=True, timeout=120
    )


def test_the_fold_holds_both_curves_the_freeze_and_the_flag_that_differs(two_runs: tuple[Path, Path]) -> None:
    plain, frozen = fold_journals(list(two_runs))
    assert plain.state.step == frozen.state.step == 12
    assert len(plain.state.smoothed_history) == len(frozen.state.smoothed_history) == 12
    assert [e.step for e in plain.evals] == [e.step for e in frozen.evals] == [4, 8, 12]
    assert plain.marks == [] and [(m.step, m.command, m.source) for m in frozen.marks] == [
        (6, "freeze=layer.0", "schedule")
    ]
    # the frozen group's relative update is exactly 0 from step 6 on, and not before
    xs, ys = frozen.updates["layer.0"].points(100)
    assert all(y == 0.0 for x, y in zip(xs, ys, strict=True) if x >= 6)
    assert all(y > 0.0 for x, y in zip(xs, ys, strict=True) if x < 6)
    assert frozen.parted_from(plain) == 7  # step 6's loss was computed before its frozen backward
    diff = config_diff([plain, frozen])
    assert diff == {"schedule": [[], ["6:freeze=layer.0"]]}  # `out` differs too, and says nothing
    pins = shared_pins([plain, frozen])
    assert [p.pin.index for p in pins] == [0, 1] and all(len(p.probs) == 2 and None not in p.probs for p in pins)


def test_json_prints_the_comparison_table(two_runs: tuple[Path, Path]) -> None:
    result = compare(*two_runs, "--json")
    assert result.returncode == 0, result.stderr
    table = json.loads(result.stdout)
    plain, frozen = table["runs"]
    journal = read_journal(two_runs[1] / JOURNAL_NAME)
    last_eval = [e for e in journal if e.type == "eval"][-1]
    assert frozen["run"] == str(two_runs[1]) and frozen["state"] == "finished" and frozen["live"] is False
    assert frozen["step"] == frozen["total_steps"] == 12
    assert frozen["final_eval"]["step"] == 12 and frozen["final_eval"]["metrics"] == last_eval.metrics
    assert frozen["best_eval"]["metric"] == "micro_f1" and frozen["best_eval"]["step"] in (4, 8, 12)
    assert frozen["commands"] == [{"step": 6, "command": "freeze=layer.0", "source": "schedule"}]
    assert plain["commands"] == [] and 0 < plain["wall_s"] < 600
    assert frozen["parted_from_first_at"] == 7 and "parted_from_first_at" not in plain
    assert table["config_diff"] == {"schedule": [[], ["6:freeze=layer.0"]]}
    assert [p["row"] for p in table["shared_pins"]] == [0, 1]


def test_bad_arguments_are_one_line(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    for argv, said in [
        ((two_runs[0],), "compare needs two runs or more"),
        ((two_runs[0], two_runs[0]), "given twice"),
        ((two_runs[0], tmp_path), "no journal there"),
    ]:
        result = compare(*argv, "--json")
        assert result.returncode == 2 and said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(CockpitError, match="compare needs two"):
        resolve_runs([], newest=2, root=tmp_path)
    with pytest.raises(CockpitError, match="--newest 1: compare 2 to 8 runs"):
        resolve_runs([], newest=1, root=tmp_path)


def test_without_runs_the_newest_two_under_runs_are_compared(two_runs: tuple[Path, Path]) -> None:
    assert {p.resolve() for p in resolve_runs([], newest=2, root=two_runs[0].parent)} == {p.resolve() for p in two_runs}


@run_async
async def test_the_app_shows_both_runs_the_freeze_and_the_diff(two_runs: tuple[Path, Path]) -> None:
    app = CompareApp([(str(run), run / JOURNAL_NAME, False) for run in two_runs])
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(50):  # the reader threads are done within moments
            await pilot.pause(0.05)
            app.catch_up()
            if all(run.state.ended for run in app.runs):
                break
        marks = plain(app.query_one("#marks", Static))
        assert "step 6: freeze=layer.0" in marks and "▲ parts from ● at step 7" in marks
        table = plain(app.query_one("#runs", Static))
        tails = [f"{run.parent.name}/{run.name}" for run in two_runs]  # a long path is cut from the left
        assert all(tail in table for tail in tails) and table.count("finished") == 2
        config = plain(app.query_one("#config", Static))
        assert "--schedule" in config and "6:freeze=layer.0" in config
        assert "● (none)" in config  # the plain run has no schedule
        assert app.group == "layer.0"  # the group the runs part at
        await pilot.press("c")
        assert app.chart == "eval"
        await pilot.press("g")
        assert app.chart == "grad" and app.group != "layer.0"


@run_async
async def test_a_live_run_keeps_updating(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """A journal still being written (here: appended by the test, as a trainer does) is followed."""
    lines = (two_runs[1] / JOURNAL_NAME).read_text().splitlines(keepends=True)
    first_half = [i for i, line in enumerate(lines) if '"type":"step"' in line and '"step":6,' in line][0]
    growing = tmp_path / "live" / JOURNAL_NAME
    growing.parent.mkdir()
    growing.write_text("".join(lines[: first_half + 1]))
    app = CompareApp([(str(two_runs[0]), two_runs[0] / JOURNAL_NAME, False), ("live", growing, True)])
    async with app.run_test(size=(160, 48)) as pilot:

        async def settled(step: int) -> None:
            for _ in range(200):
                await pilot.pause(0.05)
                app.catch_up()
                if app.runs[1].state.step == step and app.runs[0].state.ended:
                    return
            raise AssertionError(f"the live run did not reach step {step}: {app.runs[1].state.step}")

        await settled(6)
        assert "6/12" in plain(app.query_one("#runs", Static))
        with open(growing, "a", encoding="utf-8") as handle:
            handle.write("".join(lines[first_half + 1 :]))
        await settled(12)
        table = plain(app.query_one("#runs", Static))
        assert "12/12" in table and table.count("finished") == 2
        assert "▲ parts from ● at step 7" in plain(app.query_one("#marks", Static))
    # closed, the cockpit stops following: no reader is left polling the journal
    deadline = time.monotonic() + 10
    while any(t.name == "cockpit-journal-reader" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "cockpit-journal-reader" for t in threading.enumerate())


def test_regression_runs_compare_by_r2_and_show_predicted_values(tiny_model: Path, tmp_path: Path) -> None:
    """Two regression runs on sentence pairs (#21), one with a higher lr: best eval by R^2, the eval
    metrics the runs report to chart, and the shared pins as values beside their targets."""
    from conftest import sentiment_pairs

    data = sentiment_pairs(tmp_path / "sts.parquet", score=True)
    settings = {"max_steps": 8, "eval_every": 4, "eval_split": 0.25, "max_length": 64}
    run_engine(data, tmp_path / "a", tiny_model, **settings)
    run_engine(data, tmp_path / "b", tiny_model, **{**settings, "lr": 3e-3})
    runs = fold_journals([tmp_path / "a", tmp_path / "b"])
    for run in runs:
        best = run.best_eval()
        r2 = [e.metrics["r2"] for e in run.evals]
        assert best is not None and best[0] == "r2" and best[1] == max(r2)
    assert config_diff(runs) == {"lr": [1e-3, 3e-3]}
    table = ComparePins.table(runs, 120).plain
    pin = runs[1].state.pins[0]
    predicted = runs[1].state.pin_probs[0][0]
    assert f"{predicted:.3g}" in table and "✓" not in table and "✗" not in table
    assert f"{pin.targets[0]:.3g}" in table
    app = CompareApp([(str(tmp_path / r), tmp_path / r / JOURNAL_NAME, False) for r in ("a", "b")])
    for run, compared in zip(app.runs, runs, strict=True):
        run.evals = compared.evals
    assert app.metrics()[:2] == ["r2", "pearson"] and app.metrics()[-1] == "loss"
