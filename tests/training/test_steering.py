"""One command applier for both loops: `cockpit train`'s engine and the Trainer bridge (`LiveRun`)
must answer the same command with the same words, refuse the same way, and freeze exactly."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from conftest import ROOT, tiny_engine
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from cockpit.bridge.live_run import LiveRun
from cockpit.contract.commands import Pause, Resume, SetLearningRate, parse_command
from cockpit.contract.events import CommandApplied, Event
from cockpit.training.instruments import GroupNorms
from cockpit.training.model import layer_groups
from cockpit.training.steering import Applied, FrozenGroups, Steering, apply_command

DEI = ROOT / "sample_data" / "dei.parquet"


def _live_run(tiny_model: Path, run_dir: Path) -> LiveRun:
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    live = LiveRun(
        run_dir,
        model,
        layer_groups(model),
        task="multiclass",
        labels=["a", "b", "c"],
        pins=[],
        encode=lambda texts: dict(tokenizer(texts, padding=True, return_tensors="pt")),
    )
    live.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return live


# (command, what both loops answer); the groups of the tiny BERT are embeddings, layer.0, layer.1, pooler, head
SAME_ANSWER = [
    ("freeze=layer.0", "froze layer.0"),
    ("freeze=embeddings,layer.0", "froze embeddings (layer.0 already frozen)"),
    ("unfreeze=layer.1", "nothing to unfreeze (layer.1 already trainable)"),
    ("unfreeze=layer.0", "unfroze layer.0"),
    ("freeze=layer.0,layer.1,pooler,head", "refused: at least one layer group must stay trainable"),
    ("freeze=layer.9", None),  # refused, naming the group (the words come from expand_groups)
    ("lr=0.0005", "ok"),
    ("pause", "ok"),
    ("resume", "ok"),
    ("stop", "ok"),
]


def test_both_loops_answer_every_command_alike(tiny_model: Path, tmp_path: Path) -> None:
    engine = tiny_engine(DEI, tmp_path / "engine", tiny_model, max_steps=2)
    live = _live_run(tiny_model, tmp_path / "live")
    try:
        for text, expected in SAME_ANSWER:
            said = [apply_command(loop, parse_command(text), "test") for loop in (engine, live)]
            assert said[0] == said[1], text
            if expected is None:
                assert said[0].startswith("refused:") and "layer.9" in said[0]
            else:
                assert said[0] == expected, text
        assert engine.frozen == live.frozen == {"embeddings"}
        assert engine.stopping and live.stopping
        # what only `cockpit train` can do is refused by the bridge, in words, never a silent "ok"
        assert apply_command(live, parse_command("pos_weight=auto"), "test").startswith("refused:")
        said = apply_command(live, parse_command("predict"), "test")
        assert said.startswith("refused: no pinned examples to predict")
    finally:
        live.close()


def test_boundary_applies_in_arrival_order_and_waits_while_paused(tiny_model: Path, tmp_path: Path) -> None:
    engine = tiny_engine(DEI, tmp_path / "run", tiny_model, max_steps=2)
    seen: list[Event] = []
    steering = Steering(engine, seen.append)
    steering.submit(Pause(), "first")
    steering.submit(SetLearningRate(2e-4), "second")
    later = threading.Timer(0.5, lambda: steering.submit(Resume(), "third", id="r1"))
    later.start()
    applied: list[Applied] = []
    steering.boundary([SetLearningRate(1e-4)], applied)  # returns only once resumed
    later.join()
    assert applied == [
        Applied("lr=0.0001", "schedule", ""),
        Applied("pause", "first", ""),
        Applied("lr=0.0002", "second", ""),
        Applied("resume", "third", "r1"),
    ]
    commands = [e for e in seen if isinstance(e, CommandApplied)]
    assert [(c.command, c.source, c.id) for c in commands] == [tuple(a) for a in applied]
    assert not engine.paused


@pytest.mark.parametrize("toggle_requires_grad", [True, False])
def test_a_frozen_group_stays_bit_identical_under_adamw(tiny_model: Path, toggle_requires_grad: bool) -> None:
    """AdamW would move a parameter whose gradient is zero (momentum, weight decay): frozen means None."""
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=2)
    groups = layer_groups(model)
    frozen = FrozenGroups(groups, GroupNorms(groups, torch.device("cpu")), toggle_requires_grad)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    batch = {"input_ids": torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]]), "labels": torch.tensor([0, 1])}

    def step() -> None:
        model(**batch).loss.backward()
        frozen.drop_grads()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # momentum for every group
    assert frozen.set(["layer.0"], frozen=True) == "froze layer.0"
    before = [p.detach().clone() for p in groups[1].params]
    step()
    step()
    assert all(torch.equal(b, p) for b, p in zip(before, groups[1].params, strict=True))
    assert all(p.requires_grad != toggle_requires_grad for p in groups[1].params)
    assert frozen.set(["layer.0"], frozen=False) == "unfroze layer.0"
    step()
    assert not all(torch.equal(b, p) for b, p in zip(before, groups[1].params, strict=True))
