"""The live screen as users see it (issue #25), at 80x24, 120x40 and 200x60: early in a run (no eval
yet: the chart spans the steps so far, the eval panel is one line), with an eval, and the help screen.

Update with `pytest tests/ui/test_snapshots.py --snapshot-update` after a deliberate change of layout,
and look at the new SVGs before committing them.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot
from ui_fixtures.harness import FakeControl, live_events

from cockpit.contract.events import Event
from cockpit.ui import pinned_examples
from cockpit.ui.app import CockpitApp

SIZES = [(80, 24), (120, 40), (200, 60)]
IDS = [f"{w}x{h}" for w, h in SIZES]


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ "predicted at step 8, 2 s ago" counts from the wall clock: here from the fixture run's own."""
    last = max(e.time for e in live_events())

    class Clock:  # what pinned_examples asks of `time`
        @staticmethod
        def time() -> float:
            return last + 2.0

    monkeypatch.setattr(pinned_examples, "time", Clock)
    yield


def live_app(until_step: int) -> CockpitApp:
    """The cockpit on a live run (a recording control), its journal read up to `until_step`."""
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    for event in live_events():
        if event.step <= until_step:
            events.put(event)
    control = FakeControl(events)
    return CockpitApp(events, control, run_label="runs/20240501-101500-dei")


async def caught_up(pilot: Pilot) -> None:
    pilot.app.catch_up()
    await pilot.pause()
    pilot.app.catch_up()
    # the journal's command from this UI ("step 10: froze embeddings") toasts for 6 s: gone or not by
    # the screenshot depending on the machine's speed
    pilot.app.clear_notifications()
    await pilot.pause()


# (what, the journal read up to this step, keys pressed): early in a run (no eval yet: the chart spans
# the steps so far, the eval panel is one line), with an eval (step 30), and the help screen
SCREENS = [("early", 8, []), ("with_an_eval", 32, []), ("help", 32, ["question_mark"])]


@pytest.mark.parametrize("size", SIZES, ids=IDS)
@pytest.mark.parametrize(("screen", "until_step", "press"), SCREENS, ids=[name for name, _, _ in SCREENS])
def test_live_screen(snap_compare, screen: str, until_step: int, press: list[str], size: tuple[int, int]) -> None:
    app = live_app(until_step)
    try:
        assert snap_compare(app, terminal_size=size, run_before=caught_up, press=press)
    finally:
        assert isinstance(app.control, FakeControl)
        app.control.close()
