"""The cockpit's actions in the command palette (ctrl+p), by the names people search for.

Issue #25 found the palette listing only Textual's defaults. Each entry here calls the very action
its key calls (so it asks what the key asks), and the ones without a key of their own (pos_weight,
freezing a named group, unpinning a row) open the `:` command line with the command started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual.app import SystemCommand

from cockpit.ui.view_bar import VIEWS


def cockpit_commands(app: Any) -> Iterator[SystemCommand]:
    """The palette entries for `app` (a CockpitApp), the run's actions only on a live run."""
    live = app.control is not None and app.run_state.ended is None
    yield SystemCommand("Help: keys and marks", "Every key, and what each column and mark means (?)", app.action_help)
    if live:
        paused = app.run_state.state == "paused"
        yield SystemCommand(
            "Resume the run" if paused else "Pause the run",
            "After the current step (p)",
            app.action_resume if paused else app.action_pause,
        )
        yield SystemCommand("Freeze or unfreeze the highlighted layer", "In the layers table (space)", _toggle(app))
        yield SystemCommand(
            "Freeze layer groups by name", "e.g. freeze=layer.0-3, or unfreeze=all (:)", _line(app, "freeze=")
        )
        yield SystemCommand("Set the learning rate", "The schedule's peak (r)", app.action_set_learning_rate)
        yield SystemCommand(
            "Weigh positive labels (pos_weight)", "Multilabel: pos_weight=auto, off or a number (:)",
            _line(app, "pos_weight=auto"),
        )  # fmt: skip
        yield SystemCommand("Predict the pinned examples now", "At the next step boundary (u)", app.action_predict_pins)
        yield SystemCommand("Save a checkpoint", "After the current step (s)", app.action_save)
        yield SystemCommand("Send a command", "Any command of --at and cockpit send (:)", app.action_command_line)
        if getattr(app.control, "detachable", False):
            yield SystemCommand("Detach", "The run goes on; cockpit attach comes back (d)", app.action_detach)
    if app.run_state.last_eval is not None and app.run_state.last_eval.thresholds and app.control is not None:
        yield SystemCommand(
            "Save the best thresholds with the model",
            "From the latest eval; asks first (t)",
            app.action_save_thresholds,
        )
    yield SystemCommand("Pin or unpin training rows", "The examples browser (e)", app.action_examples)
    yield SystemCommand("Filter a list", "The layers table or the log, as you type (/)", app.action_filter)
    yield SystemCommand(
        "The machine", "RAM, each GPU's memory, busy time and power, the step's time split (m)", app.action_machine
    )
    for number, (view, title) in enumerate(VIEWS.items(), start=1):
        yield SystemCommand(
            f"View: {title}", f"On small terminals, which panel fills the screen ({number})", _view(app, view)
        )
    yield SystemCommand("Quit", "On a live run it asks: stop the run, or only detach (q)", app.action_quit_cockpit)


def _toggle(app: Any):  # noqa: ANN202
    def toggle() -> None:
        app.action_focus_layers()
        app.query_one("#layers").action_toggle_freeze()

    return toggle


def _line(app: Any, text: str):  # noqa: ANN202
    return lambda: app.action_command_line(text)


def _view(app: Any, view: str):  # noqa: ANN202
    return lambda: app.action_show_view(view)
