"""The pinned rows, predicted as inference predicts them, against the training loss (seed 000:
loss 0.01 in training, yet ~0.3 for every label when the same rows were predicted).

Pinned rows far above the training loss have one of two causes, and the words must say which:
- the inference path differs (seed 000): then *every* pinned row is off, the easy ones too, and no
  evaluation (the same eval-mode path) is good: `predictions_disagree`, a warning;
- these rows are not learned yet (a rare class, half an epoch in: issue #25's 6-class run, where eval
  later reached 0.96 and `pipeline()` reproduced it): other pinned rows agree with the training loss
  through the very same path, which proves the path: `pins_not_learned`, for information.
This is the one place those verdicts are made; the pinned panel shows the alarm instead of judging again.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from cockpit.contract.enums import Severity
from cockpit.contract.events import Alarm, Event, PinnedExample, PinPredictions
from cockpit.diagnostics import advice
from cockpit.diagnostics.base import LatchedRule, RunContext, finite, rounded

PIN_RATIO_TRIGGER = 3.0  # pinned rows' (median) loss this many times the training loss...
PIN_RATIO_RELEASE = 2.0  # ...and back under this to clear; a single row under it "agrees" with the loss
PIN_FLOOR_SHARE = 0.25  # ...and above this share of the constant predictor's loss (not just tiny)
PIN_FLOOR_MIN = 0.05
PIN_EVENTS = 2  # sustained over this many pin updates

INFERENCE_PATH = "inference_path"
NOT_LEARNED = "not_learned"


def pin_agreement(pins: list[PinnedExample], probs: list[list[float]], task: str) -> dict[str, float]:
    """How the pinned rows' probabilities sit against their targets (on-target vs off-target)."""
    on: list[float] = []
    off: list[float] = []
    hits: list[bool] = []
    for pin, row in zip(pins, probs, strict=False):
        if len(row) != len(pin.targets):
            continue
        if task == "multilabel":
            for p, t in zip(row, pin.targets, strict=True):
                (on if t >= 0.5 else off).append(p)
                hits.append((p >= 0.5) == (t >= 0.5))
        else:
            target = max(range(len(row)), key=lambda i: pin.targets[i])
            on.append(row[target])
            off.extend(p for i, p in enumerate(row) if i != target)
            hits.append(max(range(len(row)), key=lambda i: row[i]) == target)
    if not on:
        return {}
    result = {"prob_on_targets": rounded(statistics.fmean(on)), "correct_share": rounded(sum(hits) / len(hits))}
    if off:
        result["prob_off_targets"] = rounded(statistics.fmean(off))
    return result


@dataclass
class PinReading:
    """One pin update against the training loss: what both pin rules judge, read once per update."""

    far: bool  # the pinned rows' median loss is far above the training loss
    near: bool  # ...and back near it (the release side of the hysteresis)
    cause: str  # INFERENCE_PATH or NOT_LEARNED, when far
    evidence: dict[str, Any] = field(default_factory=dict)


def read_pins(ctx: RunContext, event: Event) -> PinReading | None:
    """The reading of a PinPredictions event once the loss means something; None otherwise."""
    train = ctx.loss.ema
    if not (isinstance(event, PinPredictions) and ctx.settled(event.step) and train is not None):
        return None
    losses = [x for x in event.losses if finite(x)]
    if not losses:
        return None
    # The median, not the mean: one mislabelled pin must not speak for all of them.
    pinned = statistics.median(losses)
    floor = max(PIN_FLOOR_MIN, PIN_FLOOR_SHARE * ctx.loss_scale())
    ratio = pinned / max(train, 1e-12)
    # a row predicted (eval mode) about as well as the training loss says: the path works for it
    agrees = [finite(x) and (x < PIN_RATIO_RELEASE * train or x < floor) for x in event.losses]
    pins = ctx.pins[: len(event.losses)]
    evidence: dict[str, Any] = {
        "training_loss": rounded(train),
        "pinned_loss": rounded(pinned),
        "pinned_mean_loss": rounded(event.loss),
        "ratio": rounded(ratio),
        "pinned_losses": [rounded(x) for x in event.losses],
        "floor": rounded(floor),
        "agreeing_rows": [pin.index for pin, ok in zip(pins, agrees) if ok],
        "lagging_rows": [pin.index for pin, ok in zip(pins, agrees) if not ok],
        **pin_agreement(ctx.pins, event.probs, ctx.task),
    }
    path_works = any(agrees) or ctx.eval_good  # an evaluation runs through the same eval-mode path
    if ctx.eval_good:
        evidence["eval_metric"] = ctx.eval_metric
    cause = NOT_LEARNED if path_works else INFERENCE_PATH
    evidence["cause"] = cause
    far = ratio > PIN_RATIO_TRIGGER and pinned > floor
    return PinReading(far=far, near=ratio < PIN_RATIO_RELEASE or pinned < floor, cause=cause, evidence=evidence)


class _PinRule(LatchedRule):
    """Raised when the pinned rows stay far above the training loss for this rule's `cause`."""

    cause = ""

    def observe(self, event: Event) -> list[Alarm]:
        reading = read_pins(self.ctx, event)
        if reading is None:
            return []
        held = self.held.update(reading.far and reading.cause == self.cause)
        # released once back near the training loss, or when the other cause explains the gap now;
        # between the two thresholds neither streak counts (hysteresis)
        gone = self.gone.update(reading.near or (reading.far and reading.cause != self.cause))
        evidence = {**reading.evidence, "pin_updates": held}
        if held >= PIN_EVENTS:
            return self.raised(event, evidence)
        if gone >= PIN_EVENTS:
            return self.latch.release(event, self.released_words(reading), evidence)
        return []

    def raised(self, event: Event, evidence: dict[str, Any]) -> list[Alarm]:
        raise NotImplementedError

    def released_words(self, reading: PinReading) -> str:
        raise NotImplementedError


class PredictionsDisagreeWithLoss(_PinRule):
    """Seed 000: loss 0.01 in training, yet ~0.3 for every label when the same rows are predicted."""

    kind = "predictions_disagree"
    cause = INFERENCE_PATH

    def raised(self, event: Event, evidence: dict[str, Any]) -> list[Alarm]:
        message = advice.predictions_disagree(evidence)
        words = advice.predictions_disagree_advice(evidence)
        return self.latch.raise_(event, Severity.WARNING, message, words, evidence)

    def released_words(self, reading: PinReading) -> str:
        return advice.PREDICTIONS_AGREE if not reading.far else advice.PATH_PROVEN


class PinsNotLearned(_PinRule):
    """Issue #25: a rare class not learned yet at half an epoch is not a broken inference path."""

    kind = "pins_not_learned"
    cause = NOT_LEARNED

    def raised(self, event: Event, evidence: dict[str, Any]) -> list[Alarm]:
        losses = dict(zip((pin.index for pin in self.ctx.pins), evidence["pinned_losses"]))
        lagging = set(evidence["lagging_rows"])
        rows = [(pin.index, self._classes(pin), losses[pin.index]) for pin in self.ctx.pins if pin.index in lagging]
        shares = {
            name: self.ctx.label_shares[name] for _, names, _ in rows for name in names if name in self.ctx.label_shares
        }
        if shares:
            evidence["label_shares"] = shares  # of the latest evaluation's rows (stratified like training)
        message = advice.pins_not_learned(evidence, rows)
        return self.latch.raise_(event, Severity.INFO, message, advice.pins_not_learned_advice(shares), evidence)

    def released_words(self, reading: PinReading) -> str:
        return advice.PINS_LEARNED if not reading.far else advice.PINS_LAG_EVERYWHERE

    def _classes(self, pin: PinnedExample) -> list[str]:
        return [name for name, target in zip(self.ctx.labels, pin.targets) if target >= 0.5]
