"""The cockpit explains itself: help, the loading screen, what commands did, marks without colour.

Pilot tests on the fixture journal (tests/ui_fixtures) with a recording FakeControl, as test_ui.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from textual.widgets import DataTable, Static
from ui_fixtures.harness import FakeControl, fixture_events, live_events, notifications, plain, run_async, running_app

from cockpit.contract.events import LoadingStage, RunEnded
from cockpit.rundir.thresholds import apply_thresholds, load_thresholds
from cockpit.ui.app import CockpitApp
from cockpit.ui.help_screen import KEYS, HelpScreen
from cockpit.ui.layers_table import LayersTable
from cockpit.ui.loading_screen import LoadingScreen
from cockpit.ui.loss_chart import LossChart
from cockpit.ui.rates_strip import RatesStrip
from cockpit.ui.thresholds_dialog import ThresholdsDialog

README = Path(__file__).resolve().parents[2] / "README.md"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _bound_keys() -> set[str]:
    keys = set()
    for binding in [*CockpitApp.BINDINGS, *LayersTable.BINDINGS]:
        for key in binding.key.split(","):
            if key.isdigit() or key.startswith("ctrl+"):
                continue
            keys.add({"question_mark": "?", "slash": "/", "colon": ":"}.get(key, key))
    return keys


def test_help_and_readme_name_every_key_the_cockpit_binds() -> None:
    helped = {key for key, _ in KEYS}
    assert _bound_keys() | {"1-6"} == helped
    readme = README.read_text()
    keys_section = readme[readme.index("### Keys in the cockpit") :].split("\n### ", 1)[0]
    for key in helped:
        assert f"`{key}`" in keys_section, f"README's key list lacks {key}"


@run_async
async def test_question_mark_opens_a_help_that_explains_columns_and_marks() -> None:
    async with running_app(fixture_events()) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(plain(static) for static in app.screen.query(Static))
        for term in ("rel. update", "constant", "✗ 10/15", "grad history", "thr", "pinned", "f      freeze"):
            assert term in text, term
        # #25: how to move around is there too (Tab, the mouse, the palette, the browser's ctrl+f)
        for term in ("tab ", "mouse", "ctrl+p", "ctrl+f", "PageUp"):
            assert term in text, term
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@run_async
async def test_loading_stages_show_until_the_run_event_arrives() -> None:
    stages = [
        LoadingStage(step=0, stage="reading data", detail="a.parquet"),
        LoadingStage(step=0, stage="tokenizing"),
    ]
    control = FakeControl()
    async with running_app(stages, control) as (app, pilot):
        assert isinstance(app.screen, LoadingScreen)
        text = plain(app.screen.query_one("#loading-body", Static))
        assert "✓ reading data" in text and "a.parquet" in text and "tokenizing" in text
        for event in live_events():
            app.events.put(event)
        app.catch_up()
        await pilot.pause()
        assert not isinstance(app.screen, LoadingScreen) and app.run_state.started is not None


@run_async
async def test_t_after_the_run_ended_writes_thresholds_beside_the_model(tmp_path: Path) -> None:
    events = fixture_events()
    model_dir = tmp_path / "model"
    events[-1] = dataclasses.replace(events[-1], model_dir=str(model_dir))
    assert isinstance(events[-1], RunEnded)
    async with running_app(events, FakeControl()) as (app, pilot):
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdsDialog)
        await pilot.press("y")
        await pilot.pause()
        assert "thresholds saved in" in notifications(app)[-1]
    thresholds = load_thresholds(model_dir)
    assert thresholds["race"] == 0.2 and len(thresholds) == 15
    scores = [{"label": "race", "score": 0.25}, {"label": "gender", "score": 0.24}]  # pipeline(top_k=None) output
    assert apply_thresholds(scores, thresholds) == ["race"]  # gender's best threshold is 0.25


@run_async
async def test_chart_series_and_wrong_predictions_read_without_colour() -> None:
    async with running_app(fixture_events()) as (app, pilot):
        chart = app.query_one(LossChart)
        drawn = ANSI.sub("", chart.plt.build())
        # each series its own marker; the constant line and the gap (the alarm is on) named in words
        for mark in ("··", "++", "◆", "constant", "gap 0.4"):
            assert mark in drawn, mark
        assert any("\u2801" <= char <= "\u28ff" for char in drawn)  # the smoothed loss, in braille
        assert "smoothed" not in drawn  # #25: no legend inside the plot, over the first steps
        legend = str(app.query_one(RatesStrip).render()).splitlines()[0]
        for entry in ("⢕⢕ smoothed", "++ pinned", "◆ eval", "── constant"):  # (the raw loss: when there is room)
            assert entry in legend, entry
        matrix = app.query_one("#pins-matrix", DataTable)
        wrong = matrix.get_cell("label0", "pin0")
        assert wrong.plain.startswith("1 .33 ✗")
        cross = next(span for span in wrong.spans if wrong.plain[span.start : span.end] == "✗")
        assert "reverse" in str(cross.style) and "bold" in str(cross.style)  # stands out in NO_COLOR too
        assert "predicted at step 60" in str(app.query_one("#pins").border_subtitle)


@run_async
async def test_a_real_launch_shows_each_loading_stage_then_the_cockpit(
    tiny_model: Path, multilabel_file: Path, tmp_path: Path
) -> None:
    """`cockpit train` opens the app first and prepares the run behind its loading screen."""
    import queue

    from conftest import TINY_RUN

    from cockpit.cli.startup import PreparingRun
    from cockpit.contract.config import RunConfig
    from cockpit.training.prepare import prepare

    config = RunConfig(data=str(multilabel_file), model=str(tiny_model), out=str(tmp_path / "run"), max_steps=2)
    for key, value in TINY_RUN.items():
        setattr(config, key, value)
    events: queue.SimpleQueue = queue.SimpleQueue()
    import threading

    opened = threading.Event()  # the test looks at the screen before preparing may go on (no race)

    def prepare_when_seen(on_stage):  # noqa: ANN001, ANN202
        opened.wait(60)
        return prepare(config, on_stage=on_stage)

    control = PreparingRun(prepare_when_seen, events)
    seen: list[str] = []
    stage = control.stage
    control.stage = lambda name, detail="": (seen.append(name), stage(name, detail))[1]  # type: ignore[method-assign]
    app = CockpitApp(events, control)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoadingScreen), app.run_state.error  # before torch is even imported
        opened.set()
        for _ in range(600):
            await pilot.pause(0.1)
            if app.run_state.ended is not None:
                break
        assert app.run_state.ended is not None and app.run_state.ended.reason == "finished"
        assert not isinstance(app.screen, LoadingScreen)
    assert seen == ["starting", "reading data", "loading model", "tokenizing", "first step"]
