"""The pinned predictions' cadence: every ~2 s of wall time within a 3% share, cold call free."""

from __future__ import annotations

from cockpit.training.pins import PinCadence


def test_cadence_follows_the_interval_and_the_budget_not_the_cold_first_call() -> None:
    cadence = PinCadence(budget=0.03, interval_s=2.0)
    assert cadence.due(0.0)  # nothing predicted yet
    cadence.predicted(0.5, now=0.0)  # cold: lazy init, ten times a warm call
    cadence.trained(2.0)
    assert not cadence.due(1.0)  # too soon
    assert cadence.due(2.1)  # the cold cost is not charged (0.5 s would need 17 s of training)
    cadence.predicted(0.05, now=2.1)  # warm: this is the cost from now on
    cadence.trained(1.0)
    assert not cadence.due(4.2)  # 0.05 s is more than 3% of 1 s of training
    cadence.trained(1.0)
    assert cadence.due(4.2)  # 3% of 2 s pays for it
    assert cadence.trained_since == 2.0
    cadence.predicted(0.05, now=4.3)
    assert cadence.trained_since == 0.0 and cadence.cost_s == 0.05
