"""The examples browser searches a real data file of every format, in the real app, through Pilot.

Issue #25: typing `p` in the browser crashed the cockpit (`ArrowInvalid: Zero copy conversions not
possible with boolean types`) on files whose texts load as one Arrow array rather than chunks; no test
searched a real file. Each format is searched at a size the key handler searches and at one above
SEARCH_IN_HANDLER_ROWS, which the worker searches, both as `cockpit train --foreground` gives the rows
(`TrainingExamples` over the training split) and as `cockpit attach` does (`RunExamples` over the run
directory, which also lists the eval rows, marked and not pinnable).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from textual.widgets import DataTable, Input, Static
from ui_fixtures.harness import FakeControl, cell_text, live_events, plain, run_async, running_app

from cockpit.cli.attach import RunExamples
from cockpit.contract.config import RunConfig
from cockpit.data.examples import TrainingExamples
from cockpit.data.loading import load_labeled_texts
from cockpit.data.splits import split_for_eval
from cockpit.rundir.layout import CONFIG_NAME, EVAL_ROWS_NAME
from cockpit.ui.examples_screen import SEARCH_IN_HANDLER_ROWS, ExamplesScreen

WORDS = ("pledge", "hiring", "ramps", "mentor")
FORMATS = ("parquet", "csv", "jsonl", "json", "arrow", "feather")
# the training split (90% of the rows) of the larger file is above the threshold
SIZES = {"handler": 300, "worker": int(SEARCH_IN_HANDLER_ROWS / 0.9) + 600}


def _rows(count: int) -> tuple[list[str], list[int]]:
    texts = [f"row {i} about {WORDS[i % len(WORDS)]} and Policy {i % 7}" for i in range(count)]
    return texts, [i % 2 for i in range(count)]


def write_data(path: Path, count: int) -> Path:
    """The same rows written in the format the suffix names, as a user's tool would write it."""
    texts, labels = _rows(count)
    table = pa.table({"text": texts, "label": labels})
    kind = path.suffix[1:]
    if kind == "parquet":
        pq.write_table(table, path)
    elif kind == "csv":
        pcsv.write_csv(table, path)
    elif kind == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)))
    elif kind == "json":
        path.write_text(json.dumps([{"text": t, "label": y} for t, y in zip(texts, labels)]))
    else:
        feather.write_feather(table, path, compression="uncompressed")
    return path


def expected_matches(query: str, count: int, rows: set[int] | None = None) -> int:
    texts, _ = _rows(count)
    words = query.lower().split()
    return sum(1 for i, t in enumerate(texts) if (rows is None or i in rows) and all(w in t.lower() for w in words))


async def _search(pilot, query: str) -> ExamplesScreen:  # noqa: ANN001
    app = pilot.app
    await pilot.press("e")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ExamplesScreen), app.return_code
    await pilot.press(*query)
    for _ in range(400):  # the worker search waits for typing to pause, then runs in a thread
        await pilot.pause(0.02)
        if not screen.searching:
            break
    await pilot.pause()
    return screen


def _count_shown(screen: ExamplesScreen) -> int:
    info = plain(screen.query_one("#examples-info", Static))
    return int(info.split(" of ", 1)[0].split()[-1])


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("kind", FORMATS)
@run_async
async def test_search_in_the_browser_over_the_training_split(tmp_path: Path, kind: str, size: str) -> None:
    count = SIZES[size]
    data = load_labeled_texts(write_data(tmp_path / f"data.{kind}", count))
    train, _ = split_for_eval(data, 0.1, seed=0)
    rows = set(train.row_ids)
    async with running_app(live_events(), FakeControl(), examples=TrainingExamples(train)) as (app, pilot):
        screen = await _search(pilot, "p")  # the keystroke that crashed the cockpit
        assert app.is_running and app.return_code is None
        assert _count_shown(screen) == expected_matches("p", count, rows)
        screen.query_one(Input).value = ""
        await pilot.press(*"pledge policy 3")
        for _ in range(400):
            await pilot.pause(0.02)
            if not screen.searching:
                break
        await pilot.pause()
        assert _count_shown(screen) == expected_matches("pledge policy 3", count, rows) > 0
        table = screen.query_one(DataTable)
        assert all("pledge" in cell_text(table, str(key.value), "text") for key in table.rows)


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("kind", FORMATS)
@run_async
async def test_search_in_an_attached_cockpit_marks_eval_rows_and_refuses_to_pin_them(
    tmp_path: Path, kind: str, size: str
) -> None:
    """`cockpit attach` reads the run's data file itself: every row, the eval split's marked as such."""
    count = SIZES[size]
    path = write_data(tmp_path / f"data.{kind}", count)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunConfig(data=str(path)).save(run_dir / CONFIG_NAME)
    data = load_labeled_texts(path)
    _, evaluation = split_for_eval(data, 0.1, seed=0)
    assert evaluation is not None
    eval_rows = sorted(evaluation.row_ids)
    (run_dir / EVAL_ROWS_NAME).write_text(json.dumps({"eval_rows": eval_rows, "dropped_rows": []}))
    control = FakeControl()
    async with running_app(live_events(), control, examples=RunExamples(run_dir)) as (app, pilot):
        screen = await _search(pilot, "p")
        assert app.is_running and app.return_code is None
        assert _count_shown(screen) == expected_matches("p", count)
        screen.query_one(Input).value = ""
        await pilot.press(*f"row {eval_rows[0]} ")
        for _ in range(400):
            await pilot.pause(0.02)
            if not screen.searching:
                break
        await pilot.pause()
        table = screen.query_one(DataTable)
        key = str(eval_rows[0])
        assert cell_text(table, key, "split") == "eval"
        table.move_cursor(row=table.get_row_index(key))
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert control.commands == []  # nothing sent: an eval row cannot be pinned
        assert "is an eval row: it cannot be pinned" in plain(screen.query_one("#examples-info", Static))
