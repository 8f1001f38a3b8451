"""When to predict the pinned examples again: often enough to watch, cheap enough not to notice.

The promise is that the gap between the training loss and what the model predicts is visible
while the run is in progress, so the pins are predicted at least every `interval_s` of wall time
(and at every eval), as long as predicting them takes no more than `budget` of the training time
since the last prediction. The cost charged is the steady-state one: the first call after the
model is built pays for lazy initialisation (kernels, allocator, tokenizer caches) and can cost
ten times a warm call, which under a per-interval budget bought tens of seconds of silence.
"""

from __future__ import annotations

DEFAULT_INTERVAL_S = 2.0
DEFAULT_BUDGET = 0.01  # as RunConfig.pin_budget: 3% was most of what a step cost beside HF Trainer's


class PinCadence:
    """Decides, at each step boundary, whether the pinned predictions are due.

    Feed it the training seconds of each step (`trained`) and the cost of each prediction
    (`predicted`); ask `due(now)` with a monotonic clock. Pure bookkeeping: no torch, no clock of
    its own, so it can be tested without training.
    """

    def __init__(self, budget: float = DEFAULT_BUDGET, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.budget = budget
        self.interval_s = interval_s
        self.cost_s: float | None = None  # steady-state cost of one prediction (None: only cold calls so far)
        self.calls = 0
        self.last_at: float | None = None  # when the last prediction ended (monotonic seconds)
        self.trained_since = 0.0  # training seconds since then

    def trained(self, seconds: float) -> None:
        self.trained_since += seconds

    def predicted(self, seconds: float, now: float) -> None:
        """Record a prediction that took `seconds` and ended at `now`."""
        self.calls += 1
        if self.calls > 1:  # the first call is cold: never charged
            self.cost_s = seconds if self.cost_s is None else 0.5 * self.cost_s + 0.5 * seconds
        self.last_at = now
        self.trained_since = 0.0

    def due(self, now: float) -> bool:
        """At least `interval_s` since the last prediction, and the budget pays for the next one."""
        if self.last_at is None:
            return True
        if now - self.last_at < self.interval_s:
            return False
        return self.cost_s is None or self.cost_s <= self.budget * self.trained_since
