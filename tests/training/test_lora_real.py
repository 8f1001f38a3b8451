"""LoRA on the real embedded MiniLM (#22's evidence): `cockpit train sample_data/sentiment.parquet
--lora` against full fine-tuning at the same budget, the base weights at the end, a layer frozen
mid-run, the saved adapter and merged model through pipeline(); and a Trainer script with a
`get_peft_model` model steered by a real `cockpit send`. Slow: they train the real model."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, SAMPLES
from safetensors.torch import load_file

from cockpit.contract.config import DEFAULT_MODEL, LORA_LR, RunConfig
from cockpit.contract.events import CommandApplied, EvalResult, Notice, RunStarted, StepMetrics
from cockpit.rundir.journal import read_journal
from cockpit.rundir.layout import INBOX
from cockpit.training.engine import Engine
from cockpit.training.model import resolve_model_path
from cockpit.training.prepare import prepare

pytest.importorskip("peft")
pytestmark = pytest.mark.slow

SENTIMENT = SAMPLES / "sentiment.parquet"


def _final_eval(run_dir: Path) -> EvalResult:
    return [e for e in read_journal(run_dir / "journal.jsonl") if isinstance(e, EvalResult)][-1]


@pytest.mark.timeout(1800)  # two real runs of 87 steps: ~3 minutes on 2 quiet cores, 10+ under load
def test_lora_on_minilm_keeps_the_base_freezes_exactly_and_matches_full_fine_tuning(tmp_path: Path) -> None:
    from test_lora import eval_rows, reproduce_with_pipeline

    # `cockpit train sample_data/sentiment.parquet --lora --merge-lora --at 41:freeze=layer.2`, in this process
    lora = RunConfig(
        data=str(SENTIMENT), out=str(tmp_path / "lora"), lora="on", lr=LORA_LR, merge_lora=True,
        schedule=["41:freeze=layer.2"], save_every=10, keep_checkpoints=10, headless=True,
    )  # fmt: skip
    engine = Engine(prepare(lora), on_nonfinite="stop")
    ended = engine.run()
    assert ended.reason == "finished" and ended.step == 87, ended.message

    pretrained = load_file(str(Path(resolve_model_path(DEFAULT_MODEL)) / "model.safetensors"))
    del pretrained["embeddings.position_ids"]  # a buffer the file also holds, not a weight
    inner = engine.model.get_base_model()
    base = {
        n.removeprefix("bert.").replace(".base_layer.", "."): p
        for n, p in inner.named_parameters()
        if n.startswith("bert.") and ".lora_" not in n
    }
    assert sorted(base) == sorted(pretrained)
    assert all(torch.equal(base[k], pretrained[k]) for k in pretrained), "a base weight moved"

    def layer2(step: int) -> list[torch.Tensor]:
        saved = load_file(str(tmp_path / "lora" / "checkpoints" / f"step-{step}" / "adapter_model.safetensors"))
        return [saved[k] for k in sorted(saved) if ".layer.2." in k]

    assert not all(torch.equal(a, b) for a, b in zip(layer2(30), layer2(40)))  # it trained until step 40
    for step in (50, 60, 70, 80, 87):
        assert all(torch.equal(a, b) for a, b in zip(layer2(40), layer2(step))), step

    final = _final_eval(tmp_path / "lora")
    for name, (accuracy, loss) in reproduce_with_pipeline(tmp_path / "lora", *eval_rows(engine), 128).items():
        assert accuracy == pytest.approx(final.metrics["accuracy"]), name
        assert loss == pytest.approx(final.loss, rel=1e-3), name

    full = RunConfig(data=str(SENTIMENT), out=str(tmp_path / "full"), headless=True)  # same seed, steps, eval rows
    assert Engine(prepare(full), on_nonfinite="stop").run().step == 87
    accuracies = {run: _final_eval(tmp_path / run).metrics["accuracy"] for run in ("lora", "full")}
    print(f"eval accuracy after 87 steps: {accuracies}")
    assert abs(accuracies["lora"] - accuracies["full"]) <= 0.05, accuracies


def test_a_trainer_with_a_peft_model_is_steered_by_cockpit_send(tmp_path: Path) -> None:
    """The Trainer script of #22: get_peft_model, CockpitCallback(), and `cockpit send RUN freeze=layer.2`
    from another process, applied exactly."""
    import pyarrow.parquet as pq
    import transformers
    from peft import LoraConfig, get_peft_model

    from cockpit import CockpitCallback

    path = resolve_model_path(DEFAULT_MODEL)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model = get_peft_model(
        model, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=["query", "value"])
    )
    cockpit = CockpitCallback()
    run_dir = tmp_path / "hf" / "cockpit"
    sent: dict[str, subprocess.CompletedProcess] = {}
    weights: dict[int, list[torch.Tensor]] = {}

    class SendAtStep3(transformers.TrainerCallback):
        """At step 3, `cockpit send` from another process; this step waits until its command is in the inbox."""

        def on_step_end(self, args, state, control, model=None, **kwargs):
            group = next(g for g in cockpit.live.groups if g.name == "layer.2")
            weights[state.global_step] = [p.detach().clone() for p in group.params]
            if state.global_step != 3:
                return
            command = [sys.executable, "-m", "cockpit.cli", "send", str(run_dir), "freeze=layer.2"]
            threading.Thread(
                target=lambda: sent.update(done=subprocess.run(command, capture_output=True, text=True, cwd=ROOT)),
                daemon=True,
            ).start()
            deadline = time.monotonic() + 120
            while not any(not f.name.startswith(".") for f in (run_dir / INBOX).iterdir()):
                assert time.monotonic() < deadline, "cockpit send never wrote its command"
                time.sleep(0.05)

    trainer = transformers.Trainer(
        model=model,
        args=transformers.TrainingArguments(
            output_dir=str(tmp_path / "hf"),
            per_device_train_batch_size=8,
            max_steps=8,
            learning_rate=1e-3,
            report_to=[],
            save_strategy="no",
            eval_strategy="no",
            logging_steps=1000,
            disable_tqdm=True,
            use_cpu=True,
            seed=0,
        ),  # fmt: skip
        train_dataset=[
            {**tokenizer(row["text"], truncation=True, max_length=64), "labels": row["label"]}
            for row in pq.read_table(SENTIMENT).slice(0, 64).to_pylist()
        ],
        data_collator=transformers.DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=[cockpit, SendAtStep3()],
    )
    with contextlib.redirect_stdout(io.StringIO()):  # Trainer's end-of-training summary line
        trainer.train()
    for _ in range(600):  # the send process exits once it has read the run's answer
        if "done" in sent:
            break
        time.sleep(0.1)
    assert sent["done"].returncode == 0, sent["done"].stderr
    assert "froze the adapters of layer.2" in sent["done"].stdout + sent["done"].stderr

    events = read_journal(run_dir / "journal.jsonl")
    start = next(e for e in events if isinstance(e, RunStarted))
    assert start.layers == ["embeddings", *(f"layer.{i}" for i in range(6)), "pooler", "head"]
    assert start.layer_trainable["layer.2"] == 12_288 and start.head.outputs == 2
    assert not [e for e in events if isinstance(e, Notice) and ("head" in e.message or e.kind == "not_in_optimizer")]
    applied = next(e for e in events if isinstance(e, CommandApplied))
    assert (applied.step, applied.source, applied.result) == (3, "send", "froze the adapters of layer.2")
    assert not all(torch.equal(a, b) for a, b in zip(weights[2], weights[3]))
    for step in range(4, 9):
        assert all(torch.equal(a, b) for a, b in zip(weights[3], weights[step])), step
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert all(e.layers["layer.2"].frozen for e in steps if e.step > 3)
    assert all(e.layers["layer.3"].update_ratio > 0 for e in steps)
