"""Batches tokenized ahead, beside the step: the same tensors, the same training, bit for bit (texts and pairs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import sentiment_pairs, tiny_engine

from cockpit.contract.events import StepMetrics
from cockpit.rundir.journal import read_journal
from cockpit.training.batches import Collator, spare_cores

DEI = Path(__file__).resolve().parents[2] / "sample_data" / "dei.parquet"


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def training_file(kind: str, tmp_path: Path) -> Path:
    """`dei.parquet` (one text a row), or sentence pairs (two: tokenized as the tokenizer's pair)."""
    return DEI if kind == "texts" else sentiment_pairs(tmp_path / "pairs.parquet", rows=240)


@pytest.mark.parametrize("kind", ["texts", "pairs"])
def test_a_batch_tokenized_ahead_is_the_batch_tokenized_now(tiny_model: Path, tmp_path: Path, kind: str) -> None:
    engine = tiny_engine(training_file(kind, tmp_path), tmp_path / "run", tiny_model, max_steps=2)
    data, tokenizer = engine.prepared.train, engine.tokenizer
    assert (data.second_texts is not None) == (kind == "pairs") and len(data) >= 160
    now = Collator(tokenizer, 32)
    ahead = Collator(tokenizer, 32, ahead=True)
    batches = [list(range(i, i + 8)) for i in range(0, 160, 8)]
    for rows in batches:  # ahead, while this thread keeps using the shared tokenizer another way
        ahead.prefetch(data, rows)
        tokenizer([data.texts[r] for r in rows], truncation=False)
    assert all(same(ahead.rows(data, rows), now.rows(data, rows)) for rows in batches[-2:])
    assert ahead.served_ahead == 2  # (only the last two were kept: nobody asked for the others)
    assert same(ahead.rows(data, batches[0]), now.rows(data, batches[0])) and ahead.served_ahead == 2
    ahead.prefetch(data, batches[1])
    early = ahead.rows(data, batches[1])
    assert same(early, now.rows(data, batches[1])) and ahead.served_ahead == 3
    if kind == "pairs":  # both segments, as `tokenizer(a, b)` gives them
        assert set(early["token_type_ids"].unique().tolist()) == {0, 1}
    ahead.close()
    plain = Collator(tokenizer, 32)  # without `ahead`, prefetch does nothing
    plain.prefetch(data, batches[0])
    assert same(plain.rows(data, batches[0]), now.rows(data, batches[0])) and plain.served_ahead == 0


@pytest.mark.parametrize("kind", ["texts", "pairs"])
def test_the_engine_trains_the_same_with_batches_tokenized_ahead(tiny_model: Path, tmp_path: Path, kind: str) -> None:
    data = training_file(kind, tmp_path)
    losses, served = {}, {}
    for ahead in (False, True):
        engine = tiny_engine(data, tmp_path / str(ahead), tiny_model, max_steps=6, eval_split=0.0, seed=5)
        engine.collator.ahead = ahead
        assert engine.run().reason == "finished"
        steps = [e for e in read_journal(tmp_path / str(ahead) / "journal.jsonl") if isinstance(e, StepMetrics)]
        losses[ahead] = [(s.loss, s.grad_norm, {n: g.update_ratio for n, g in s.layers.items()}) for s in steps]
        served[ahead] = engine.collator.served_ahead
    assert losses[True] == losses[False] and len(losses[True]) == 6
    assert served == {False: 0, True: 5}  # every step but the first was tokenized during the one before


@pytest.mark.parametrize(
    ("device", "cores", "threads", "ahead"),
    [("cpu", 2, 2, False), ("cpu", 16, 2, True), ("cpu", 16, 16, False), ("cuda", 2, 2, True)],
)
def test_the_next_batch_goes_beside_the_step_only_where_a_core_is_free(
    monkeypatch: pytest.MonkeyPatch, device: str, cores: int, threads: int, ahead: bool
) -> None:
    """On a CPU whose every core trains, a tokenizing thread would only take a core from the step."""
    monkeypatch.setattr("cockpit.training.batches.os.cpu_count", lambda: cores)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert spare_cores(torch.device(device)) is ahead
