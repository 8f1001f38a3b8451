"""Rules over the training loss: too noisy to read (seed 002), not a finite number, rising.

All three read the one `LossTracker` in the run context (cockpit.judgements), so the smoothed
loss and the noise they quote are the numbers the cockpit draws.
"""

from __future__ import annotations

import math
from collections import deque

from cockpit.contract.events import Alarm, EvalResult, Event, StepMetrics
from cockpit.diagnostics import advice
from cockpit.diagnostics.base import LatchedRule, RunContext, finite, rounded
from cockpit.diagnostics.judgements import LOSS_WINDOW

NOISE_FLOOR = 0.15  # noise below 15% of the constant predictor's loss does not hide a chart's trend
NOISE_RELEASE_FLOOR = 0.10  # released only once the steps themselves calm down: a steep trend for a
# while does not make a batch of one less noisy (a real run released and raised again that way)
NOISE_STEPS = LOSS_WINDOW // 2  # the condition holds for half a window before it is raised...
# ...and the calm for two windows before it is released: the batch size, the cause, does not change
# within a run, and a model hovering at p=0.5 gives every row the same loss for a while (a real
# batch-1 run had quiet stretches of 35-66 steps between noisy ones)
NOISE_RELEASE_STEPS = 2 * LOSS_WINDOW


class NoisyLoss(LatchedRule):
    """Seed 002: batch 8 across GPUs; the loss jumps so much its trend cannot be read.

    Not on a run whose evaluations are good and holding: once a small-batch run converges, single
    steps scatter more than the curve still falls almost always (2 of 7 healthy SST-2 runs at eval
    accuracy 0.84-0.86 raised it late and never released), and then the noise is only on the chart.
    """

    kind = "noisy_loss"

    def observe(self, event: Event) -> list[Alarm]:
        if isinstance(event, EvalResult) and self.ctx.eval_good:
            self.held.reset()
            return self.latch.release(event, advice.noise_only_on_chart(self.ctx.task, self.ctx.eval_metric))
        if not self.ctx.loss_window_ready(event):
            return []
        assert isinstance(event, StepMetrics)
        tracker = self.ctx.loss
        noise, drop, scale = tracker.noise(), tracker.window_drop(), self.ctx.loss_scale()
        noisy = self.held.update(noise > max(drop, 0.0) and noise > NOISE_FLOOR * scale)
        calm = self.gone.update(noise < NOISE_RELEASE_FLOOR * scale)
        evidence = {
            "noise": rounded(noise),
            "drop": rounded(drop),
            "window": LOSS_WINDOW,
            "loss_scale": rounded(scale),
            "effective_batch": event.effective_batch,
            "micro_batch": event.micro_batch,
            "lr": event.lr,
        }
        if noisy >= NOISE_STEPS and not self.ctx.eval_good:
            batch, micro = event.effective_batch, max(event.micro_batch, 1)
            accum = max(batch // micro, 1)
            message = advice.noisy_loss(evidence["noise"], evidence["drop"], batch, micro, accum)
            words = advice.noisy_loss_advice(batch, accum, event.lr, self.ctx.peak_lr)
            return self.latch.raise_(event, "warning", message, words, evidence)
        if calm >= NOISE_RELEASE_STEPS:
            return self.latch.release(event, advice.NOISE_CLEARED, evidence)
        return []


FINITE_RECOVER_STEPS = 5
RISE_TRIGGER = 0.20  # smoothed loss up 20% over the window...
RISE_FLOOR = 0.05  # ...and by 5% of the constant predictor's loss (tiny losses swing by 20% alone)
RISE_SIGMAS = 2.5  # ...and by 2.5 standard deviations of the smoothed curve's own wobble: after an lr jump a real
# rise is 5-7 of them, a batch-1 run rose 20% on noise alone by about 1 (4 missed some real jumps)
RISE_RELEASE = 0.05
RISE_STEPS = 10
# A loss that explodes at once (lr 0.9, no warmup, no clipping: 17.8 against a constant guess's 0.69)
# must not wait for the smoothed window (warmup + 60 steps). Until that window is ready, EXPLODE_STEPS
# raw steps out of the last EXPLODE_WINDOW above EXPLODE_FACTOR times what an untrained head scores
# (the constant guess's loss, or chance: ln(classes), ln 2 per label) raise the alarm. A healthy start
# sits at 1-1.5x; the tiny test model at lr 0.9 went 0.69, 0.02, 1.6, 35, 11, 0.6, 6.7, 23 (two above
# 4x by step 5; one lone spike is a bad batch).
EXPLODE_FACTOR = 4.0
EXPLODE_STEPS = 2
EXPLODE_WINDOW = 5


class NonFiniteLoss(LatchedRule):
    """NaN or inf in the loss or the gradient: the update is lost; say why and what to change."""

    kind = "non_finite"

    def observe(self, event: Event) -> list[Alarm]:
        if not isinstance(event, StepMetrics):
            return []
        steps = self.gone.update(finite(event.loss) and finite(event.grad_norm))
        if steps:
            if steps >= FINITE_RECOVER_STEPS:
                evidence = {"loss": event.loss, "grad_norm": event.grad_norm}
                return self.latch.release(event, advice.finite_again(steps), evidence)
            return []
        what = "loss" if not finite(event.loss) else "gradient norm"
        value = event.loss if what == "loss" else event.grad_norm
        groups = [name for name, s in event.layers.items() if not finite(s.grad_norm)]
        smoothed = self.ctx.loss.ema
        evidence = {
            "loss": event.loss,
            "grad_norm": event.grad_norm,
            "lr": event.lr,
            "groups": groups,
            "smoothed_loss_before": rounded(smoothed) if smoothed is not None else None,
        }
        message = advice.non_finite(event.step, what, value, groups)
        return self.latch.raise_(event, "error", message, advice.non_finite_advice(event.lr), evidence)


class LossRising(LatchedRule):
    """After warmup the training loss should not climb; a steady climb is the lead-up to divergence."""

    kind = "loss_rising"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._recent: deque[bool] = deque(maxlen=EXPLODE_WINDOW)
        self._exploded = False

    def _explosion(self, event: Event) -> list[Alarm]:
        """The fast path: far above an untrained head's loss, before the smoothed window can judge a trend."""
        if not isinstance(event, StepMetrics) or not math.isfinite(event.loss) or self.ctx.loss_window_ready(event):
            return []
        reference = self.ctx.untrained_loss()
        self._recent.append(event.loss > EXPLODE_FACTOR * reference)
        if self._recent[-1] and sum(self._recent) >= EXPLODE_STEPS and not self.latch.active:
            self._exploded = True
            evidence = {"loss": event.loss, "untrained_loss": rounded(reference), "lr": event.lr}
            evidence["steps"] = sum(self._recent)
            message = advice.loss_exploded(
                event.step, event.loss, reference, sum(self._recent), len(self._recent), EXPLODE_FACTOR
            )
            return self.latch.raise_(event, "error", message, advice.loss_exploded_advice(event.lr), evidence)
        return []

    def observe(self, event: Event) -> list[Alarm]:
        exploded = self._explosion(event)
        if exploded or self._exploded:
            return exploded  # released only by a new run (a lower lr), never by a flat exploded loss
        tracker = self.ctx.loss
        if not self.ctx.loss_window_ready(event) or tracker.ema is None:
            return []
        assert isinstance(event, StepMetrics)
        start, now = tracker.window_start(), tracker.ema
        rise = now - start
        wobble = tracker.smoothed_noise()
        rising = self.held.update(
            rise > RISE_TRIGGER * start and rise > RISE_FLOOR * self.ctx.loss_scale() and rise > RISE_SIGMAS * wobble
        )
        flat = self.gone.update(rise < RISE_RELEASE * start)
        evidence = {
            "smoothed_loss": rounded(now),
            "smoothed_loss_before": rounded(start),
            "window": LOSS_WINDOW,
            "rise": rounded(rise / start) if start > 0 else None,
            "smoothed_wobble": rounded(wobble),
            "lr": event.lr,
            "constant_loss": self.ctx.constant_loss,
        }
        if rising >= RISE_STEPS:
            above = self.ctx.constant_loss is not None and now > self.ctx.constant_loss
            message = advice.loss_rising(start, now, above)
            return self.latch.raise_(event, "warning", message, advice.loss_rising_advice(event.lr), evidence)
        if flat >= RISE_STEPS:
            return self.latch.release(event, advice.LOSS_STOPPED_RISING, evidence)
        return []
