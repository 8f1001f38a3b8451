"""The loss judgements every part shows: the smoothed training loss and its noise, made in one place.

The diagnostics judge trend, noise and rise from these numbers, the cockpit draws them and the
headless progress line prints them; all three fold the same `LossTracker` over the same steps,
so the smoothed loss on screen is the one an alarm quotes.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

# The smoothed loss is an EMA with this span: it follows a change of trend within ~20 steps.
LOSS_SPAN = 20
# Trend, noise and rise are judged over this many steps (about what a person reads off a chart).
LOSS_WINDOW = 50


class LossTracker:
    """The smoothed training loss and the loss noise over the last `window` steps, O(1) a step.

    The smoothed loss starts on the first finite loss (no start-up bias to correct). The residual
    of a step is its raw loss minus the smoothed loss before it; running sums over a bounded deque
    give the residuals' spread without going over the window each step.
    """

    def __init__(self, span: int = LOSS_SPAN, window: int = LOSS_WINDOW) -> None:
        self._alpha = 2.0 / (span + 1)
        self.window = window
        self.ema: float | None = None
        self.first: float | None = None
        self.count = 0
        self._smoothed: deque[float] = deque(maxlen=window + 1)
        self._residuals: deque[float] = deque(maxlen=window)
        self._sum = 0.0
        self._sum_sq = 0.0
        self._pushes = 0

    def add(self, loss: float) -> float | None:
        """Take one step's loss and return the smoothed loss; a NaN/inf step is left out."""
        if not math.isfinite(loss):
            return self.ema
        self.count += 1
        if self.ema is None:
            self.ema = self.first = loss
        else:
            residual = loss - self.ema
            self._push_residual(residual)
            self.ema += self._alpha * residual
        self._smoothed.append(self.ema)
        return self.ema

    def _push_residual(self, residual: float) -> None:
        if len(self._residuals) == self._residuals.maxlen:
            old = self._residuals[0]
            self._sum -= old
            self._sum_sq -= old * old
        self._residuals.append(residual)
        self._sum += residual
        self._sum_sq += residual * residual
        self._pushes += 1
        if self._pushes % self.window == 0:  # resum now and then: running sums drift over long runs
            self._sum = math.fsum(self._residuals)
            self._sum_sq = math.fsum(r * r for r in self._residuals)

    @property
    def full(self) -> bool:
        """True once a whole window of smoothed values and residuals is held."""
        return len(self._smoothed) == self._smoothed.maxlen

    def noise(self) -> float:
        """Standard deviation of the raw loss around the smoothed curve over the window."""
        n = len(self._residuals)
        if n < 2:
            return 0.0
        mean = self._sum / n
        return math.sqrt(max(self._sum_sq / n - mean * mean, 0.0))

    def shown_noise(self) -> float | None:
        """The noise as a panel shows it: None until there are two residuals to spread."""
        return self.noise() if len(self._residuals) >= 2 else None

    def smoothed_noise(self) -> float:
        """How much the smoothed curve itself wobbles from noise alone (std of an EMA of it)."""
        return self.noise() * math.sqrt(self._alpha / (2 - self._alpha))

    def window_start(self) -> float:
        """The smoothed loss `window` steps ago."""
        return self._smoothed[0]

    def window_drop(self) -> float:
        """How much the smoothed loss fell over the window (negative when it rose)."""
        return self._smoothed[0] - self._smoothed[-1]

    def to_dict(self) -> dict[str, Any]:
        """The whole state, exactly (a run's summary file keeps it, so a client goes on from it)."""
        return {
            "alpha": self._alpha,
            "window": self.window,
            "ema": self.ema,
            "first": self.first,
            "count": self.count,
            "smoothed": list(self._smoothed),
            "residuals": list(self._residuals),
            "sum": self._sum,
            "sum_sq": self._sum_sq,
            "pushes": self._pushes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LossTracker:
        tracker = cls(window=int(data["window"]))
        tracker._alpha = float(data["alpha"])
        tracker.ema, tracker.first, tracker.count = data["ema"], data["first"], int(data["count"])
        tracker._smoothed.extend(float(v) for v in data["smoothed"])
        tracker._residuals.extend(float(v) for v in data["residuals"])
        tracker._sum, tracker._sum_sq, tracker._pushes = float(data["sum"]), float(data["sum_sq"]), int(data["pushes"])
        return tracker
