"""The typed contract: fixed vocabularies, the head fit, commands checked when parsed, journal round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cockpit.contract.commands import CommandSyntaxError, Freeze, Stop, parse_command
from cockpit.contract.enums import EndReason, RunStatus, Severity, Task
from cockpit.contract.events import (
    Alarm,
    CommandApplied,
    HeadFit,
    LoadingStage,
    PinnedExample,
    PinsChanged,
    RunEnded,
    RunStarted,
    StateChanged,
    event_from_dict,
)

HEAD = HeadFit(outputs=2, labels=2, problem_type="single_label_classification", reinitialised=True, reason="none")


def run_started(**changes: object) -> RunStarted:
    fields = dict(
        step=0,
        model="m",
        task="binary",
        labels=["a", "b"],
        layers=["embeddings", "layer.0", "head"],
        layer_params={"embeddings": 1, "layer.0": 1, "head": 1},
        pins=[PinnedExample(3, "text", [1.0, 0.0])],
        device="cpu",
        config={},
        total_steps=10,
        steps_per_epoch=10,
        run_dir="",
        train_rows=1,
        eval_rows=0,
        constant_loss=0.69,
        frozen=[],
        head=HEAD,
    )
    return RunStarted(**{**fields, **changes})  # type: ignore[arg-type]


def through_journal(event: object) -> object:
    return event_from_dict(json.loads(json.dumps(event.to_dict())))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "event",
    [
        run_started(),
        run_started(layer_trainable={"embeddings": 0, "layer.0": 512}),  # a LoRA run (#22)
        PinsChanged(step=4, pins=[PinnedExample(1, "a", [0.0, 1.0])]),
        LoadingStage(stage="model", detail="tiny-bert"),
        CommandApplied(step=2, command="freeze=layer.0", source="attach pid 12", result="ok", id="a1b2"),
        CommandApplied(step=2, command="full=layer.1", source="send", result="full fine-tuning of layer.1"),
        StateChanged(step=3, state="paused", reason="ui"),
        RunEnded(step=9, reason="interrupted"),
        Alarm(step=5, kind="k", severity="error", message="m", advice="a"),
    ],
    ids=lambda e: e.type,
)
def test_every_event_comes_back_from_the_journal_as_it_went_in(event: object) -> None:
    assert through_journal(event) == event


def test_fixed_vocabularies_are_enums_that_read_and_write_as_plain_strings() -> None:
    ended = RunEnded(step=1, reason="stopped")
    assert ended.reason is EndReason.STOPPED and ended.reason == "stopped"
    assert json.loads(json.dumps(ended.to_dict()))["reason"] == "stopped"
    assert StateChanged(step=1, state="running").state is RunStatus.RUNNING
    assert run_started().task is Task.BINARY
    assert Alarm(step=1, kind="k", severity="warning", message="", advice="").severity is Severity.WARNING
    with pytest.raises(ValueError):
        RunEnded(step=1, reason="finshed")
    with pytest.raises(ValueError):
        StateChanged(step=1, state="sleeping")


def test_the_head_fit_is_a_dataclass_that_names_its_layer_group() -> None:
    """model.py puts the head in group `head`; diagnostics read that instead of guessing by name."""
    from cockpit.diagnostics.base import head_group

    assert run_started().head.group == "head"
    assert head_group(["embeddings", "classifier", "head"], HEAD) == "head"
    # a journal written before HeadFit: a dict with no `group`, and a key this version does not know
    old = run_started().to_dict()
    old["head"] = {k: v for k, v in dataclasses.asdict(HEAD).items() if k != "group"} | {"future": 1}
    assert event_from_dict(old).head == HEAD  # type: ignore[union-attr]


def test_a_run_event_from_before_lora_reads_with_every_parameter_trainable() -> None:
    old = run_started().to_dict()
    del old["layer_trainable"]
    assert event_from_dict(old).layer_trainable == {}  # type: ignore[union-attr]


def test_pin_changes_from_an_older_journal_read_as_pins_changed() -> None:
    old = {"type": "notice", "step": 7, "time": 1.0, "kind": "pins_changed", "message": "1 pinned examples"}
    old["evidence"] = {"pins": [{"index": 1, "text": "a", "targets": [1.0]}]}
    assert event_from_dict(old) == PinsChanged(step=7, time=1.0, pins=[PinnedExample(1, "a", [1.0])])


def test_stop_takes_only_the_internal_interrupted_reason() -> None:
    assert parse_command("stop") == Stop()
    assert parse_command("stop=interrupted") == Stop(EndReason.INTERRUPTED)
    for text in ("stop=finished", "stop=error", "stop=now", "stop=1"):
        with pytest.raises(CommandSyntaxError):
            parse_command(text)
    with pytest.raises(CommandSyntaxError):
        Stop("error")  # type: ignore[arg-type]


def test_an_applied_command_stays_an_object_and_a_journaled_one_is_parsed_once() -> None:
    freeze = Freeze(("layer.0",))
    live = CommandApplied(step=1, command=freeze.text, source="ui", parsed=freeze)
    assert live.parsed is freeze and "parsed" not in live.to_dict()
    assert through_journal(live).parsed == freeze  # type: ignore[attr-defined]
    refused = CommandApplied(step=1, command="explode=now", source="send", result="refused: unknown command")
    assert refused.parsed is None and through_journal(refused) == refused
