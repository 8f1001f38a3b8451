"""Meaning without colour or Unicode, and a loss chart that shows the start of the run (issue #25).

Under `TERM=xterm` (16 colours) `✖ ERROR`, `✗`, `✓`, `● train` and `❄ frozen` all came out in colour 37;
`NO_COLOR=1` showed the focused panel by a slightly different grey; `TERM=linux` got braille and emoji
its font does not have. Early in a run the chart's x axis spanned the whole run.
"""

from __future__ import annotations

import re

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static
from ui_fixtures.harness import FakeControl, cell_text, fixture_events, live_events, plain, run_async, running_app

from cockpit.contract.events import Alarm, StepMetrics
from cockpit.ui.event_log import EventLog
from cockpit.ui.look import MARKS, UNICODE, use_ascii, wants_ascii
from cockpit.ui.loss_chart import LossChart, integer_ticks, x_span
from cockpit.ui.status_bar import StatusBar

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def _unicode_after() -> None:
    yield
    use_ascii(False)  # MARKS is one per process: leave it as the next test expects


def _style_of(text: Text, part: str) -> str:
    start = text.plain.index(part)
    return " ".join(str(span.style) for span in text.spans if span.start <= start < span.end)


@pytest.mark.parametrize("terminal", ["16 colours", "NO_COLOR"])
@run_async
async def test_errors_warnings_train_and_frozen_differ_by_weight_where_colours_merge(
    terminal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if terminal == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.setenv("TERM", "xterm")
        monkeypatch.delenv("COLORTERM", raising=False)
        monkeypatch.delenv("NO_COLOR", raising=False)
    events = [*live_events(), Alarm(step=60, kind="non_finite", severity="error", message="NaN", advice="lower lr")]
    async with running_app(events, FakeControl()) as (app, _pilot):
        assert app.screen.has_class("-low-colour")  # the focused panel: heavy border, reversed title
        log = app.query_one(EventLog)
        alarms = [e for e in app.run_state.log if e.kind == "alarm" and e.cleared_at is None]
        entries = {entry.severity: log._entry(entry) for entry in alarms}
        error, warning = _style_of(entries["error"], "ERROR"), _style_of(entries["warning"], "WARNING")
        assert "reverse" in error and "bold" in error and "reverse" not in warning and "bold" in warning
        layers = app.query_one("#layers", DataTable)
        frozen, trained = layers.get_cell("embeddings", "state"), layers.get_cell("head", "state")
        assert "dim" in str(frozen.style) and "italic" in str(frozen.style) and "bold" in str(trained.style)
        matrix = app.query_one("#pins-matrix", DataTable)
        wrong, right = matrix.get_cell("label0", "pin0"), matrix.get_cell("label2", "pin1")
        assert "reverse" in _style_of(wrong, "✗") and "reverse" not in _style_of(right, "✓")
        if terminal == "16 colours":  # the base colours, which 16 colours keep apart, not the pale text ones
            assert app.theme_variables["error"] in error and app.theme_variables["success"] in str(trained.style)


@run_async
async def test_ascii_mode_draws_no_braille_emoji_or_box_drawing_of_its_own() -> None:
    async with running_app(fixture_events(), FakeControl(), ascii=True) as (app, _pilot):
        assert MARKS.wrong == "x" and app.screen.has_class("-ascii")
        texts = [str(app.query_one(StatusBar).render()), plain(app.query_one("#log-body", Static))]
        texts.append(plain(app.query_one("#pins-texts", Static)))
        texts += [plain(app.query_one("#eval-body", Static)), str(app.query_one("#pins").border_subtitle)]
        for table in app.query(DataTable):
            texts += [cell_text(table, str(row.value), str(c.value)) for row in table.rows for c in table.columns]
        texts.append(ANSI.sub("", app.query_one(LossChart).plt.build()))
        texts.append(str(app.query_one("#rates").render()))
        drawn = "".join(texts)
        odd = {char for char in drawn if ord(char) > 126 and char not in "×±"}  # × and ± are in Latin-1
        assert not odd, odd
    assert wants_ascii(None, {"TERM": "linux"}) and not wants_ascii(None, {"TERM": "xterm-256color"})
    assert wants_ascii(None, {"TERM": "xterm", "COCKPIT_ASCII": "1"}) and not wants_ascii(False, {"TERM": "linux"})
    use_ascii(False)
    assert MARKS == UNICODE


@run_async
async def test_early_in_a_run_the_chart_spans_the_steps_seen_with_integer_ticks() -> None:
    """#25: the x axis always spanned 0..max-steps, so early points sat in the left tenth."""
    early = [e for e in live_events() if not isinstance(e, StepMetrics) or e.step <= 8]
    early = [e for e in early if e.step <= 8]
    async with running_app(early, FakeControl()) as (app, _pilot):
        chart = app.query_one(LossChart)
        assert app.run_state.total_steps == 60
        drawn = ANSI.sub("", chart.plt.build())
        ticks = [line for line in drawn.splitlines() if line.strip().startswith("0 ")][-1].split()
        assert all(t.isdigit() for t in ticks) and 10 <= int(ticks[-1]) <= 18  # steps 0..18, not 0..60
        assert "smoothed" not in drawn  # no legend inside the plot


def test_the_x_axis_has_headroom_and_round_integer_ticks() -> None:
    assert x_span(8, 60) == 18 and x_span(505, 5000) == 632 and x_span(4990, 5000) == 5000 and x_span(0, 0) == 10
    assert integer_ticks(632, 8) == [0, 100, 200, 300, 400, 500, 600]
    assert integer_ticks(75, 8) == [0, 10, 20, 30, 40, 50, 60, 70] and integer_ticks(18, 7) == [0, 5, 10, 15]
