"""The pinned rows, predicted as inference predicts them, against the training loss (seed 000:
loss 0.01 in training, yet ~0.3 for every label when the same rows were predicted).

This is the one place the "predictions lag the loss" verdict is made; the pinned panel shows the
alarm it raises instead of judging again.
"""

from __future__ import annotations

import statistics

from cockpit.contract.events import Alarm, Event, PinnedExample, PinPredictions
from cockpit.diagnostics import advice
from cockpit.diagnostics.base import LatchedRule, finite, rounded

PIN_RATIO_TRIGGER = 3.0  # pinned rows' loss this many times the training loss...
PIN_RATIO_RELEASE = 2.0
PIN_FLOOR_SHARE = 0.25  # ...and above this share of the constant predictor's loss (not just tiny)
PIN_FLOOR_MIN = 0.05
PIN_EVENTS = 2  # sustained over this many pin updates


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


class PredictionsDisagreeWithLoss(LatchedRule):
    """Seed 000: loss 0.01 in training, yet ~0.3 for every label when the same rows are predicted."""

    kind = "predictions_disagree"

    def observe(self, event: Event) -> list[Alarm]:
        train = self.ctx.loss.ema
        if not (isinstance(event, PinPredictions) and self.ctx.settled(event.step) and train is not None):
            return []
        losses = [x for x in event.losses if finite(x)]
        if not losses:
            return []
        # The median, not the mean: one mislabelled pin must not speak for all of them.
        pinned = statistics.median(losses)
        floor = max(PIN_FLOOR_MIN, PIN_FLOOR_SHARE * self.ctx.loss_scale())
        ratio = pinned / max(train, 1e-12)
        far = self.held.update(ratio > PIN_RATIO_TRIGGER and pinned > floor)
        near = self.gone.update(ratio < PIN_RATIO_RELEASE or pinned < floor)
        evidence = {
            "training_loss": rounded(train),
            "pinned_loss": rounded(pinned),
            "pinned_mean_loss": rounded(event.loss),
            "ratio": rounded(ratio),
            "pinned_losses": [rounded(x) for x in event.losses],
            "floor": rounded(floor),
            "pin_updates": far,
            **pin_agreement(self.ctx.pins, event.probs, self.ctx.task),
        }
        if far >= PIN_EVENTS:
            message = advice.predictions_disagree(train, pinned, ratio, far)
            return self.latch.raise_(event, "warning", message, advice.predictions_disagree_advice(evidence), evidence)
        if near >= PIN_EVENTS:
            return self.latch.release(event, advice.PREDICTIONS_AGREE, evidence)
        return []
