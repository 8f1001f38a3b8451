"""CockpitCallback in a real transformers.Trainer on the tiny BERT: journal, freezing, #21236, alarms, clipping."""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

pytest.importorskip("accelerate")

from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from cockpit import CockpitCallback  # noqa: E402
from cockpit.contract.commands import parse_command
from cockpit.contract.events import Alarm, CommandApplied, Notice, StepMetrics
from cockpit.rundir.inbox import send_command  # noqa: E402
from cockpit.rundir.journal import read_journal  # noqa: E402
from tests.conftest import SAMPLES, run_engine  # noqa: E402


def sentiment_rows(tokenizer, count: int = 48, float_labels: bool = False) -> list[dict]:
    """The sample sentiment file, tokenized the way a Trainer script does it (text column dropped)."""
    table = pq.read_table(SAMPLES / "sentiment.parquet").slice(0, count).to_pylist()
    rows = []
    for row in table:
        encoded = tokenizer(row["text"], truncation=True, max_length=32)
        label = float(row["label"]) if float_labels else row["label"]
        rows.append({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": label})
    return rows


def make_trainer(model_dir: Path, out: Path, callbacks: list, num_labels: int = 2, before=None, **overrides):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels)
    if before is not None:
        model = before(model) or model  # it may wrap the model (get_peft_model)
    rows = sentiment_rows(tokenizer, float_labels=num_labels == 1)
    settings = {
        "output_dir": str(out),
        "per_device_train_batch_size": 8,
        "max_steps": 6,
        "learning_rate": 1e-3,
        "report_to": [],
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_steps": 1000,
        "disable_tqdm": True,
        "use_cpu": True,
        "seed": 0,
        **overrides,
    }
    return Trainer(
        model=model,
        args=TrainingArguments(**settings),
        train_dataset=rows,
        eval_dataset=rows[:16],
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def train(trainer: Trainer) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # Trainer's end-of-training summary line
        trainer.train()


class At(TrainerCallback):
    """Sends commands through the run's inbox at given optimizer steps (after the step's end), records weights."""

    def __init__(self, cockpit: CockpitCallback, commands: dict[int, str], watch: str | None = None) -> None:
        self.cockpit, self.commands, self.watch = cockpit, commands, watch
        self.weights: dict[int, list[torch.Tensor]] = {}

    def _send(self, step: int) -> None:
        if step in self.commands:
            send_command(self.cockpit.live.run_dir, parse_command(self.commands[step]), "test")

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._record(0, model)
        self._send(0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._record(state.global_step, model)
        self._send(state.global_step)

    def _record(self, step: int, model) -> None:
        if self.watch is not None:
            group = next(g for g in self.cockpit.live.groups if g.name == self.watch)
            self.weights[step] = [p.detach().clone() for p in group.params]


def test_journal_has_the_shape_of_cockpit_train(tiny_model: Path, tmp_path: Path) -> None:
    cockpit = CockpitCallback()
    trainer = make_trainer(tiny_model, tmp_path / "hf", [cockpit], eval_strategy="steps", eval_steps=3)
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    assert (tmp_path / "hf" / "cockpit" / "config.json").exists()

    data = tmp_path / "sentiment.parquet"
    pq.write_table(pq.read_table(SAMPLES / "sentiment.parquet").slice(0, 60), data)
    _, _ = run_engine(data, tmp_path / "engine", tiny_model, max_steps=3)
    reference = read_journal(tmp_path / "engine" / "journal.jsonl")

    def shapes(journal):
        return {e.type: sorted(e.to_dict()) for e in journal if e.type in ("run", "step", "pins", "eval", "end")}

    assert shapes(events) == shapes(reference)
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert [e.step for e in steps] == [1, 2, 3, 4, 5, 6]
    assert list(steps[0].layers) == ["embeddings", "layer.0", "layer.1", "pooler", "head"]
    assert all(s.grad_norm > 0 and s.update_ratio > 0 for s in steps[-1].layers.values())
    run = events[0]
    assert run.type == "run" and run.labels == ["LABEL_0", "LABEL_1"] and run.task == "binary"
    assert run.pins and all(p.text for p in run.pins)  # default pins, text decoded from input_ids
    evals = [e for e in events if e.type == "eval"]
    assert [e.step for e in evals] == [3, 6] and evals[0].rows == 16 and "accuracy" in evals[0].metrics
    assert sum(evals[0].predicted_distribution.values()) == 16
    assert events[-1].type == "end" and events[-1].reason == "finished"
    assert trainer.args.max_grad_norm == 1.0  # given back at the end


def test_freeze_mid_run_is_exact_with_grad_accumulation(tiny_model: Path, tmp_path: Path) -> None:
    cockpit = CockpitCallback()
    at = At(cockpit, {2: "freeze=layer.0"}, watch="layer.0")
    trainer = make_trainer(tiny_model, tmp_path / "hf", [cockpit, at], gradient_accumulation_steps=2)
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    applied = [e for e in events if isinstance(e, CommandApplied)]
    assert [(a.command, a.source, a.result) for a in applied] == [("freeze=layer.0", "test", "froze layer.0")]
    frozen_at = applied[0].step
    assert frozen_at == 2
    assert not all(torch.equal(a, b) for a, b in zip(at.weights[1], at.weights[2]))  # it trained before
    for step in range(frozen_at + 1, 7):
        assert all(torch.equal(a, b) for a, b in zip(at.weights[frozen_at], at.weights[step])), step
    later = [e for e in events if isinstance(e, StepMetrics) and e.step > frozen_at]
    assert later and all(e.layers["layer.0"].frozen and e.layers["layer.0"].update_ratio == 0.0 for e in later)
    assert all(e.layers["layer.1"].update_ratio > 0 for e in later)


def test_unfreezing_a_group_the_optimizer_never_held_trains_it(tiny_model: Path, tmp_path: Path) -> None:
    def freeze_embeddings(model) -> None:
        for param in model.bert.embeddings.parameters():
            param.requires_grad_(False)

    cockpit = CockpitCallback()
    at = At(cockpit, {2: "unfreeze=embeddings"}, watch="embeddings")
    trainer = make_trainer(tiny_model, tmp_path / "hf", [cockpit, at], before=freeze_embeddings)
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    notice = next(e for e in events if isinstance(e, Notice) and e.kind == "not_in_optimizer")
    assert notice.evidence["groups"] == ["embeddings"] and "#21236" in notice.message
    applied = next(e for e in events if isinstance(e, CommandApplied))
    assert applied.result == "unfroze embeddings (embeddings added to the optimizer)"
    assert applied.step == 2
    assert all(torch.equal(a, b) for a, b in zip(at.weights[0], at.weights[2]))  # frozen until then
    assert not all(torch.equal(a, b) for a, b in zip(at.weights[2], at.weights[6]))  # trains after
    steps = {e.step: e for e in events if isinstance(e, StepMetrics)}
    assert steps[2].layers["embeddings"].frozen and steps[2].layers["embeddings"].update_ratio == 0.0
    assert not steps[6].layers["embeddings"].frozen and steps[6].layers["embeddings"].update_ratio > 0


def test_a_peft_model_is_grouped_by_its_base_layers_and_freezes_adapters_exactly(
    tiny_model: Path, tmp_path: Path
) -> None:
    """#22: a get_peft_model model in a Trainer script: per-layer groups, no false notice about the
    head, a freeze sent through the inbox applied exactly, and no unfreeze or full= reaching a base weight."""
    peft = pytest.importorskip("peft")

    def lora(model):
        config = peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"])
        return peft.get_peft_model(model, config)

    cockpit = CockpitCallback()
    at = At(cockpit, {2: "freeze=layer.1", 4: "unfreeze=all", 5: "full=layer.0"}, watch="layer.1")
    trainer = make_trainer(tiny_model, tmp_path / "hf", [cockpit, at], before=lora)
    base = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if not p.requires_grad}
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    start = events[0]
    assert start.layers == ["embeddings", "layer.0", "layer.1", "pooler", "head"]
    assert start.layer_trainable == {"embeddings": 0, "layer.0": 512, "layer.1": 512, "pooler": 0}
    assert start.frozen == ["embeddings", "pooler"] and start.head.outputs == 2
    assert not [e for e in events if isinstance(e, (Notice, Alarm)) and "head" in e.message]
    assert not [e for e in events if isinstance(e, Notice) and e.kind == "not_in_optimizer"]
    applied = [e for e in events if isinstance(e, CommandApplied)]
    assert [(a.step, a.result) for a in applied[:2]] == [
        (2, "froze the adapters of layer.1"),
        (4, "unfroze the adapters of layer.1 (layer.0 already trainable); base weights stay as loaded "
         "(embeddings, pooler have no adapters; full=embeddings would train its base weights)"),
    ]  # fmt: skip
    assert applied[2].result.startswith("refused: full= is for `cockpit train`")
    for step in (3, 4):
        assert all(torch.equal(a, b) for a, b in zip(at.weights[2], at.weights[step])), step
    assert not all(torch.equal(a, b) for a, b in zip(at.weights[4], at.weights[6]))
    after = dict(trainer.model.named_parameters())
    assert all(torch.equal(base[n], after[n]) and not after[n].requires_grad for n in base)
    steps = {e.step: e for e in events if isinstance(e, StepMetrics)}
    assert steps[3].layers["layer.1"].frozen and steps[3].layers["layer.1"].update_ratio == 0.0
    assert steps[3].layers["layer.0"].update_ratio > 0 and steps[6].layers["layer.1"].update_ratio > 0


def test_single_output_head_on_two_classes_alarms_at_train_begin(tiny_model: Path, tmp_path: Path) -> None:
    """Seed 003: a num_labels=1 (regression) head trained on 2-class data."""
    trainer = make_trainer(tiny_model, tmp_path / "hf", [CockpitCallback()], num_labels=1, max_steps=1)
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    alarm = next(e for e in events if isinstance(e, Alarm) and e.kind == "head_mismatch")
    assert alarm.step == 0 and alarm.severity == "error"
    assert events.index(alarm) < next(i for i, e in enumerate(events) if isinstance(e, StepMetrics))
    assert "1 output(s) but the data has 2 labels" in alarm.message and "regression" in alarm.message


def test_a_regression_trainer_shows_scores_not_classes(tiny_model: Path, tmp_path: Path) -> None:
    """problem_type="regression": the cockpit reads a score per row, predicts values, and judges evals by
    MSE, Pearson and Spearman, as `cockpit train` does (no head alarm: one output is right here)."""
    cockpit = CockpitCallback()
    trainer = make_trainer(
        tiny_model, tmp_path / "hf", [cockpit], num_labels=1, max_steps=4, eval_strategy="steps", eval_steps=2
    )
    trainer.model.config.problem_type = "regression"
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    run = next(e for e in events if e.type == "run")
    assert run.task == "regression" and run.labels and run.targets["std"] > 0
    assert not [e for e in events if isinstance(e, Alarm) and e.kind == "head_mismatch"]
    pins = next(e for e in events if e.type == "pins")
    assert all(len(row) == 1 for row in pins.probs)
    evaluation = next(e for e in events if e.type == "eval")
    assert {"mse", "pearson", "spearman"} <= set(evaluation.metrics) and "constant_mse" in evaluation.baselines


def test_clipping_covers_only_the_trainable_gradients(tiny_model: Path, tmp_path: Path) -> None:
    class SeeGrads(TrainerCallback):
        norms: list[float] = []
        frozen_grads: list[bool] = []

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
            self.frozen_grads.append(any(p.grad is not None for p in model.bert.embeddings.parameters()))

    cockpit = CockpitCallback(pins=[5, ("a lovely phone case", "LABEL_1")])
    at = At(cockpit, {0: "freeze=embeddings,layer.0"})
    seen = SeeGrads()
    trainer = make_trainer(tiny_model, tmp_path / "hf", [cockpit, at, seen], max_grad_norm=0.05, max_steps=3)
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert all(s.grad_norm > 0.05 for s in steps)  # measured before clipping
    assert seen.norms == pytest.approx([0.05] * 3, rel=1e-4)  # clipped over the trainable grads only
    assert seen.frozen_grads == [False] * 3
    assert all(s.layers["embeddings"].grad_norm == 0.0 for s in steps)
    pins = events[0].pins
    assert [(p.index, p.targets) for p in pins] == [(5, [0.0, 1.0]), (-2, [0.0, 1.0])]
    assert pins[0].text == "the design was really wonderful. highly recommended."  # decoded: Trainer drops text
    assert pins[1].text == "a lovely phone case"


def test_lr_pause_save_and_stop_through_the_inbox(tiny_model: Path, tmp_path: Path) -> None:
    cockpit = CockpitCallback()
    at = At(cockpit, {1: "lr=1e-4", 2: "pause", 3: "stop"})
    resumed = threading.Timer(0.5, lambda: send_command(cockpit.live.run_dir, parse_command("resume"), "test"))

    class SaveAfterPause(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                resumed.start()
                send_command(cockpit.live.run_dir, parse_command("save"), "test")

    trainer = make_trainer(
        tiny_model, tmp_path / "hf", [cockpit, at, SaveAfterPause()], lr_scheduler_type="constant", max_steps=8
    )
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    steps = {e.step: e for e in events if isinstance(e, StepMetrics)}
    assert steps[1].lr == pytest.approx(1e-3) and steps[2].lr == pytest.approx(1e-4)
    assert [(e.step, e.state) for e in events if e.type == "state"] == [(2, "paused"), (2, "running")]
    saved = next(e for e in events if e.type == "checkpoint")
    assert saved.step == 3 and Path(saved.path, "model.safetensors").exists()
    # sent after step 3 ended, applied before step 4 began: step 4 is the last one taken
    assert events[-1].type == "end" and events[-1].reason == "stopped" and events[-1].step == 4
    assert max(steps) == 4


def test_a_non_finite_gradient_skips_the_update_alarms_and_stops(tiny_model: Path, tmp_path: Path) -> None:
    class PoisonStep3(TrainerCallback):
        """Runs before the cockpit's hook: a NaN gradient in layer.1 at step 3."""

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:  # global_step counts finished steps: this is step 3
                model.bert.encoder.layer[1].output.dense.weight.grad[0, 0] = float("nan")

    cockpit = CockpitCallback()
    at = At(cockpit, {}, watch="layer.1")
    trainer = make_trainer(tiny_model, tmp_path / "hf", [PoisonStep3(), cockpit, at])
    train(trainer)
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    alarm = next(e for e in events if isinstance(e, Alarm) and e.kind == "non_finite")
    assert alarm.step == 3 and alarm.evidence["groups"] == ["layer.1"]
    assert all(torch.equal(a, b) and torch.isfinite(a).all() for a, b in zip(at.weights[2], at.weights[3]))
    assert events[-1].type == "end" and events[-1].reason == "stopped" and "non-finite" in events[-1].message
    assert max(e.step for e in events if isinstance(e, StepMetrics)) == 3


def test_the_callback_tells_a_url_and_samples_the_machine(tiny_model: Path, tmp_path: Path) -> None:
    """`CockpitCallback(notify_url=...)`: every evaluation and the end reach a server on 127.0.0.1,
    `notify=off` through the inbox stops it, and the journal holds the machine's samples."""
    from notify.receiver import receiver

    from cockpit.contract.events import SystemSample

    with receiver() as server:
        cockpit = CockpitCallback(notify_url=server.url, notify_on=["eval", "end"], notify_every=0)
        trainer = make_trainer(tiny_model, tmp_path / "hf", [cockpit], eval_strategy="steps", eval_steps=2)
        at = At(cockpit, {3: "notify=off"})
        trainer.add_callback(at)
        train(trainer)
        told = [(r.json()["kind"], r.json()["event"]["step"]) for r in server.wait_for(1)]
    assert told == [("eval", 2)]  # evals at steps 2, 4, 6 and the end: off from the boundary after step 3
    events = read_journal(tmp_path / "hf" / "cockpit" / "journal.jsonl")
    started = next(e for e in events if e.type == "run")
    assert started.config["notify_url"].endswith("/…") and "secret-token" not in str(started.config)
    samples = [e for e in events if isinstance(e, SystemSample)]
    assert samples and samples[-1].step == 6 and samples[-1].rss_mib > 100 and samples[-1].step_times is None
