"""The layers table of a LoRA run (#22): trainable/total parameters per group, from the run's own journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLES, run_engine
from ui_fixtures.harness import cell_text, run_async, running_app

from cockpit.contract.events import CommandApplied
from cockpit.rundir.journal import read_journal
from cockpit.ui.layers_table import LayersTable

pytest.importorskip("peft")


def test_a_lora_run_shows_what_each_group_trains_of_its_total(tiny_model: Path, tmp_path: Path) -> None:
    settings = {"lora": "r=4,alpha=8", "lr": 1e-2, "eval_rows": 20, "schedule": ["2:full=layer.1"]}
    run_engine(SAMPLES / "sentiment.parquet", tmp_path / "run", tiny_model, max_steps=3, **settings)
    events = read_journal(tmp_path / "run" / "journal.jsonl")
    before_full = events[: next(i for i, e in enumerate(events) if isinstance(e, CommandApplied))]

    @run_async
    async def check() -> None:
        async with running_app(before_full) as (app, _):
            layers = app.query_one(LayersTable)
            # query and value adapters of rank 4 on a 32-wide layer: 512 of its 9.1k parameters
            assert cell_text(layers, "layer.0", "params") == "512/9.1k"
            assert cell_text(layers, "embeddings", "params") == "0/41.8k"
            assert cell_text(layers, "embeddings", "state") == "❄ frozen"  # no adapters: nothing of it trains
            assert cell_text(layers, "head", "params") == "66"  # trained whole (modules_to_save)
        async with running_app(events) as (app, _):
            layers = app.query_one(LayersTable)
            assert cell_text(layers, "layer.1", "params") == "9.1k"  # full=layer.1: every parameter trains
            assert cell_text(layers, "layer.0", "params") == "512/9.1k"

    check()
