"""Replay: the journal reader feeds the cockpit exactly what a live run fed it.

The snapshot tests replay tests/ui_fixtures/journal.jsonl (made by make_journal.py there) at
80x24, 100x30, 120x40, 160x48 and 200x60; update them with `pytest tests/test_replay_ui.py --snapshot-update` after a
deliberate change of layout, and look at the new SVGs before committing them.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path

import pytest
from conftest import plain as plain_state
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from ui_fixtures.harness import FIXTURE, FakeControl, cell_text, plain, run_async, running_app

from cockpit.contract.events import Event
from cockpit.rundir.fold import FoldSnapshot
from cockpit.rundir.journal import JournalWriter, read_journal
from cockpit.rundir.summary import summary_path
from cockpit.ui.app import CockpitApp
from cockpit.ui.replay import start_journal_reader
from cockpit.ui.run_state import RunState


def replay_app() -> CockpitApp:
    """The app as `cockpit replay RUN_DIR` builds it, with the reader already done."""
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    start_journal_reader(FIXTURE, events, follow=False).join(timeout=10)
    return CockpitApp(events, control=None, run_label="tests/ui_fixtures")


async def caught_up(pilot: Pilot) -> None:
    pilot.app.catch_up()
    await pilot.pause()


# the terminal sizes people have: a laptop's default, a split tmux pane, a wide monitor
SIZES = [(80, 24), (100, 30), (120, 40), (160, 48), (200, 60)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_replay_snapshot(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(replay_app(), terminal_size=size, run_before=caught_up)


def test_replay_snapshot_compact_pinned(snap_compare) -> None:
    assert snap_compare(replay_app(), terminal_size=(80, 24), run_before=caught_up, press=["3"])


def test_replay_snapshot_without_colour(snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR: chart series apart by marker, wrong predictions bold with a reversed ✗."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(replay_app(), terminal_size=(100, 30), run_before=caught_up)


def test_help_snapshot(snap_compare) -> None:
    assert snap_compare(replay_app(), terminal_size=(100, 30), run_before=caught_up, press=["question_mark"])


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@run_async
async def test_every_column_of_every_panel_fits(size: tuple[int, int]) -> None:
    """No panel cuts a column: tables fit their width (or scroll with the label column fixed),
    the eval table does not wrap, and label names get the width there is."""
    app = replay_app()
    async with app.run_test(size=size) as pilot:
        await caught_up(pilot)
        views = ["layers", "eval", "pins"] if app.compact else [None]
        for view in views:
            if view is not None:
                app.action_show_view(view)
                await pilot.pause()
            layers = app.query_one("#layers", DataTable)
            if layers.display:
                assert layers.virtual_size.width <= layers.scrollable_content_region.width, size
            body = app.query_one("#eval-body", Static)
            if body.display and body.content_region.width:
                width = body.content_region.width
                assert all(len(line) <= width for line in plain(body).splitlines()), size
            matrix = app.query_one("#pins-matrix", DataTable)
            if matrix.display:
                fits = matrix.virtual_size.width <= matrix.scrollable_content_region.width
                assert fits or matrix.fixed_columns == 1, size
                labels = [cell_text(matrix, f"label{k}", "label") for k in range(15)]
                if matrix.scrollable_content_region.width >= 100:  # room to spare: names are whole
                    assert "sexual_orientation" in labels, size


def _drain(events: queue.SimpleQueue[Event | FoldSnapshot]) -> list[Event | FoldSnapshot]:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


def folded(items: list[Event | FoldSnapshot]) -> dict:
    """What a screen shows of these events (or folds), as comparable data."""
    state = RunState()
    for item in items:
        state.apply(item)
    return plain_state(state)


def test_reader_gives_the_fold_of_the_whole_journal(tmp_path: Path) -> None:
    """Without a summary the reader folds the journal itself and hands over the fold; with the one the
    trainer's writer keeps, it hands over that and reads nothing before its offset."""
    events: queue.SimpleQueue[Event | FoldSnapshot] = queue.SimpleQueue()
    thread = start_journal_reader(FIXTURE, events, follow=False)
    thread.join(timeout=10)
    assert thread.daemon and not thread.is_alive()
    [fold] = _drain(events)
    assert isinstance(fold, FoldSnapshot) and fold.offset == FIXTURE.stat().st_size
    assert folded([fold]) == folded(read_journal(FIXTURE))
    assert not summary_path(FIXTURE).exists()  # a quick read is not worth a file in someone's folder

    journal = tmp_path / "journal.jsonl"
    writer = JournalWriter(journal)
    for event in read_journal(FIXTURE):
        writer(event)
    writer.close()
    start_journal_reader(journal, events, follow=False).join(timeout=10)
    [fold] = _drain(events)
    assert fold.offset == journal.stat().st_size and folded([fold]) == folded(read_journal(FIXTURE))


def test_follow_reads_lines_as_they_are_appended(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    lines = FIXTURE.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:10]))
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    stop = threading.Event()
    thread = start_journal_reader(journal, events, follow=True, stop=stop)
    try:
        got: list[Event | FoldSnapshot] = [events.get(timeout=10)]  # the fold of what is there ...
        deadline = time.monotonic() + 10
        with open(journal, "a") as handle:  # ... then the rest, appended as a live run would
            handle.write("".join(lines[10:]))
            handle.write(json.dumps({"type": "step", "step": 61})[:12])  # a torn line is held back
        while not any(getattr(e, "type", "") == "end" for e in got) and time.monotonic() < deadline:
            got += _drain(events)
            time.sleep(0.05)
        assert isinstance(got[0], FoldSnapshot) and got[0].offset == len("".join(lines[:10]))  # the first 10 lines
        assert got[1:] == read_journal(FIXTURE)[10:]  # then every event as it was appended
        assert folded(got) == folded(read_journal(FIXTURE))
    finally:
        stop.set()
        thread.join(timeout=5)


def test_missing_journal_shows_why(tmp_path: Path) -> None:
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    start_journal_reader(tmp_path / "nope.jsonl", events, follow=False).join(timeout=5)
    (notice,) = _drain(events)
    assert notice.kind == "journal_unreadable" and "nope.jsonl" in notice.message


@run_async
async def test_replay_renders_the_same_panels_as_the_live_run() -> None:
    def panels(app: CockpitApp) -> dict[str, object]:
        layers = app.query_one("#layers", DataTable)
        matrix = app.query_one("#pins-matrix", DataTable)
        return {
            "layers": [
                [cell_text(layers, str(r.value), c) for c in ("layer", "state", "grad", "update")] for r in layers.rows
            ],
            "pins": [[cell_text(matrix, str(r.value), str(c.value)) for c in matrix.columns] for r in matrix.rows],
            "pin texts": plain(app.query_one("#pins-texts", Static)),
            "eval": plain(app.query_one("#eval-body", Static)),
            "log": plain(app.query_one("#log-body", Static)),
        }

    replay = replay_app()
    async with replay.run_test(size=(160, 48)) as pilot:
        await caught_up(pilot)
        replayed = panels(replay)
    async with running_app(read_journal(FIXTURE), FakeControl()) as (live, _pilot):
        assert panels(live) == replayed


def test_fixture_generator_reproduces_the_committed_journal(tmp_path: Path) -> None:
    """The snapshots depend on the fixture; make_journal.py must still write exactly it."""
    from ui_fixtures import make_journal

    produced = tmp_path / "journal.jsonl"
    original = make_journal.JOURNAL
    make_journal.JOURNAL = produced
    try:
        make_journal.main()
    finally:
        make_journal.JOURNAL = original
    assert produced.read_text() == FIXTURE.read_text()
