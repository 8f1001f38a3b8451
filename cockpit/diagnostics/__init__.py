"""Rules over the event stream that name a problem while the run is still going.

Each rule answers a problem people have met: a head that cannot fit the labels, predictions
collapsed to one class, a low training loss whose predictions are still wrong, a layer that does
not learn, a loss too noisy to read, and a run that diverges. One module per family of rules
(`setup`, `evaluation`, `pins`, `layers`, `loss`), what they share in `base`, their words in
`advice`.

`Diagnostics` is a producer on the event stream: called with each event, it returns the alarms
(and its own notices) that event caused; it never emits anything itself, so the stream decides
their order and a replayed journal gives the same alarms as the live run. It runs in the training
thread for every event, so each rule is O(1) per step: the loss is summarised by one `LossTracker`
(cockpit.judgements), never by going over the whole history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from cockpit.contract.events import Alarm, Event, Notice
from cockpit.diagnostics.base import MIN_SETTLE_STEPS, Latch, LatchedRule, Rule, RunContext, Streak
from cockpit.diagnostics.evaluation import ClassNeverPredicted, CollapseToOneClass, ThresholdsBeatHalf
from cockpit.diagnostics.judgements import LOSS_WINDOW, LossTracker
from cockpit.diagnostics.layers import STALL_STEPS, LayerNotLearning
from cockpit.diagnostics.loss import LossRising, NoisyLoss, NonFiniteLoss
from cockpit.diagnostics.pins import PredictionsDisagreeWithLoss
from cockpit.diagnostics.setup import HeadFitsLabels, LabelFormat, TargetScale

__all__ = [
    "LOSS_WINDOW",
    "MIN_SETTLE_STEPS",
    "RULES",
    "STALL_STEPS",
    "Diagnostics",
    "Latch",
    "LatchedRule",
    "LossTracker",
    "Rule",
    "RunContext",
    "Streak",
]

log = logging.getLogger(__name__)

RULES: tuple[Callable[[RunContext], Rule], ...] = (
    HeadFitsLabels,
    LabelFormat,
    TargetScale,
    CollapseToOneClass,
    ClassNeverPredicted,
    PredictionsDisagreeWithLoss,
    LayerNotLearning,
    NoisyLoss,
    NonFiniteLoss,
    LossRising,
    ThresholdsBeatHalf,
)


class Diagnostics:
    """A producer on the event stream: `diagnostics(event)` returns the Alarm events it causes.

    A rule that raises an exception is switched off (with one Notice saying so) rather than allowed
    to break the training loop.
    """

    def __init__(self, rules: Iterable[Callable[[RunContext], Rule]] = RULES) -> None:
        self.context = RunContext()
        self.rules: list[Rule] = [make(self.context) for make in rules]
        self._broken: set[str] = set()

    def __call__(self, event: Event) -> list[Event]:
        if isinstance(event, Alarm):
            return []  # alarms (ours among them, when the stream hands them round) are outputs, not evidence
        out: list[Event] = []
        try:
            self.context.observe(event)
        except Exception as exc:  # an odd event must not detach the diagnostics from the run
            out.append(self._failed("run context", event, exc, "that event is skipped"))
        for rule in self.rules:
            if rule.kind in self._broken:
                continue
            try:
                raised = rule.observe(event)
            except Exception as exc:  # a diagnostics bug must not stop the training run
                self._broken.add(rule.kind)
                out.append(self._failed(rule.kind, event, exc, "the check is switched off"))
                continue
            for alarm in raised:  # so that advice points only to alarms that are up
                (self.context.active.add if alarm.active else self.context.active.discard)(alarm.kind)
            out.extend(raised)
        return out

    def _failed(self, what: str, event: Event, exc: Exception, outcome: str) -> Notice:
        log.exception("diagnostics: %s failed on a %s event", what, event.type)
        return Notice(
            step=event.step,
            kind="diagnostics_error",
            message=f"Diagnostics: '{what}' failed on a {event.type} event ({exc!r}); {outcome}.",
        )
