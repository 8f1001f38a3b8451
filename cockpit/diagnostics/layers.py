"""A layer group that does not learn (seed 001): zero gradients, no update, or a head left behind."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from cockpit.contract.events import Alarm, Event, LayerStats, StepMetrics
from cockpit.diagnostics import advice
from cockpit.diagnostics.base import LatchedRule, RunContext, Streak, finite, rounded

UPDATE_FLOOR = 1e-7  # update/weight below this per step: float32 noise, the group is not moving
UPDATE_RELEASE = 1e-6
HEAD_LAG = 0.01  # a head moving 100x less than the body's median group barely moves
HEAD_LAG_RELEASE = 0.03
STALL_STEPS = 20
RECOVER_STEPS = 5
LR_TAIL = 0.05  # steps with lr below 5% of its peak (a schedule's end) prove nothing


@dataclass
class _GroupState:
    quiet: Streak = field(default_factory=Streak)
    moving: Streak = field(default_factory=Streak)
    reason: str = ""
    stats: LayerStats | None = None


class LayerNotLearning(LatchedRule):
    """A trainable group whose weights do not move: zero gradients, no step, or a head left behind."""

    kind = "layer_not_learning"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._groups: dict[str, _GroupState] = {}
        self._raised: list[str] = []
        self._peak_lr = 0.0

    def observe(self, event: Event) -> list[Alarm]:
        if not (isinstance(event, StepMetrics) and finite(event.loss) and finite(event.grad_norm)):
            return []  # a non-finite step was skipped: its zero updates say nothing about learning
        self._peak_lr = max(self._peak_lr, event.lr if finite(event.lr) else 0.0)
        if not self.ctx.settled(event.step) or event.lr < LR_TAIL * self._peak_lr:
            return []
        body = self._body_median(event.layers)
        for name, stats in event.layers.items():
            self._update_group(name, stats, body)
        stalled = [n for n, g in self._groups.items() if g.quiet.count >= STALL_STEPS]
        if stalled and not self.latch.active:
            self._raised = stalled
            return self._raise(event, stalled, body)
        if self.latch.active and all(self._recovered(n) for n in self._raised):
            return self.latch.release(event, advice.learning_again(self._raised))
        return []

    def _body_median(self, layers: dict[str, LayerStats]) -> float | None:
        ratios = [
            s.update_ratio
            for n, s in layers.items()
            if not s.frozen and n != self.ctx.head_group and finite(s.update_ratio)
        ]
        return statistics.median(ratios) if ratios else None

    def _update_group(self, name: str, stats: LayerStats, body: float | None) -> None:
        if stats.frozen:
            self._groups.pop(name, None)
            return
        state = self._groups.setdefault(name, _GroupState())
        reason = self._stall_reason(name, stats, body)
        state.quiet.update(bool(reason))
        state.moving.update(self._is_moving(name, stats, body))
        if reason:
            state.reason, state.stats = reason, stats

    def _stall_reason(self, name: str, stats: LayerStats, body: float | None) -> str:
        if stats.grad_norm == 0:
            return "zero_gradient"
        if finite(stats.update_ratio) and stats.update_ratio < UPDATE_FLOOR:
            return "no_update"
        if name == self.ctx.head_group and body and stats.update_ratio < HEAD_LAG * body:
            return "head_lags"
        return ""

    def _is_moving(self, name: str, stats: LayerStats, body: float | None) -> bool:
        if stats.grad_norm == 0 or not (finite(stats.update_ratio) and stats.update_ratio >= UPDATE_RELEASE):
            return False
        return not (name == self.ctx.head_group and body and stats.update_ratio < HEAD_LAG_RELEASE * body)

    def _recovered(self, name: str) -> bool:
        state = self._groups.get(name)
        return state is None or state.moving.count >= RECOVER_STEPS

    def _raise(self, event: StepMetrics, stalled: list[str], body: float | None) -> list[Alarm]:
        groups = {}
        for name in stalled:
            state = self._groups[name]
            assert state.stats is not None
            groups[name] = {
                "reason": state.reason,
                "steps": state.quiet.count,
                "update_ratio": rounded(state.stats.update_ratio),
                "grad_norm": rounded(state.stats.grad_norm),
            }
        evidence: dict[str, Any] = {"groups": groups, "lr": event.lr, "update_floor": UPDATE_FLOOR}
        if body is not None:
            evidence["body_median_update_ratio"] = rounded(body)
        reasons = {g["reason"] for g in groups.values()}
        message = advice.not_learning(stalled, groups, body, UPDATE_FLOOR)
        return self.latch.raise_(event, "warning", message, advice.not_learning_advice(reasons), evidence)
