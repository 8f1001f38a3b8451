"""Every key where a TUI user expects it (issue #25): the footer keeps `?` and `q`, help scrolls from
the keyboard, the palette holds the cockpit's actions, `/` filters, `:` sends any command, `p` says
what it will do, and a big learning rate is asked about twice.

Pilot tests on the fixture journal with a recording FakeControl, as test_ui.
"""

from __future__ import annotations

import dataclasses

from textual.command import CommandPalette
from textual.containers import VerticalScroll
from textual.widgets import Input, Label
from ui_fixtures.harness import FakeControl, live_events, notifications, plain, run_async, running_app

from cockpit.contract.commands import Pause, Resume, SetLearningRate, SetPosWeight
from cockpit.contract.events import Alarm, StateChanged, StepMetrics
from cockpit.ui.command_line import CommandLine
from cockpit.ui.event_log import EventLog
from cockpit.ui.filter_bar import FilterBar
from cockpit.ui.footer import CockpitFooter
from cockpit.ui.help_screen import HelpScreen
from cockpit.ui.layers_table import LayersTable
from cockpit.ui.lr_dialog import LearningRateDialog
from cockpit.ui.quit_dialog import QuitDialog
from cockpit.ui.status_bar import StatusBar

COMPACT = (80, 24)


def paused_events() -> list:
    events = live_events()
    last = max(e.step for e in events if isinstance(e, StepMetrics))
    return [*events, StateChanged(step=last, state="paused", reason="ui")]


@run_async
async def test_the_footer_keeps_help_and_quit_at_its_left_when_cut() -> None:
    """#25: at 80x24 the footer lost `? Help` and `q Quit`, the keys a new user looks for first."""
    async with running_app(live_events(), FakeControl(), size=COMPACT) as (app, pilot):
        await pilot.press("4")  # the layers view: the table's own keys come first in the focus chain
        await pilot.pause()
        keys = [getattr(widget, "key", None) for widget in app.query_one(CockpitFooter).children]
        assert keys[:2] == ["question_mark", "q"] and "space" in keys


@run_async
async def test_help_scrolls_from_the_keyboard_at_80x24() -> None:
    async with running_app(live_events(), FakeControl(), size=COMPACT) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        scroll = app.screen.query_one(VerticalScroll)
        assert app.focused is scroll and scroll.max_scroll_y > 0  # it has more than a screen, and the keys
        await pilot.press("pagedown")
        await pilot.pause(0.3)
        assert scroll.scroll_y > 0
        await pilot.press("end")
        await pilot.pause(0.3)
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("home")
        await pilot.pause(0.3)
        assert scroll.scroll_y == 0


@run_async
async def test_p_says_pause_or_resume_and_a_paused_run_looks_paused() -> None:
    """#25: paused, the footer still said "p Pause" and the status bar a speed and an ETA."""
    control = FakeControl()
    async with running_app(paused_events(), control) as (app, pilot):
        status = str(app.query_one(StatusBar).render())
        step = app.run_state.step
        assert "⏸ paused" in status and f"paused at step {step} (ui)" in status and "p resumes" in status
        assert "samples/s" not in status and "ETA" not in status
        described = {a.binding.action: a.binding.description for a in app.screen.active_bindings.values()}
        assert described.get("resume") == "Resume" and "pause" not in described
        await pilot.press("p")
        await pilot.pause()
        assert control.commands == [Resume()]
        app.events.put(StateChanged(step=step, state="running", reason="ui"))
        app.catch_up()
        await pilot.pause()
        described = {a.binding.action: a.binding.description for a in app.screen.active_bindings.values()}
        assert described.get("pause") == "Pause" and "resume" not in described
        await pilot.press("p")
        await pilot.pause()
        assert control.commands == [Resume(), Pause()]


@run_async
async def test_an_error_alarm_is_counted_as_an_error_not_as_an_alarm() -> None:
    """#25: an ERROR alarm showed as "⚠ 1 alarm" in the status bar."""
    events = [*live_events(), Alarm(step=59, kind="non_finite", severity="error", message="NaN", advice="lower lr")]
    async with running_app(events, FakeControl()) as (app, _pilot):
        status = str(app.query_one(StatusBar).render())
        assert "✖ 1 error" in status and "⚠ 1 warning" in status and "alarm" not in status


@run_async
async def test_a_learning_rate_far_above_the_start_is_asked_about_twice() -> None:
    """#25: 0.5 (10,000x the default 5e-5) went through without a question."""
    control = FakeControl()
    async with running_app(live_events(), control) as (app, pilot):
        await pilot.press("r")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, LearningRateDialog)
        dialog.query_one(Input).value = "0.5"
        await pilot.press("enter")
        await pilot.pause()
        assert control.commands == [] and isinstance(app.screen, LearningRateDialog)
        assert "10,000x the run's starting learning rate (5e-05)" in str(dialog.query_one("#lr-error", Label).content)
        await pilot.press("enter")  # asked, and meant
        await pilot.pause()
        assert control.commands == [SetLearningRate(0.5)]
        await pilot.press("r")
        await pilot.pause()
        app.screen.query_one(Input).value = "1e-4"  # 2x: no question
        await pilot.press("enter")
        await pilot.pause()
        assert control.commands[-1] == SetLearningRate(1e-4)


@run_async
async def test_colon_sends_any_command_of_the_grammar() -> None:
    """`pos_weight=auto` had no key; advice named it anyway (#25). A typo is said, not sent."""
    control = FakeControl()
    async with running_app(live_events(), control) as (app, pilot):
        await pilot.press("colon")
        await pilot.pause()
        assert isinstance(app.screen, CommandLine)
        await pilot.press(*"pos_weigth=auto", "enter")
        await pilot.pause()
        assert control.commands == [] and "unknown command" in str(app.screen.query_one("#command-error").content)
        app.screen.query_one(Input).value = "pos_weight=auto"
        await pilot.press("enter")
        await pilot.pause()
        assert control.commands == [SetPosWeight("auto")] and not isinstance(app.screen, CommandLine)
        await pilot.press("colon")
        await pilot.pause()
        app.screen.query_one(Input).value = "lr=0.9"  # the same question as the lr dialog
        await pilot.press("enter")
        await pilot.pause()
        assert control.commands == [SetPosWeight("auto")]
        await pilot.press("enter")
        await pilot.pause()
        assert control.commands[-1] == SetLearningRate(0.9)


@run_async
async def test_the_palette_holds_the_cockpits_actions_and_its_quit_asks() -> None:
    async with running_app(live_events(), FakeControl()) as (app, pilot):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in (
            "Pause the run", "Set the learning rate", "Weigh positive labels (pos_weight)",
            "Freeze layer groups by name", "Save the best thresholds with the model", "Pin or unpin training rows",
            "Save a checkpoint", "View: Loss+Pins", "Theme", "Quit",
        ):  # fmt: skip
            assert title in titles, title
        assert titles.count("Quit") == 1  # Textual's own Quit (no question) is gone
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"quit")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, QuitDialog) and app.is_running


@run_async
async def test_slash_filters_the_layers_and_the_log() -> None:
    async with running_app(live_events(), FakeControl()) as (app, pilot):
        await pilot.press("l", "slash")
        await pilot.pause()
        bar = app.query_one(FilterBar)
        assert app.focused is bar and bar.display
        await pilot.press(*"layer.1")
        await pilot.pause()
        layers = app.query_one(LayersTable)
        assert [str(key.value) for key in layers.rows] == ["layer.1"] and layers.border_subtitle == "/layer.1"
        await pilot.press("enter")  # keeps it, back to the table
        await pilot.pause()
        assert app.focused is layers and not bar.display and layers.row_count == 1
        await pilot.press("slash", "escape")  # clears it
        await pilot.pause()
        assert layers.row_count == 6 and not layers.border_subtitle
        log = app.query_one(EventLog)
        log.focus()
        await pilot.press("slash", *"finite")
        await pilot.pause()
        shown = plain(app.query_one("#log-body"))
        assert "gradient norm is inf" in shown and "freeze=embeddings" not in shown and log.border_subtitle == "/finite"


@run_async
async def test_the_eval_panel_is_small_until_an_eval_and_the_log_grows_with_alarms() -> None:
    """#25: ~22 rows of "no evaluation yet" at 160x48; a log of 7 rows at every size."""
    early = [e for e in live_events() if e.step < 30 and e.type != "alarm"]
    async with running_app(early, FakeControl()) as (app, pilot):
        evaluation, log, pins = app.query_one("#eval"), app.query_one("#log"), app.query_one("#pins")
        assert evaluation.has_class("-empty") and evaluation.outer_size.height == 3
        assert pins.outer_size.height > 35  # the pinned examples take what the eval panel does not use
        quiet = log.outer_size.height
        alarm = Alarm(step=29, kind="noisy_loss", severity="warning", message="noisy " * 60, advice="advice " * 60)
        app.events.put(alarm)
        app.events.put(dataclasses.replace(alarm, kind="loss_rising"))
        app.catch_up()
        await pilot.pause()
        assert log.has_class("-alarms") and log.outer_size.height > quiet
        for event in live_events():
            if event.type == "eval":
                app.events.put(event)
        app.catch_up()
        await pilot.pause()
        assert not evaluation.has_class("-empty") and evaluation.outer_size.height > 10


@run_async
async def test_replay_footer_and_notices_say_nothing_read_only() -> None:
    async with running_app(live_events()) as (app, pilot):
        await pilot.press("colon", "r", "p")
        await pilot.pause()
        assert app.screen is app._main_screen and not notifications(app)
