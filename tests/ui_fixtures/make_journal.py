"""Write tests/ui_fixtures/journal.jsonl: a small, fixed, realistic run for the UI tests.

A multilabel run (15 labels, 6 layer groups, 3 pinned rows, 60 steps, 2 evals) shaped like seed
000: the training loss falls fast while the pinned examples' predictions lag behind, the real
diagnostics say so, a user freezes the embeddings and pauses once. Run it again only to change the
fixture (the snapshots depend on it): `python tests/ui_fixtures/make_journal.py`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from cockpit.contract.events import (
    CheckpointSaved,
    CommandApplied,
    EvalResult,
    LayerStats,
    Notice,
    PinnedExample,
    PinPredictions,
    RunEnded,
    RunStarted,
    StateChanged,
    StepMetrics,
)
from cockpit.contract.stream import EventStream
from cockpit.diagnostics import Diagnostics
from cockpit.rundir.journal import JournalWriter

HERE = Path(__file__).resolve().parent
JOURNAL = HERE / "journal.jsonl"
T0 = 1_700_000_000.0
STEPS = 60
LABELS = [
    "race", "gender", "age", "disability", "religion", "sexual_orientation", "ethnicity", "nationality",
    "socioeconomic", "bias", "inclusion", "equity", "diversity", "representation", "accessibility",
]  # fmt: skip
LAYERS = ["embeddings", "layer.0", "layer.1", "layer.2", "layer.3", "head"]
PARAMS = {
    "embeddings": 3_906_048,
    "layer.0": 1_771_776,
    "layer.1": 1_771_776,
    "layer.2": 1_771_776,
    "layer.3": 1_771_776,
    "head": 5_775,
}
PIN_ROWS = [
    (
        17,
        "Our hiring panel was all men again, and the one older applicant was told she would not fit the culture.",
    ),
    (
        42,
        "The new ramps and captioned videos mean staff who use wheelchairs or are deaf can join every meeting.",
    ),
    (
        103,
        "Pay bands are published so that nobody's salary depends on where they grew up or which school they attended.",
    ),
]


def _targets(rng: random.Random) -> list[float]:
    chosen = set(rng.sample(range(len(LABELS)), rng.randint(4, 6)))
    return [1.0 if k in chosen else 0.0 for k in range(len(LABELS))]


def events() -> list:
    rng = random.Random(7)
    pins = [PinnedExample(index=i, text=t, targets=_targets(rng)) for i, t in PIN_ROWS]
    out: list = []

    def at(step: int, offset: float = 0.0) -> float:
        return round(T0 + 2.0 + step * 0.5 + offset, 3)

    out.append(
        RunStarted(
            step=0,
            time=T0,
            model="runs/models/distilroberta-base",
            task="multilabel",
            labels=LABELS,
            layers=LAYERS,
            layer_params=PARAMS,
            pins=pins,
            device="cuda:0 (torch.bfloat16)",
            config={
                "lr": 5e-5,
                "batch_size": 8,
                "grad_accum": 2,
                "effective_batch": 16,
                "epochs": 2.0,
                "warmup_steps": 6,
            },
            total_steps=STEPS,
            steps_per_epoch=30,
            run_dir="runs/20240501-101500-dei",
            train_rows=480,
            eval_rows=60,
            constant_loss=0.5623,
            frozen=[],
            head={
                "outputs": 15,
                "problem_type": "multi_label_classification",
                "reinitialised": True,
                "reason": "checkpoint had 3 outputs, data has 15",
            },
        )
    )
    out.append(
        Notice(
            step=0,
            time=T0 + 0.1,
            kind="head_reinitialised",
            message="classification head re-initialised: checkpoint had 3 outputs, data has 15",
        )
    )
    frozen: set[str] = set()
    pin_probs = [[0.5] * len(LABELS) for _ in pins]
    for step in range(1, STEPS + 1):
        if step == 11:
            frozen.add("embeddings")
            out.append(CommandApplied(step=10, time=at(10, 0.3), command="freeze=embeddings", source="ui", result="ok"))
        if step == 26:
            out.append(StateChanged(step=25, time=at(25, 0.1), state="paused", reason="ui"))
            out.append(StateChanged(step=25, time=at(25, 0.2), state="running", reason="ui"))
        warm = min(step / 6, 1.0)
        lr = 5e-5 * warm * (1 if step <= 6 else (STEPS - step) / (STEPS - 6) + 0.02)
        loss = 0.69 * math.exp(-step / 14) + 0.04 + rng.uniform(-0.06, 0.06) * math.exp(-step / 40)
        layers = {}
        for depth, name in enumerate(LAYERS):
            is_frozen = name in frozen
            grad = 0.0 if is_frozen else round((0.2 + 0.15 * depth) * math.exp(-step / 50) * rng.uniform(0.7, 1.3), 5)
            ratio = 0.0 if is_frozen else round(lr * (8 + 30 * (name == "head")) * rng.uniform(0.8, 1.2), 9)
            layers[name] = LayerStats(
                grad_norm=grad, weight_norm=round(40 + depth * 3.1, 3), update_ratio=ratio, frozen=is_frozen
            )
        total = round(math.sqrt(sum(s.grad_norm**2 for s in layers.values())), 5)
        out.append(
            StepMetrics(
                step=step,
                time=at(step),
                epoch=round(step / 30, 4),
                loss=round(loss, 5),
                lr=lr,
                samples_per_s=round(31.5 + rng.uniform(-1.5, 1.5), 2),
                # one overflowing step: the non_finite alarm raises at 12 and clears 5 finite steps later
                grad_norm=math.inf if step == 12 else total,
                layers=layers,
                micro_batch=8,
                effective_batch=16,
            )
        )
        if step == 12:  # the engine pauses on a non-finite step; the user resumes
            why = "non-finite gradient norm at step 12: update skipped, weights are the last good ones"
            out.append(StateChanged(step=12, time=at(12, 0.1), state="paused", reason=why))
            out.append(StateChanged(step=12, time=at(12, 0.2), state="running", reason="ui"))
        if step % 2 == 0:  # pins refresh every ~2 s, as the engine's default cadence does
            progress = step / STEPS
            for p, pin in enumerate(pins):
                for k, target in enumerate(pin.targets):
                    # predictions drift only slowly from 0.5 toward ~0.3 for every label (seed 000)
                    aim = 0.28 + (0.25 * target if p == 1 else 0.08 * target)
                    pin_probs[p][k] = round(0.5 + (aim - 0.5) * progress + rng.uniform(-0.03, 0.03), 4)
            losses = [
                round(
                    -sum(
                        t * math.log(q) + (1 - t) * math.log(1 - q)
                        for t, q in zip(pin.targets, pin_probs[p], strict=True)
                    )
                    / len(LABELS),
                    5,
                )
                for p, pin in enumerate(pins)
            ]
            out.append(
                PinPredictions(
                    step=step,
                    time=at(step, 0.2),
                    probs=[list(r) for r in pin_probs],
                    losses=losses,
                    loss=round(sum(losses) / len(losses), 5),
                )
            )
        if step in (30, 60):
            good = step == 60
            f1_at_half = {
                label: round(0.1 + 0.5 * ((k * 7) % 11) / 10 * (1.0 if good else 0.6), 3)
                for k, label in enumerate(LABELS)
            }
            out.append(
                EvalResult(
                    step=step,
                    time=at(step, 0.4),
                    epoch=step / 30,
                    loss=0.43 if good else 0.52,
                    metrics={
                        "accuracy": 0.1167 if good else 0.05,
                        "micro_f1": 0.412 if good else 0.301,
                        "macro_f1": 0.287 if good else 0.190,
                    },
                    per_label_f1=f1_at_half,
                    predicted_distribution={label: (k * 5) % 17 + (3 if good else 0) for k, label in enumerate(LABELS)},
                    true_distribution={label: (k * 3) % 13 + 6 for k, label in enumerate(LABELS)},
                    baselines={"majority_accuracy": 0.05, "constant_loss": 0.5701},
                    rows=60,
                    # lower thresholds help most labels: the predictions sit around 0.3 (seed 000)
                    thresholds={
                        label: {
                            "threshold": round(0.2 + 0.05 * (k % 5), 2),
                            "f1": round(max(f1_at_half[label], 0.3 + 0.03 * k), 3),
                            "f1_at_half": f1_at_half[label],
                        }
                        for k, label in enumerate(LABELS)
                    },
                )
            )
        if step == 30:
            out.append(CheckpointSaved(step=30, time=at(30, 0.6), path="runs/20240501-101500-dei/checkpoints/step-30"))
    out.append(CheckpointSaved(step=60, time=at(60, 0.7), path="runs/20240501-101500-dei/checkpoints/step-60"))
    out.append(
        RunEnded(
            step=60,
            time=at(60, 0.9),
            reason="finished",
            model_dir="runs/20240501-101500-dei/model",
            checkpoint="runs/20240501-101500-dei/checkpoints/step-60",
        )
    )
    return out


def main() -> None:
    """The alarms come from the real rules, in the order the event stream journals them."""
    JOURNAL.unlink(missing_ok=True)
    writer = JournalWriter(JOURNAL, summary=False)  # a fixture: the tests read it whole
    stream = EventStream(journal=writer)
    stream.producers.append(Diagnostics())
    for event in events():
        stream.emit(event)
    writer.close()
    print(f"wrote {JOURNAL}")


if __name__ == "__main__":
    main()
