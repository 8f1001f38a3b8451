"""An attached cockpit costs its CPU to the trainer on a small machine: it redraws only what changed,
only what is on screen, at most at each panel's rate, and hardly at all while its terminal is not focused."""

from __future__ import annotations

import dataclasses
from collections import Counter

from textual import events as textual_events
from ui_fixtures.harness import FakeControl, live_events, run_async, running_app

from cockpit.contract.events import StepMetrics
from cockpit.ui.app import CockpitApp


def count_redraws(app: CockpitApp) -> Counter[str]:
    """Count each panel's redraws (the real methods still run)."""
    counts: Counter[str] = Counter()
    for name, widget, method in [("status", app._status_bar, "show"), ("layers", app._layers, "show"),
                                 ("pins", app._pins, "show"), ("chart", app._loss_chart, "draw")]:  # fmt: skip
        real = getattr(widget, method)

        def counted(*args, _real=real, _name=name, **kwargs):
            counts[_name] += 1
            return _real(*args, **kwargs)

        setattr(widget, method, counted)
    return counts


def more_steps(app: CockpitApp, count: int) -> None:
    last = max((e for e in live_events() if isinstance(e, StepMetrics)), key=lambda e: e.step)
    for n in range(1, count + 1):
        app.events.put(dataclasses.replace(last, step=last.step + n, time=last.time + n))


@run_async
async def test_steps_arriving_faster_than_the_panels_rates_redraw_each_panel_once() -> None:
    async with running_app(live_events(), FakeControl()) as (app, pilot):
        counts = count_redraws(app)
        for _ in range(6):  # six drain ticks with new steps each, well within the panels' 2 s
            more_steps(app, 3)
            app._tick()
        await pilot.pause()
        assert counts["layers"] <= 1 and counts["chart"] <= 1 and counts["pins"] <= 1, counts
        assert counts["status"] <= 2, counts  # (every 0.5 s)


@run_async
async def test_a_terminal_out_of_focus_waits_and_focus_redraws_at_once() -> None:
    async with running_app(live_events(), FakeControl()) as (app, pilot):
        app.REDRAW_INTERVAL_S = {}  # every change would be drawn at once ...
        counts = count_redraws(app)
        app.app_focus = False  # (what Textual sets on the terminal's focus-out)
        app.BLURRED_INTERVAL_S = 3600.0  # ... but not out of focus
        more_steps(app, 5)
        app._tick()
        await pilot.pause()
        assert sum(counts.values()) == 0, counts
        app.post_message(textual_events.AppFocus())
        await pilot.pause()
        assert {"status", "layers", "pins", "chart"} <= set(counts), counts
        assert app.run_state.step == max(e.step for e in live_events() if isinstance(e, StepMetrics)) + 5


@run_async
async def test_the_compact_layout_draws_only_the_view_on_screen() -> None:
    async with running_app(live_events(), FakeControl(), size=(80, 24)) as (app, pilot):
        assert app.compact and app.view == "split"  # the loss chart above the pinned examples
        app.REDRAW_INTERVAL_S = {}
        counts = count_redraws(app)
        more_steps(app, 5)
        app._tick()
        await pilot.pause()
        # (the pins also redraw on the app's own timer: "predicted ... 3 s ago" keeps counting)
        assert counts["chart"] == 1 and counts["pins"] >= 1 and counts["layers"] == 0, counts
        await pilot.press("4")  # the layers view: drawn as it comes on screen, with the steps it missed
        await pilot.pause()
        assert counts["layers"] == 1, counts
