"""`--pos-weight` / `pos_weight=`: multilabel BCE with positive labels weighed up (seed 000's rare labels)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import run_engine, tiny_engine, write_colors

from cockpit.contract.commands import CommandSyntaxError, SetPosWeight, parse_command
from cockpit.contract.config import RunConfig
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import CommandApplied
from cockpit.rundir.journal import read_journal
from cockpit.training.instruments import POS_WEIGHT_CAP, positive_weights, training_loss

SENTIMENT = Path(__file__).resolve().parents[2] / "sample_data" / "sentiment.parquet"


def test_the_command_and_the_flag_take_auto_off_or_a_positive_number() -> None:
    assert parse_command("pos_weight=auto") == SetPosWeight("auto")
    assert parse_command("pos_weight=2.50") == SetPosWeight("2.5")
    assert parse_command("pos_weight=2.5").text == "pos_weight=2.5"
    for bad in ("pos_weight=", "pos_weight=-1", "pos_weight=inf", "pos_weight=yes"):
        with pytest.raises(CommandSyntaxError, match="auto, off or a positive number"):
            parse_command(bad)
    with pytest.raises(CockpitError, match="--pos-weight"):
        RunConfig(data="x", pos_weight="often").validate()


def test_auto_weighs_each_label_by_its_negatives_over_positives() -> None:
    targets = torch.zeros(1000, 4)
    targets[:500, 0] = 1  # balanced: 1
    targets[:100, 1] = 1  # 1 in 10: 9
    targets[:1, 2] = 1  # 1 in 1000: 999, capped
    weights = positive_weights(targets, "auto")  # label 3 has no positive row: 1
    assert weights.tolist() == pytest.approx([1.0, 9.0, POS_WEIGHT_CAP, 1.0])
    assert positive_weights(targets, "off") is None
    assert positive_weights(targets, "3").tolist() == [3.0] * 4
    logits, target = torch.zeros(2, 4), targets[:2]
    weighted = training_loss(logits, target, "multilabel", weights)
    assert weighted == pytest.approx(F.binary_cross_entropy_with_logits(logits, target, pos_weight=weights).item())
    assert weighted > training_loss(logits, target, "multilabel")  # the first rows are positives


def test_a_run_trains_with_the_weights_and_the_command_changes_them(tiny_model: Path, tmp_path: Path) -> None:
    data = write_colors(tmp_path / "colors.parquet")
    engine, ended = run_engine(
        data, tmp_path / "run", tiny_model, max_steps=3, pos_weight="auto", schedule=["2:pos_weight=off"]
    )
    assert ended.reason == "finished" and engine.pos_weight is None  # the command at step 2 turned it off
    events = read_journal(tmp_path / "run" / "journal.jsonl")
    assert events[0].config["pos_weight"] == "auto"
    [applied] = [e for e in events if isinstance(e, CommandApplied)]
    assert (applied.command, applied.result) == ("pos_weight=off", "ok")
    weighted = tiny_engine(data, tmp_path / "again", tiny_model, pos_weight="auto").pos_weight
    assert weighted is not None and torch.allclose(weighted, positive_weights(engine.prepared.train.targets, "auto"))


def test_single_label_data_has_no_positives_to_weigh(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(CockpitError, match="only for multilabel"):
        tiny_engine(SENTIMENT, tmp_path / "run", tiny_model, pos_weight="auto")
