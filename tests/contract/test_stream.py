"""The one ordered event stream: what the journal holds is what every observer saw, live or replayed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import plain, tiny_engine

from cockpit.contract.commands import PinRows
from cockpit.contract.events import Alarm, CommandApplied, Event, Notice, PinsChanged, StepMetrics
from cockpit.contract.stream import EventStream
from cockpit.diagnostics import Diagnostics
from cockpit.rundir.journal import JournalWriter, read_journal
from cockpit.rundir.layout import JOURNAL_NAME
from cockpit.ui.run_state import RunState

SENTIMENT = Path(__file__).resolve().parents[2] / "sample_data" / "sentiment.parquet"


def note(step: int, kind: str = "n") -> Notice:
    return Notice(step=step, kind=kind, message=kind)


def test_events_reach_the_journal_then_observers_then_producers_whose_output_queues_behind() -> None:
    calls: list[str] = []
    stream = EventStream(journal=lambda e: calls.append(f"journal {e.step}"))
    stream.observers.append(lambda e: calls.append(f"observer {e.step}"))

    def producer(event: Event) -> list[Event]:
        calls.append(f"producer {event.step}")
        if event.step == 1:
            stream.emit(note(3))  # an emit while dispatching is queued, not nested
            return [note(2)]
        return []

    stream.producers.append(producer)
    stream.emit(note(1))
    assert calls == [
        "journal 1",
        "observer 1",
        "producer 1",
        "journal 3",  # emitted before the producer returned its own events
        "observer 3",
        "producer 3",
        "journal 2",
        "observer 2",
        "producer 2",
    ]


def test_a_failing_observer_or_producer_is_detached_with_a_notice_and_the_rest_go_on() -> None:
    seen: list[Event] = []

    def broken_observer(event: Event) -> None:
        raise RuntimeError("observer bug")

    def broken_producer(event: Event) -> list[Event]:
        raise ZeroDivisionError("producer bug")

    stream = EventStream(observers=[broken_observer, seen.append], producers=[broken_producer])
    stream.emit(note(1))
    stream.emit(note(2))
    assert [(e.step, e.kind) for e in seen] == [(1, "n"), (1, "observer_failed"), (1, "observer_failed"), (2, "n")]
    assert "observer bug" in seen[1].message and "producer bug" in seen[2].message
    assert stream.observers == [seen.append] and stream.producers == []


def test_a_live_run_and_its_replayed_journal_give_equal_states_and_alarms(tiny_model: Path, tmp_path: Path) -> None:
    """Live: the engine's stream with RunState, a recorder and Diagnostics attached as launch.py does.
    Replay: the journal through a fresh RunState and a fresh Diagnostics. The head is starved (its
    gradient scaled by 1e-12) so that a rule fires mid-run; pin/freeze commands ride along."""
    out = tmp_path / "run"
    engine = tiny_engine(
        SENTIMENT,
        out,
        tiny_model,
        max_steps=36,
        eval_every=12,
        weight_decay=0.0,
        schedule=["5:freeze=layer.0", "9:unfreeze=layer.0", "20:pause", "20:resume"],
    )
    for group in engine.groups:
        if group.name == "head":
            for param in group.params:
                param.register_hook(lambda grad: grad * 1e-12)
    engine.submit(PinRows(tuple(int(r) for r in engine.prepared.train.row_ids[:2])), "send", id="c1")
    live: list[Event] = []
    live_state = RunState()
    engine.stream.observers += [live.append, live_state.apply]
    assert engine.run().reason == "finished"

    journal = read_journal(out / JOURNAL_NAME)
    assert [(e.type, e.step) for e in live] == [(e.type, e.step) for e in journal]
    steps = [e.step for e in journal if isinstance(e, StepMetrics)]
    assert steps == list(range(1, 37))
    assert any(isinstance(e, PinsChanged) for e in journal)
    commands = [e for e in journal if isinstance(e, CommandApplied)]
    assert [(c.command.split("=")[0], c.id) for c in commands[:2]] == [("pin", "c1"), ("freeze", "")]
    assert not any(c.result.startswith("refused") for c in commands), commands
    journal_alarms = [e for e in journal if isinstance(e, Alarm)]
    assert "layer_not_learning" in [a.kind for a in journal_alarms if a.active]
    # no event of a step comes before that step's metrics
    last_metrics = 0
    for event in journal:
        if isinstance(event, StepMetrics):
            last_metrics = event.step
        assert event.step <= last_metrics, event

    replay_state, diagnostics = RunState(), Diagnostics()
    replayed: list[Event] = []
    for event in journal:
        replay_state.apply(event)
        if isinstance(event, Alarm) or (isinstance(event, Notice) and event.kind == "diagnostics_error"):
            continue  # the diagnostics' own output: produced again below
        replayed.append(event)
        replayed += diagnostics(event)
    again = JournalWriter(tmp_path / "replayed.jsonl")  # through JSON, as the journal's events went
    for event in replayed:
        again(event)
    again.close()

    def without_time(events: list[Event]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.to_dict().items() if k != "time"} for e in events]

    assert without_time(read_journal(tmp_path / "replayed.jsonl")) == without_time(journal)
    assert plain(replay_state) == plain(live_state)
