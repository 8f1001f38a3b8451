"""The run summary: a client that starts from it sees exactly what a fold of the whole journal shows.

The journal is made of a real run's events (the tiny model's training loop: steps, pinned
predictions, evals, commands, a pause, alarms, checkpoints) repeated to 3,000 steps with their steps
and times shifted, written through the trainer's own `JournalWriter`, with what happens to real
runs: a crash mid-line, a resume that takes steps again, summaries left behind at earlier steps.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
from conftest import plain, tiny_engine

from cockpit.contract.events import DeviceStats, Event, Notice, RunStarted, StepTimes
from cockpit.diagnostics import Diagnostics
from cockpit.rundir.fold import OUT_OF_MEMORY
from cockpit.rundir.journal import JournalReader, JournalWriter, RunReader, read_journal
from cockpit.rundir.journal_lines import SKIPPED_KIND
from cockpit.rundir.layout import JOURNAL_NAME
from cockpit.rundir.summary import read_header, summary_path
from cockpit.training.system import MachineSampler
from cockpit.ui.run_state import RunState

SENTIMENT = Path(__file__).resolve().parents[2] / "sample_data" / "sentiment.parquet"
SOURCE_STEPS = 30
LAST_STEP = 2980
STEP_S = 0.5  # seconds between two shifted steps


@pytest.fixture(scope="module")
def real_events(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """A real run of the tiny model with an alarm (the head's gradients scaled by 1e-12), commands and a pause."""
    out = tmp_path_factory.mktemp("source") / "run"
    schedule = ["5:freeze=layer.0", "9:unfreeze=layer.0", "12:pause", "12:resume", "20:save"]
    engine = tiny_engine(SENTIMENT, out, tiny_model, max_steps=SOURCE_STEPS, eval_every=10, schedule=schedule)
    for group in engine.groups:
        if group.name == "head":
            for param in group.params:
                param.register_hook(lambda grad: grad * 1e-12)
    engine.stream.producers.append(Diagnostics())
    assert engine.run().reason == "finished"
    events = read_journal(out / JOURNAL_NAME)
    kinds = {e.type for e in events}
    assert {"run", "step", "pins", "eval", "command", "state", "alarm", "checkpoint", "end"} <= kinds, kinds
    return events


def shifted(events: list[Event], offset: int) -> list[Event]:
    """The run's steps 1..30 (and what came with them) as steps offset+1..offset+30, later in time."""
    return [
        dataclasses.replace(e, step=e.step + offset, time=e.time + offset * STEP_S)
        for e in events
        if e.step >= 1 and e.type not in ("run", "end", "loading")
    ]


def fold(items: list) -> dict:
    state = RunState()
    for item in items:
        state.apply(item)
    return plain(state)


def whole_journal(journal: Path) -> dict:
    """The reference: every line from the first, through the one reader, folded."""
    reader = JournalReader(journal)
    events = list(reader.read()) + reader.finish()
    reader.close()
    return fold(events)


def from_summary(journal: Path) -> tuple[dict, bool]:
    """What `cockpit replay` / `attach` show: the summary's fold (if it still fits), then the rest."""
    run = RunReader(journal)
    items = list(run.catch_up()) + run.finish()
    run.close()
    return fold(items), run.from_summary


@pytest.fixture(scope="module")
def long_run(real_events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """2,980 steps: crashed mid-line at step 45, resumed from 40; summaries kept at steps 30 and 1,510."""
    folder = tmp_path_factory.mktemp("long")
    journal = folder / JOURNAL_NAME
    start = next(e for e in real_events if isinstance(e, RunStarted))
    writer = JournalWriter(journal)
    for event in [e for e in real_events if e.step == 0 and e.type != "end"]:
        writer(event)
    for event in shifted(real_events, 0):
        writer(event)
    writer.keeper.write()
    stale = {"step 30": folder / "summary-30"}
    shutil.copy(summary_path(journal), stale["step 30"])
    for event in shifted(real_events, SOURCE_STEPS):
        if event.step <= 45:
            writer(event)
    # killed mid-line at step 45 (no close, no end), then `cockpit train --resume` from step 40's checkpoint
    with open(journal, "a") as handle:
        handle.write('{"type":"step","step":46,"time":17')
    writer = JournalWriter(journal)
    writer(dataclasses.replace(start, step=40, resumed_from=40, time=start.time + 60 * STEP_S))
    offset = 40
    while offset < LAST_STEP:
        for event in shifted(real_events, offset):
            writer(event)
        offset += SOURCE_STEPS
        if offset == 1510:
            writer.keeper.write()
            stale["step 1,500"] = folder / "summary-1500"
            shutil.copy(summary_path(journal), stale["step 1,500"])
    end = next(e for e in real_events if e.type == "end")
    writer(dataclasses.replace(end, step=LAST_STEP, time=end.time + LAST_STEP * STEP_S))
    writer.close()
    return {"journal": journal, **stale}


def test_the_journal_is_a_long_real_one(long_run: dict[str, Path]) -> None:
    events = read_journal(long_run["journal"])
    steps = [e.step for e in events if e.type == "step"]
    assert steps == list(range(1, LAST_STEP + 1))  # each step once: the crashed 41..45 replaced by the resumed run's
    assert [e.kind for e in events if e.type == "notice" and e.kind == SKIPPED_KIND] == [SKIPPED_KIND]  # the torn line
    assert {e.type for e in events} >= {"run", "step", "pins", "eval", "command", "state", "alarm", "checkpoint", "end"}


def test_a_summary_left_behind_at_any_step_gives_the_whole_journals_state(long_run: dict[str, Path]) -> None:
    journal = long_run["journal"]
    reference = whole_journal(journal)
    assert reference == fold(read_journal(journal))  # the one reader and `read_journal`'s replay agree
    current = summary_path(journal).read_bytes()
    state, used = from_summary(journal)  # the trainer's last summary: nothing after its offset
    assert used and read_header(journal)["offset"] == journal.stat().st_size and state == reference
    for name in ("step 30", "step 1,500"):  # stale: before the crash and the resume, and after them
        shutil.copy(long_run[name], summary_path(journal))
        state, used = from_summary(journal)
        assert used and state == reference, name
    summary_path(journal).write_bytes(current)


@pytest.mark.parametrize("damage", ["removed", "truncated mid-line", "empty", "another version"])
def test_a_summary_that_cannot_be_used_falls_back_to_the_journal(long_run: dict[str, Path], damage: str) -> None:
    journal = long_run["journal"]
    path = summary_path(journal)
    current = path.read_bytes()
    try:
        if damage == "removed":
            path.unlink()
        elif damage == "truncated mid-line":  # (never by the writer, which renames a whole file into place)
            path.write_bytes(current[: current.index(b"\n") + (len(current) - current.index(b"\n")) // 2])
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            path.write_bytes(current.replace(b'"version":1', b'"version":99', 1))
        state, used = from_summary(journal)
        assert not used and state == whole_journal(journal)
    finally:
        path.write_bytes(current)


@pytest.mark.parametrize("where", ["after the summary", "before the summary"])
def test_a_journal_cut_mid_line_reads_as_far_as_it_goes(long_run: dict[str, Path], tmp_path: Path, where: str) -> None:
    """A crash mid-write leaves a torn last line after the summary's offset: the summary still fits.
    A journal cut before the summary's offset (copied short, a disk restored) no longer matches it."""
    journal = tmp_path / JOURNAL_NAME
    data = long_run["journal"].read_bytes()
    shutil.copy(long_run["step 1,500"], summary_path(journal))
    shutil.copy(long_run["journal"], journal)
    offset = read_header(journal)["offset"]
    cut = (offset + len(data)) // 2 if where == "after the summary" else offset // 2
    cut = data.index(b"\n", cut) - 7  # mid-line
    journal.write_bytes(data[:cut])
    state, used = from_summary(journal)
    assert used == (where == "after the summary")
    assert state == whole_journal(journal) == fold(read_journal(journal))


def test_the_trainers_fold_is_the_journals(long_run: dict[str, Path], real_events: list[Event], tmp_path: Path) -> None:
    """The writer's own fold (what it writes) after a reopen on a long journal: loaded from the summary
    and the bytes after it, then fed as it writes."""
    journal = tmp_path / JOURNAL_NAME
    shutil.copy(long_run["journal"], journal)
    shutil.copy(long_run["step 1,500"], summary_path(journal))
    writer = JournalWriter(journal)
    start = next(e for e in real_events if isinstance(e, RunStarted))
    writer(dataclasses.replace(start, step=LAST_STEP, resumed_from=LAST_STEP, time=start.time + 4000 * STEP_S))
    for event in shifted(real_events, LAST_STEP)[:40]:
        writer(event)
    assert plain(writer.keeper.fold) == whole_journal(journal)
    writer.close()
    assert from_summary(journal) == (whole_journal(journal), True)


def test_a_replay_that_rebuilt_the_fold_shows_it_as_it_goes_and_keeps_it(
    long_run: dict[str, Path], tmp_path: Path
) -> None:
    """A run from before summaries: the fold is handed over as the journal is read, then written for the next client."""
    journal = tmp_path / JOURNAL_NAME
    shutil.copy(long_run["journal"], journal)
    run = RunReader(journal, keep_rebuilt=True, show_every_s=0.05)
    items = list(run.catch_up()) + run.finish()
    run.close()
    folds = [item for item in items if not isinstance(item, Event)]
    assert not run.from_summary and len(folds) > 1 and folds[0].offset < folds[-1].offset == journal.stat().st_size
    assert fold(items) == fold(folds[-1:]) == whole_journal(journal)  # the last one alone is the whole run
    assert from_summary(journal) == (whole_journal(journal), True)  # the next replay starts from what it wrote


def on_a_gpu_box(events: list[Event], sampler: MachineSampler) -> list[Event]:
    """The events with what a CUDA run adds: a `SystemSample` every 10 steps (this process's own memory
    and CPU, as `MachineSampler` reads them, with two devices' memory as torch's allocator reports it)
    and, every 50 steps, the engine's notice that an out-of-memory halved the micro-batch."""
    out: list[Event] = []
    for event in events:
        out.append(event)
        if event.type != "step":
            continue
        if event.step % 10 == 0:
            sample = sampler.sample(event.step, StepTimes(10, 4.0, 0.1, 3.0, 0.5, 0.2, 0.2))
            devices = [
                DeviceStats(index, "NVIDIA H100", 900.0 * index + event.step, 2000.0 + event.step, 81559.0)
                for index in (0, 1)
            ]
            out.append(dataclasses.replace(sample, time=event.time, devices=devices))
        if event.step % 50 == 27:
            said = "CUDA out of memory at micro-batch 16: retrying with 8 and 2 accumulation steps"
            out.append(Notice(step=event.step, time=event.time, kind=OUT_OF_MEMORY, message=said))
    return out


def test_a_summary_kept_mid_run_holds_the_machine_and_its_oom_retries(real_events: list[Event], tmp_path: Path) -> None:
    """Machine samples (memory, two CUDA devices) and OOM retries are in the summary's fold: summaries kept
    mid-run, before and after a crash and a resume that takes steps again, give the whole journal's state."""
    journal = tmp_path / JOURNAL_NAME
    sampler = MachineSampler(torch.device("cpu"))
    start = next(e for e in real_events if isinstance(e, RunStarted))
    writer = JournalWriter(journal)
    for event in [e for e in real_events if e.step == 0 and e.type != "end"]:
        writer(event)
    kept: list[bytes] = []
    for offset in range(0, 150, SOURCE_STEPS):  # steps 1..150; killed after 150 (no end), resumed from 120
        for event in on_a_gpu_box(shifted(real_events, offset), sampler):
            writer(event)
        if offset == 60:
            writer.keeper.write()
            kept.append(summary_path(journal).read_bytes())
    writer.keeper.write()
    kept.append(summary_path(journal).read_bytes())  # the crashed process's last summary: steps 121..150 retaken
    writer = JournalWriter(journal)
    writer(dataclasses.replace(start, step=120, resumed_from=120, time=start.time + 200 * STEP_S))
    for offset in range(120, 240, SOURCE_STEPS):
        for event in on_a_gpu_box(shifted(real_events, offset), sampler):
            writer(event)
        if offset == 180:
            writer.keeper.write()
            kept.append(summary_path(journal).read_bytes())
    writer.close()
    kept.append(summary_path(journal).read_bytes())

    reference = whole_journal(journal)
    assert reference == fold(read_journal(journal))
    whole = RunState()
    for event in read_journal(journal):
        whole.apply(event)
    assert whole.system is not None and whole.system.step == 240 and len(whole.system.devices) == 2
    assert whole.rss_history.xs == [float(step) for step in range(10, 241, 10)]  # 130..150 once, the resumed run's
    assert sorted(whole.device_history) == [0, 1] and whole.device_history[1].last_y == 2240.0
    # a notice is not retaken: the crashed process's OOM at step 127 stays, as it happened (`drop_repeated_steps`)
    assert [notice.step for notice in whole.oom_retries] == [27, 77, 127, 127, 177, 227]
    for written in kept:
        summary_path(journal).write_bytes(written)
        assert from_summary(journal) == (reference, True)
