"""LoRA in `cockpit train` on the tiny BERT: adapters per layer group, exact freezing of adapters,
base weights that never move unless a group's full fine-tuning is asked by name, the saved adapter
and merged model through pipeline(), resume, and an adapter folder as --model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, SAMPLES, run_engine, tiny_engine
from safetensors.torch import load_file

from cockpit.contract.commands import Stop
from cockpit.contract.config import RunConfig
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import CommandApplied, EvalResult, RunStarted, StepMetrics
from cockpit.rundir.journal import read_journal
from cockpit.training.engine import Engine, StepHooks
from cockpit.training.lora import LoraSpec, parse_lora
from cockpit.training.prepare import prepare

pytest.importorskip("peft")

SENTIMENT = SAMPLES / "sentiment.parquet"
LORA = {"lora": "r=4,alpha=8,dropout=0", "lr": 1e-2, "eval_rows": 40}


def _journal(run_dir: Path) -> list:
    return read_journal(run_dir / "journal.jsonl")


def _base_names(engine: Engine) -> dict[str, torch.Tensor]:
    """The base model's weights in the model folder's own naming (no PEFT wrapping, no head)."""
    inner = engine.model.get_base_model()
    prefix = inner.base_model_prefix + "."
    return {
        name.removeprefix(prefix).replace(".base_layer.", "."): param
        for name, param in inner.named_parameters()
        if name.startswith(prefix) and ".lora_" not in name
    }


def test_lora_settings_are_read_or_refused_in_one_line() -> None:
    assert parse_lora("on") == LoraSpec()
    assert parse_lora("r=16,alpha=32,targets=query,value") == LoraSpec(16, 32.0, 0.1, ("query", "value"))
    for bad, said in [("r=0", "r must be at least 1"), ("rank=4", "unknown setting"), ("alpha=x", "not a number")]:
        with pytest.raises(CockpitError, match=said):
            parse_lora(bad)


def test_adapters_train_per_layer_and_base_weights_stay_pretrained(tiny_model: Path, tmp_path: Path) -> None:
    engine, ended = run_engine(SENTIMENT, tmp_path / "run", tiny_model, max_steps=6, **LORA)
    assert ended.reason == "finished", ended.message
    pretrained = load_file(str(tiny_model / "model.safetensors"))
    base = _base_names(engine)
    assert sorted(base) == sorted(pretrained)
    assert all(torch.equal(base[name], pretrained[name]) for name in pretrained), "a base weight moved"

    start = next(e for e in _journal(tmp_path / "run") if isinstance(e, RunStarted))
    assert start.layers == ["embeddings", "layer.0", "layer.1", "pooler", "head"]
    assert start.frozen == ["embeddings", "pooler"]  # nothing of theirs trains: no adapters
    # query and value of a 32-wide layer, rank 4: 2 x (4x32 + 32x4)
    assert start.layer_trainable == {"embeddings": 0, "layer.0": 512, "layer.1": 512, "pooler": 0}
    assert start.layer_params["layer.0"] == 512 + 8_544
    last = [e for e in _journal(tmp_path / "run") if isinstance(e, StepMetrics)][-1]
    for name in ("layer.0", "layer.1", "head"):
        assert last.layers[name].grad_norm > 0 and last.layers[name].update_ratio > 0
    assert last.layers["embeddings"].frozen and last.layers["embeddings"].update_ratio == 0
    notices = " ".join(e.message for e in _journal(tmp_path / "run") if e.type == "notice")
    assert "LoRA r=4, alpha=8, dropout=0 on query, value (peft's default)" in notices
    assert "the head (classifier) trains fully" in notices  # the model's own head, named once


def test_the_relative_update_of_an_adapted_weight_is_its_effective_change(tiny_model: Path, tmp_path: Path) -> None:
    """‖Δ(s·B·A)‖ / ‖W‖ over a layer's adapted weights, against the same computed by hand."""
    seen: dict[str, float] = {}

    class Measure(StepHooks):
        def before_optimizer_step(self, engine: Engine) -> None:
            self.before = {
                g.name: [a.scaling * a.up.detach() @ a.down.detach() for a in g.adapted] for g in engine.groups
            }

        def after_optimizer_step(self, engine: Engine) -> None:
            group = next(g for g in engine.groups if g.name == "layer.1")
            change = [
                a.scaling * a.up.detach() @ a.down.detach() - b for a, b in zip(group.adapted, self.before["layer.1"])
            ]
            weight = torch.stack([a.base.detach().norm() for a in group.adapted]).norm()
            seen[str(engine.step + 1)] = float(torch.stack([c.norm() for c in change]).norm() / weight)

    engine = tiny_engine(SENTIMENT, tmp_path / "run", tiny_model, max_steps=3, **LORA)
    engine.hooks.append(Measure())
    engine.run()
    steps = [e for e in _journal(tmp_path / "run") if isinstance(e, StepMetrics)]
    for step in steps:
        assert step.layers["layer.1"].update_ratio == pytest.approx(seen[str(step.step)], rel=1e-4)


def test_a_frozen_layer_keeps_its_adapters_from_that_step_and_unfreeze_never_reaches_base(
    tiny_model: Path, tmp_path: Path
) -> None:
    grads: dict[int, list[object]] = {}

    class Grads(StepHooks):
        def before_optimizer_step(self, engine: Engine) -> None:
            grads[engine.step + 1] = [p.grad for p in next(g for g in engine.groups if g.name == "layer.0").params]

    schedule = ["3:freeze=layer.0", "5:unfreeze=all"]
    engine = tiny_engine(SENTIMENT, tmp_path / "run", tiny_model, max_steps=6, schedule=schedule, **LORA)
    engine.hooks.append(Grads())
    engine.run()
    # frozen before step 3, unfrozen before step 5: no gradient in between (None, not zero)
    assert all(grad is None for step in (3, 4) for grad in grads[step])
    assert all(grad is not None for grad in grads[5])
    applied = [e for e in _journal(tmp_path / "run") if isinstance(e, CommandApplied)]
    assert applied[0].result == "froze the adapters of layer.0"
    assert applied[1].result == (
        "unfroze the adapters of layer.0 (layer.1 already trainable); base weights stay as loaded "
        "(embeddings, pooler have no adapters; full=embeddings would train its base weights)"
    )
    pretrained = load_file(str(tiny_model / "model.safetensors"))
    assert all(torch.equal(_base_names(engine)[k], v) for k, v in pretrained.items())
    assert all(not p.requires_grad for g in engine.groups for p in g.fixed)


def test_a_frozen_layer_adapters_stay_bit_identical(tiny_model: Path, tmp_path: Path) -> None:
    schedule = ["3:freeze=layer.0"]
    run_engine(SENTIMENT, tmp_path / "run", tiny_model, max_steps=5, save_every=1, schedule=schedule, **LORA)

    def saved(step: int) -> dict[str, torch.Tensor]:
        return load_file(str(tmp_path / "run" / "checkpoints" / f"step-{step}" / "adapter_model.safetensors"))

    # frozen at the boundary before step 3: what step 2 left is what steps 3, 4 and 5 keep
    kept = [saved(step) for step in (3, 4, 5)]
    layer0 = [k for k in kept[0] if ".layer.0." in k]
    layer1 = [k for k in kept[0] if ".layer.1." in k]
    assert layer0 and layer1
    assert all(torch.equal(kept[0][k], other[k]) for other in kept[1:] for k in layer0)
    assert not all(torch.equal(kept[0][k], kept[2][k]) for k in layer1)


def test_full_fine_tuning_of_a_group_is_asked_by_name(tiny_model: Path, tmp_path: Path) -> None:
    schedule = ["2:full=all", "2:full=layer.1", "4:stop"]
    engine, _ = run_engine(SENTIMENT, tmp_path / "run", tiny_model, max_steps=6, schedule=schedule, **LORA)
    applied = [e for e in _journal(tmp_path / "run") if isinstance(e, CommandApplied)]
    assert applied[0].result.startswith("refused: full=all: name the groups")
    assert applied[1].result.startswith("full fine-tuning of layer.1: base weights train too (8,544 parameters)")
    pretrained = load_file(str(tiny_model / "model.safetensors"))
    base = _base_names(engine)
    moved = {k for k in pretrained if not torch.equal(base[k], pretrained[k])}
    assert moved and all(k.startswith("encoder.layer.1.") for k in moved)
    # saved beside the adapter, and back on resume with layer.1 still fully trained
    assert (tmp_path / "run" / "model" / "base_weights.safetensors").exists()
    resumed = Engine(prepare(RunConfig.load(tmp_path / "run" / "config.json"), resume_dir=tmp_path / "run"))
    assert resumed.frozen_groups.full == {"layer.1"}
    assert all(torch.equal(_base_names(resumed)[k], base[k]) for k in base)


def _final_eval(run_dir: Path) -> EvalResult:
    return [e for e in _journal(run_dir) if isinstance(e, EvalResult)][-1]


def eval_rows(engine: Engine) -> tuple[list[str], np.ndarray]:
    """The run's eval rows: texts and class ids."""
    evaluation = engine.prepared.evaluation
    return [evaluation.texts[i] for i in range(len(evaluation))], np.asarray(evaluation.targets).argmax(axis=1)


def reproduce_with_pipeline(
    run_dir: Path, texts: list[str], labels: np.ndarray, max_length: int
) -> dict[str, tuple[float, float]]:
    """(accuracy, mean loss) of the saved adapter and of the merged model on these rows, through pipeline()."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, pipeline

    adapter = run_dir / "model"
    config = AutoConfig.from_pretrained(adapter / "head_config.json")
    models = {
        "adapter": AutoModelForSequenceClassification.from_pretrained(adapter, config=config),
        "merged": str(run_dir / "model-merged"),
    }
    found = {}
    for name, model in models.items():
        classify = pipeline("text-classification", model=model, tokenizer=str(adapter), top_k=None, device="cpu")
        scores = classify(texts, truncation=True, max_length=max_length)
        probs = np.array(
            [[next(s["score"] for s in row if s["label"] == label) for label in ("0", "1")] for row in scores]
        )
        found[name] = (
            float((probs.argmax(1) == labels).mean()),
            float(-np.log(probs[np.arange(len(labels)), labels]).mean()),
        )
    return found


def test_the_adapter_and_the_merged_model_reproduce_the_final_eval(tiny_model: Path, tmp_path: Path) -> None:
    engine, _ = run_engine(SENTIMENT, tmp_path / "run", tiny_model, max_steps=6, merge_lora=True, **LORA)
    final = _final_eval(tmp_path / "run")
    for name, (accuracy, loss) in reproduce_with_pipeline(tmp_path / "run", *eval_rows(engine), 32).items():
        assert accuracy == pytest.approx(final.metrics["accuracy"]), name
        assert loss == pytest.approx(final.loss, rel=1e-4), name


def test_resumed_lora_run_matches_uninterrupted(tiny_model: Path, tmp_path: Path) -> None:
    settings = {**LORA, "max_steps": 8, "eval_split": 0.0, "eval_rows": None, "schedule": ["2:freeze=layer.0"]}
    run_engine(SENTIMENT, tmp_path / "whole", tiny_model, **settings)
    engine = tiny_engine(SENTIMENT, tmp_path / "split", tiny_model, **settings)
    engine.observers.append(lambda e: isinstance(e, StepMetrics) and e.step == 4 and engine.submit(Stop("interrupted")))
    first = engine.run()
    assert first.reason == "interrupted" and 4 <= first.step < 8
    resumed = Engine(prepare(RunConfig.load(tmp_path / "split" / "config.json"), resume_dir=tmp_path / "split"))
    assert resumed.frozen == {"embeddings", "layer.0", "pooler"}
    assert resumed.run().step == 8
    losses = [[s.loss for s in _journal(tmp_path / run) if isinstance(s, StepMetrics)] for run in ("whole", "split")]
    assert losses[0] == losses[1]
    whole, split = (load_file(str(tmp_path / r / "model" / "adapter_model.safetensors")) for r in ("whole", "split"))
    assert all(torch.equal(whole[k], split[k]) for k in whole)


def test_an_adapter_folder_is_a_model_to_continue_from(tiny_model: Path, tmp_path: Path) -> None:
    run_engine(SENTIMENT, tmp_path / "first", tiny_model, max_steps=4, **LORA)
    adapter = tmp_path / "first" / "model"
    from peft import get_peft_model_state_dict

    engine = tiny_engine(SENTIMENT, tmp_path / "second", adapter, max_steps=2, lr=1e-2, eval_rows=40)
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    state = get_peft_model_state_dict(engine.model)  # in the saved file's naming
    assert sorted(saved) == sorted(state) and all(torch.equal(saved[k], state[k]) for k in saved)
    assert engine.config.lora == "r=4,alpha=8,dropout=0,targets=query,value"
    assert not engine.prepared.loaded.head.reinitialised  # the adapter's head, not a fresh one
    with pytest.raises(CockpitError, match="is an adapter trained with r=4"):
        tiny_engine(SENTIMENT, tmp_path / "third", adapter, lora="r=8")


def test_without_peft_lora_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    code = "import sys; sys.modules['peft'] = None; from cockpit.cli.main import main; sys.exit(main(sys.argv[1:]))"
    argv = ["train", str(SENTIMENT), "--lora", "--headless", "--out", str(tmp_path / "run")]
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0] == 'cockpit: error: LoRA needs the peft library: pip install "cockpit[lora]"'
