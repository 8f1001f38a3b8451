"""The training engine on a real (tiny) BERT: freezing, commands, journal, reproducibility, resume."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from conftest import run_engine, tiny_engine
from safetensors.torch import load_file

from cockpit.contract.commands import Stop
from cockpit.contract.config import RunConfig
from cockpit.contract.events import RunEnded, StepMetrics
from cockpit.rundir.journal import read_journal
from cockpit.training.engine import Engine
from cockpit.training.model import expand_groups, layer_groups
from cockpit.training.prepare import prepare

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
DEI = SAMPLES / "dei.parquet"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _steps(run_dir: Path) -> list[StepMetrics]:
    return [e for e in read_journal(run_dir / "journal.jsonl") if isinstance(e, StepMetrics)]


def test_frozen_from_start_stays_bit_identical_to_pretrained(tiny_model: Path, tmp_path: Path) -> None:
    engine, ended = run_engine(DEI, tmp_path / "run", tiny_model, freeze="embeddings,layer.0", max_steps=5)
    assert ended.reason == "finished"
    pretrained, trained = _weights(tiny_model), _weights(Path(ended.model_dir))
    embedding_keys = [k for k in pretrained if "embeddings" in k]
    layer0_keys = [k for k in pretrained if ".layer.0." in k]
    layer1_keys = [k for k in pretrained if ".layer.1." in k]
    assert embedding_keys and layer0_keys
    for key in embedding_keys + layer0_keys:
        assert torch.equal(pretrained[key], trained["bert." + key]), key
    assert any(not torch.equal(pretrained[k], trained["bert." + k]) for k in layer1_keys)
    frozen_params = [p for g in engine.groups if g.name in ("embeddings", "layer.0") for p in g.params]
    assert all(p.grad is None and not p.requires_grad for p in frozen_params)
    for step in _steps(tmp_path / "run"):
        assert step.layers["embeddings"].frozen and step.layers["embeddings"].update_ratio == 0.0
        assert step.layers["layer.0"].grad_norm == 0.0
        assert step.layers["layer.1"].update_ratio > 0


def test_mid_run_freeze_is_exact_and_unfreeze_moves_again(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _, ended = run_engine(
        DEI,
        run,
        tiny_model,
        max_steps=8,
        save_every=1,
        keep_checkpoints=10,
        schedule=["4:freeze=layer.1", "7:unfreeze=layer.1"],
    )
    assert ended.reason == "finished"
    at = {n: _weights(run / "checkpoints" / f"step-{n}") for n in (3, 4, 5, 6, 7)}
    keys = [k for k in at[3] if ".layer.1." in k]
    for key in keys:  # steps 4..6 ran with layer.1 frozen: not one bit moved
        assert torch.equal(at[3][key], at[6][key]), key
    assert any(not torch.equal(at[6][k], at[7][k]) for k in keys)  # unfrozen at 7: moves again
    steps = {s.step: s for s in _steps(run)}
    assert [steps[n].layers["layer.1"].frozen for n in range(1, 9)] == [False] * 3 + [True] * 3 + [False] * 2
    assert all(steps[n].layers["layer.1"].update_ratio == 0.0 for n in (4, 5, 6))
    commands = [e for e in read_journal(run / "journal.jsonl") if e.type == "command"]
    assert [(c.step, c.command, c.source) for c in commands] == [
        (3, "freeze=layer.1", "schedule"),
        (6, "unfreeze=layer.1", "schedule"),
    ]


def test_scheduled_learning_rate_takes_effect(tiny_model: Path, tmp_path: Path) -> None:
    _, ended = run_engine(DEI, tmp_path / "run", tiny_model, max_steps=6, warmup_ratio=0.0, schedule=["4:lr=1e-5"])
    steps = {s.step: s for s in _steps(tmp_path / "run")}
    assert steps[3].lr > 1e-4
    assert steps[4].lr == pytest.approx(1e-5 * (6 - 3) / 6)


def test_journal_has_every_event_type_with_fields(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_engine(DEI, run, tiny_model, max_steps=6, eval_every=3, pins=[0, 1])
    lines = (run / "journal.jsonl").read_text().splitlines()
    events = read_journal(run / "journal.jsonl")
    assert len(events) == len(lines)
    types = [e.type for e in events]
    assert types[0] == "run" and types[-1] == "end"
    assert {"step", "pins", "eval", "notice", "checkpoint"} <= set(types)
    start = events[0]
    assert start.task == "multilabel" and len(start.labels) == 15
    assert start.layers == ["embeddings", "layer.0", "layer.1", "pooler", "head"]
    assert [p.index for p in start.pins] == [0, 1] and len(start.pins[0].targets) == 15
    pins = [e for e in events if e.type == "pins"]
    assert pins[0].step == 0 and pins[-1].step == 6
    assert len(pins[-1].probs) == 2 and len(pins[-1].probs[0]) == 15
    evaluation = [e for e in events if e.type == "eval"][-1]
    assert {"accuracy", "micro_f1", "macro_f1"} <= set(evaluation.metrics)
    assert set(evaluation.baselines) == {"majority_accuracy", "constant_loss"}
    assert len(evaluation.per_label_f1) == 15 and len(evaluation.thresholds) == 15
    assert [s.step for s in events if s.type == "step"] == list(range(1, 7))
    # A torn last line (process killed mid-write) is skipped, not an error.
    with open(run / "journal.jsonl", "a") as handle:
        handle.write('{"type": "step", "step": 7, "lo')
    assert len(read_journal(run / "journal.jsonl")) == len(events)


def test_same_seed_same_losses(tiny_model: Path, tmp_path: Path) -> None:
    run_engine(DEI, tmp_path / "a", tiny_model, max_steps=5, seed=3)
    run_engine(DEI, tmp_path / "b", tiny_model, max_steps=5, seed=3)
    run_engine(DEI, tmp_path / "c", tiny_model, max_steps=5, seed=4)
    losses = {name: [s.loss for s in _steps(tmp_path / name)] for name in "abc"}
    assert losses["a"] == losses["b"]
    assert losses["a"] != losses["c"]


def test_resumed_run_matches_uninterrupted(tiny_model: Path, tmp_path: Path) -> None:
    settings = {"max_steps": 10, "eval_split": 0.0, "freeze": "embeddings"}
    run_engine(DEI, tmp_path / "whole", tiny_model, **settings)

    holder: dict[str, Engine] = {}

    def stop_at_three(event: object) -> None:
        if isinstance(event, StepMetrics) and event.step == 3:
            holder["engine"].submit(Stop("interrupted"), "signal")

    engine = tiny_engine(DEI, tmp_path / "split", tiny_model, **settings)
    engine.observers.append(stop_at_three)
    holder["engine"] = engine
    first = engine.run()
    assert first.reason == "interrupted" and 3 <= first.step < 10
    resumed = Engine(prepare(RunConfig.load(tmp_path / "split" / "config.json"), resume_dir=tmp_path / "split"))
    assert resumed.step == first.step and resumed.frozen == {"embeddings"}
    second = resumed.run()
    assert second.reason == "finished" and second.step == 10
    whole, split = _steps(tmp_path / "whole"), _steps(tmp_path / "split")
    assert [s.step for s in split] == list(range(1, 11))
    assert [s.loss for s in split] == [s.loss for s in whole]
    final_whole, final_split = _weights(tmp_path / "whole" / "model"), _weights(tmp_path / "split" / "model")
    assert all(torch.equal(final_whole[k], final_split[k]) for k in final_whole)
    runs = [e for e in read_journal(tmp_path / "split" / "journal.jsonl") if e.type == "run"]
    assert [r.resumed_from for r in runs] == [None, first.step]


def test_out_of_memory_halves_micro_batch_keeping_effective_batch(tiny_model: Path, tmp_path: Path) -> None:
    """A CUDA OOM cannot happen on this CPU, so the real model's forward raises it for big batches."""
    reference, _ = run_engine(
        DEI, tmp_path / "ref", tiny_model, max_steps=4, batch_size=4, grad_accum=2, eval_split=0.0
    )

    def fail_on_big_batches(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        if kwargs["input_ids"].shape[0] > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    engine = tiny_engine(DEI, tmp_path / "oom", tiny_model, max_steps=4, eval_split=0.0)
    engine.model.register_forward_pre_hook(fail_on_big_batches, with_kwargs=True)
    ended = engine.run()
    assert ended.reason == "finished" and engine.micro_batch == 4
    notices = [
        e for e in read_journal(tmp_path / "oom" / "journal.jsonl") if e.type == "notice" and e.kind == "out_of_memory"
    ]
    assert len(notices) == 1 and "effective batch stays 8" in notices[0].message
    assert [s.loss for s in _steps(tmp_path / "oom")] == pytest.approx(
        [s.loss for s in _steps(tmp_path / "ref")], rel=1e-5
    )


def test_nonfinite_loss_skips_update_and_stops_headless(tiny_model: Path, tmp_path: Path) -> None:
    engine = tiny_engine(DEI, tmp_path / "run", tiny_model, lr=RunConfig.lr, max_steps=8, eval_split=0.0, save_every=1)
    poisoned: list[int] = []

    def poison_step_four(_module: torch.nn.Module, _args: tuple, output: object) -> None:
        if engine.step == 3 and engine.model.training:
            output.logits.data.fill_(float("nan"))
            poisoned.append(engine.step)

    engine.model.register_forward_hook(poison_step_four)
    ended = engine.run()
    assert poisoned == [3]  # one forward pass, the 4th step's, and no other was poisoned
    assert ended.reason == "stopped" and "non-finite loss" in ended.message and ended.step == 4
    before, after = _weights(tmp_path / "run" / "checkpoints" / "step-3"), _weights(Path(ended.model_dir))
    assert all(torch.equal(before[k], after[k]) for k in before)  # the bad update was never applied


def test_gpt2_gets_a_pad_token_and_a_two_class_head(tiny_gpt2: Path, tmp_path: Path) -> None:
    engine, ended = run_engine(SAMPLES / "sentiment.parquet", tmp_path / "run", tiny_gpt2, max_steps=3)
    assert ended.reason == "finished"
    assert engine.tokenizer.pad_token is not None and engine.model.config.pad_token_id is not None
    start = read_journal(tmp_path / "run" / "journal.jsonl")[0]
    assert start.task == "binary" and start.head.outputs == 2
    assert start.layers == ["embeddings", "layer.0", "layer.1", "final_norm", "head"]  # ln_f: its own group (#22)


@pytest.mark.parametrize(
    ("checkpoint_labels", "problem_type", "data", "labels"),
    [(3, None, "dei.parquet", 15), (1, "regression", "sentiment.parquet", 2)],
    ids=["seed000-nli-head-vs-15-labels", "seed003-regression-head-vs-2-classes"],
)
def test_a_head_that_does_not_fit_is_reinitialised_and_reported(
    tiny_model: Path,
    tmp_path: Path,
    checkpoint_labels: int,
    problem_type: str | None,
    data: str,
    labels: int,
) -> None:
    from transformers import AutoTokenizer, BertForSequenceClassification

    source = BertForSequenceClassification.from_pretrained(
        tiny_model, num_labels=checkpoint_labels, problem_type=problem_type
    )
    folder = tmp_path / "checkpoint"
    source.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    heard = logging.Handler()  # what transformers' own logger says (it writes to stderr, before any notice)
    heard.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    said: list[str] = []
    logging.getLogger("transformers").addHandler(heard)
    try:
        engine, ended = run_engine(SAMPLES / data, tmp_path / "run", folder, max_steps=2)
    finally:
        logging.getLogger("transformers").removeHandler(heard)
    assert not [
        m for m in said if "incompatible" in m
    ]  # "num_labels=15 ... id2label map of length 3": the notice says it
    events = read_journal(tmp_path / "run" / "journal.jsonl")
    head = events[0].head
    assert head.checkpoint_outputs == checkpoint_labels and head.outputs == labels and head.reinitialised
    assert head.problem_type != "regression"
    notice = next(e for e in events if e.type == "notice" and e.kind == "head_reinitialised")
    assert f"{checkpoint_labels} outputs" in notice.message and f"{labels} labels" in notice.message
    assert engine.model.config.num_labels == labels


def test_layer_groups_and_freeze_specs(tiny_model: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    names = [g.name for g in layer_groups(model)]
    assert names == ["embeddings", "layer.0", "layer.1", "pooler", "head"]
    assert sum(g.size for g in layer_groups(model)) == sum(p.numel() for p in model.parameters())
    assert expand_groups("all", names) == ["embeddings", "layer.0", "layer.1", "pooler"]
    assert expand_groups("0.5", names) == ["embeddings", "layer.0"]
    assert expand_groups("1.0", names) == ["embeddings", "layer.0", "layer.1", "pooler"]
    assert expand_groups("embeddings,layer.0-1", names) == ["embeddings", "layer.0", "layer.1"]
    assert expand_groups("none", names) == []


def test_saved_model_reproduces_last_pinned_probabilities(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import pipeline

    run = tmp_path / "run"
    _, ended = run_engine(DEI, run, tiny_model, max_steps=4, pins=[5, 9])
    events = read_journal(run / "journal.jsonl")
    last = [e for e in events if e.type == "pins"][-1]
    assert last.step == ended.step
    classify = pipeline("text-classification", model=ended.model_dir, top_k=None, device="cpu")
    labels = events[0].labels
    for pin, probs in zip(events[0].pins, last.probs):
        scores = {s["label"]: s["score"] for s in classify([pin.text], truncation=True, max_length=32)[0]}
        assert [scores[name] for name in labels] == pytest.approx(probs, abs=1e-4)


def test_headless_cli_trains_and_prints_progress(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from cockpit.cli.main import main

    rc = main(
        [
            "train",
            str(DEI),
            "--headless",
            "--model",
            str(tiny_model),
            "--max-steps",
            "3",
            "--out",
            str(tmp_path / "run"),
            "--max-length",
            "32",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0
    assert "step 3/3" in err and "task multilabel" in err and "finished at step 3; model in" in err
    ended = read_journal(tmp_path / "run" / "journal.jsonl")[-1]
    assert isinstance(ended, RunEnded) and ended.reason == "finished"


def test_thresholds_command_saves_best_thresholds_beside_the_model(tiny_model: Path, tmp_path: Path) -> None:
    from cockpit.rundir.thresholds import load_thresholds

    _, ended = run_engine(
        DEI,
        tmp_path / "run",
        tiny_model,
        max_steps=4,
        eval_every=2,
        schedule=["1:thresholds=save", "4:thresholds=save"],
    )
    commands = [e for e in read_journal(tmp_path / "run" / "journal.jsonl") if e.type == "command"]
    assert commands[0].result.startswith("refused: no multilabel evaluation yet")
    assert commands[1].result.startswith("thresholds from the eval at step 2 (")
    saved = load_thresholds(ended.model_dir)  # model/thresholds.json, where a user of the model finds them
    evaluation = [e for e in read_journal(tmp_path / "run" / "journal.jsonl") if e.type == "eval" and e.step == 2][0]
    assert saved == {name: t["threshold"] for name, t in evaluation.thresholds.items()}


def _sampled_squares(tensor: torch.Tensor, sampled: bool) -> float:
    """Sum of squares as the update measure estimates it: every 8th row of a matrix of 16 rows or
    more, scaled up by the share of rows read."""
    if not sampled or tensor.dim() < 2 or tensor.shape[0] < 16:
        return float(tensor.pow(2).sum())
    rows = tensor[::8]
    return float(rows.pow(2).sum()) * tensor.numel() / rows.numel()


@pytest.mark.parametrize(
    ("keep_snapshot", "sample_above"),
    [(True, None), (False, None), (True, 0)],
    ids=["kept-buffer", "fresh-copy", "sampled-rows"],
)
def test_relative_update_is_the_change_of_the_weights(
    tiny_model: Path, tmp_path: Path, keep_snapshot: bool, sample_above: int | None
) -> None:
    """Journaled update_ratio == ||w_after - w_before|| / ||w_before|| per group, recomputed here,
    and weight_norm == ||w_before||: the weights the step started from.

    The tiny model's tensors are all under the sampling threshold, so they are measured whole;
    with the threshold at 0 every matrix is measured on every 8th row, and the journal must hold
    that estimate. A step's metrics are emitted after its update and before the next one, so the
    weights an observer sees then are that step's result. The freeze at step 3 resizes the buffer
    (and the frozen group's norm is read once, not per step); the unfreeze at 5 measures it again.
    """
    from cockpit.training.instruments import GroupNorms

    schedule = ["3:freeze=layer.0", "5:unfreeze=layer.0"]
    engine = tiny_engine(DEI, tmp_path / "run", tiny_model, max_steps=6, eval_split=0.0, schedule=schedule)
    sampled = sample_above is not None
    if sampled:  # the freezes must reach this instrument: it is the one the steering refreshes
        engine.norms = engine.frozen_groups.norms = GroupNorms(engine.groups, engine.device, sample_above=sample_above)
    engine.norms.keep_snapshot = keep_snapshot
    seen: dict[int, dict[str, list[torch.Tensor]]] = {}
    journaled: dict[int, StepMetrics] = {}

    def observe(event: object) -> None:
        if getattr(event, "type", "") in ("run", "step"):
            seen[event.step] = {g.name: [p.detach().clone() for p in g.params] for g in engine.groups}
        if isinstance(event, StepMetrics):
            journaled[event.step] = event

    engine.observers.append(observe)
    assert engine.run().reason == "finished"
    for step in range(1, 7):
        for name, stats in journaled[step].layers.items():
            before, after = seen[step - 1][name], seen[step][name]
            weight = sum(_sampled_squares(w, sampled) for w in before) ** 0.5
            update = sum(_sampled_squares(a - b, sampled) for a, b in zip(after, before, strict=True)) ** 0.5
            assert stats.weight_norm == pytest.approx(weight, rel=1e-5)
            assert stats.update_ratio == pytest.approx(update / weight, rel=1e-3, abs=1e-12), (step, name)
            if name == "layer.0" and step in (3, 4):
                assert stats.frozen and stats.update_ratio == 0.0
            else:
                assert stats.update_ratio > 0, (step, name)
    if sampled:  # the copy holds an eighth of each matrix
        matrices = [p for g in engine.groups for p in g.params if p.requires_grad and p.dim() >= 2]
        assert engine.norms.snapshot_size < sum(p.numel() for p in matrices) / 4


def test_fp16_overflow_skips_the_update_and_lowers_the_scale(tiny_model: Path, tmp_path: Path) -> None:
    """The GradScaler path (fp16 on GPUs without bf16), run with the CPU's GradScaler: a step whose
    scaled gradients overflow leaves every weight as it was and halves the scale, and training
    goes on once the gradients fit."""
    engine = tiny_engine(
        DEI,
        tmp_path / "run",
        tiny_model,
        batch_size=RunConfig.batch_size,
        lr=RunConfig.lr,
        seed=RunConfig.seed,
        max_steps=8,
        eval_split=0.0,
    )
    engine.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**104, growth_interval=1000)
    with torch.no_grad():  # gradients overflow float32 at scales above ~2**101
        engine.model.classifier.weight.mul_(1e10)
    weights: dict[int, list[torch.Tensor]] = {}

    def observe(event: object) -> None:
        if getattr(event, "type", "") in ("run", "step"):
            weights[event.step] = [p.detach().clone() for p in engine.model.parameters()]

    engine.observers.append(observe)
    assert engine.run().reason == "finished"
    moved = {s.step: s.layers["head"].update_ratio > 0 for s in _steps(tmp_path / "run")}
    overflowed = [step for step, did in moved.items() if not did]
    assert overflowed[:1] == [1] and len(overflowed) < 8, moved  # a later batch may overflow again
    for step in overflowed:
        assert all(torch.equal(a, b) for a, b in zip(weights[step - 1], weights[step], strict=True)), step
    assert engine.scaler.get_scale() == 2.0 ** (104 - len(overflowed))
