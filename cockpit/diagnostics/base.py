"""What every rule shares: the run's context, the streak that counts, the latch that raises once.

A rule owns one alarm kind and one `Latch`, so it raises once and releases once: triggers and
releases use different thresholds (hysteresis) and a `Streak` of steps or evaluations, so that
noise near a threshold does not make an alarm blink. Rules that look at the loss wait for warmup
to end: a fresh head's first steps say nothing about the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from cockpit.contract.commands import SetLearningRate
from cockpit.contract.events import (
    Alarm,
    CommandApplied,
    EvalResult,
    Event,
    HeadFit,
    PinnedExample,
    PinsChanged,
    RunStarted,
    StepMetrics,
)
from cockpit.diagnostics.judgements import LOSS_WINDOW, LossTracker

# Without a warmup the first steps still carry the random head's start; give them this many steps.
MIN_SETTLE_STEPS = 10
# Evaluation "good": single-label accuracy at least halfway from the majority share to 1 (SST-2:
# 0.51 -> 0.755; healthy real runs reached 0.84-0.86); multi-label micro-F1 at least 0.5; regression
# R^2 at least 0.5 (half the constant predictor's squared error explained; STS-B fine-tunes reach 0.8+).
GOOD_ACCURACY_WAY = 0.5
GOOD_MICRO_F1 = 0.5
GOOD_R2 = 0.5
# ...and "holding": the headline metric within 2 points of the best evaluation so far.
EVAL_HOLD = 0.02


def rounded(value: float) -> float:
    """Evidence numbers rounded to 4 significant digits: readable in the journal and the UI."""
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.4g}")


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def plural(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


class Streak:
    """How many observations in a row a condition has held (0 as soon as it fails once)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def update(self, holds: bool) -> int:
        self.count = self.count + 1 if holds else 0
        return self.count

    def reset(self) -> None:
        self.count = 0


@dataclass
class RunContext:
    """What the rules need to know about the run, filled from RunStarted and every StepMetrics."""

    task: str = ""
    labels: list[str] = field(default_factory=list)
    pins: list[PinnedExample] = field(default_factory=list)
    constant_loss: float | None = None
    targets: dict[str, float] = field(default_factory=dict)  # regression: the targets' mean, std, min, max
    warmup_steps: int = 0
    head_group: str | None = None
    loss: LossTracker = field(default_factory=LossTracker)
    settled_steps: int = 0  # finite steps seen after warmup
    peak_lr: float | None = None  # what `lr=` sets: the schedule's peak (the lr now is peak x schedule)
    active: set[str] = field(default_factory=set)  # alarm kinds raised and not released (any rule's)
    eval_metric: float | None = None  # the latest evaluation's headline metric (accuracy or micro-F1)
    best_eval_metric: float | None = None
    eval_good: bool = False  # the latest evaluation is good and holding (see `_judge_eval`)
    eval_levelled: bool = False  # ...and no longer climbing: within EVAL_HOLD of the evaluation before

    def observe(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.start(event)
        elif isinstance(event, CommandApplied) and event.result in ("", "ok"):
            if isinstance(event.parsed, SetLearningRate):
                self.peak_lr = event.parsed.lr
        elif isinstance(event, EvalResult):
            self._judge_eval(event)
        elif isinstance(event, PinsChanged):  # pin=/unpin= commands: later PinPredictions rows follow the new list
            self.pins = list(event.pins)
        elif isinstance(event, StepMetrics) and math.isfinite(event.loss):
            self.loss.add(event.loss)
            if self.settled(event.step):
                self.settled_steps += 1

    def start(self, run: RunStarted) -> None:
        """A run (or a resumed run) begins: statistics of any earlier run no longer apply."""
        self.task = run.task
        self.labels = list(run.labels)
        self.pins = list(run.pins)
        self.constant_loss = run.constant_loss if finite(run.constant_loss) else None
        self.targets = dict(run.targets)
        self.warmup_steps = warmup_steps(run.config, run.total_steps)
        self.head_group = head_group(run.layers, run.head)
        self.loss = LossTracker()
        self.settled_steps = 0
        self.peak_lr = float(run.config["lr"]) if finite(run.config.get("lr")) else None
        self.active = set()
        self.eval_metric = self.best_eval_metric = None
        self.eval_good = self.eval_levelled = False

    def _judge_eval(self, result: EvalResult) -> None:
        """Is this evaluation good, and as good as the best one so far? (A noisy chart then says nothing.)"""
        if self.task == "multilabel":
            metric, good_from = result.metrics.get("micro_f1"), GOOD_MICRO_F1
        elif self.task == "regression":
            metric, good_from = result.metrics.get("r2"), GOOD_R2
        else:
            metric, majority = result.metrics.get("accuracy"), result.baselines.get("majority_accuracy")
            good_from = majority + GOOD_ACCURACY_WAY * (1 - majority) if finite(majority) else math.inf
        if not finite(metric):
            self.eval_good = self.eval_levelled = False
            return
        self.eval_levelled = self.eval_metric is not None and metric - self.eval_metric <= EVAL_HOLD
        self.eval_metric = metric
        self.best_eval_metric = max(metric, self.best_eval_metric or metric)
        self.eval_good = metric >= good_from and metric >= self.best_eval_metric - EVAL_HOLD

    def untrained_loss(self) -> float:
        """The loss a fresh head scores: the constant guess's (or chance: ln(classes), ln 2 per label);
        for regression, a head that outputs about 0 scores the targets' mean square."""
        if self.task == "regression" and self.targets:
            return self.targets.get("mean", 0.0) ** 2 + self.targets.get("std", 0.0) ** 2
        chance = math.log(2) if self.task == "multilabel" else math.log(max(len(self.labels), 2))
        return max(self.constant_loss or 0.0, chance)

    def loss_window_ready(self, event: Event) -> bool:
        """A finite step with a whole window of settled steps behind it: trend and noise can be judged."""
        return (
            isinstance(event, StepMetrics)
            and math.isfinite(event.loss)
            and self.settled_steps >= LOSS_WINDOW
            and self.loss.full
        )

    def settled(self, step: int) -> bool:
        """Past warmup and past the first few steps: from here on, the loss means something."""
        return step > self.warmup_steps and self.loss.count >= MIN_SETTLE_STEPS

    def loss_scale(self) -> float:
        """The loss a run starts from: the constant predictor's, or else the first step's."""
        if self.constant_loss and self.constant_loss > 0:
            return self.constant_loss
        return self.loss.first if self.loss.first and self.loss.first > 0 else 1.0


def warmup_steps(config: dict[str, Any], total_steps: int) -> int:
    """Warmup in steps, from `warmup_steps` or else `warmup_ratio` of the run."""
    steps = config.get("warmup_steps")
    if finite(steps) and steps > 0:
        return int(steps)
    ratio = config.get("warmup_ratio")
    if finite(ratio) and ratio > 0:
        return round(ratio * total_steps)
    return 0


def head_group(layers: list[str], head: HeadFit) -> str | None:
    """The layer group that holds the classification head, as the model loader named it."""
    if head.group in layers:
        return head.group
    return layers[-1] if layers else None


class Rule(Protocol):
    """One kind of problem: watches events, returns the alarms to emit (usually none)."""

    kind: str

    def observe(self, event: Event) -> list[Alarm]: ...


class Latch:
    """The raised/released state of one alarm kind, so that a rule raises once and releases once."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.active = False
        self.severity = "warning"

    def raise_(self, event: Event, severity: str, message: str, advice: str, evidence: dict[str, Any]) -> list[Alarm]:
        if self.active:
            return []
        self.active, self.severity = True, severity
        return [
            Alarm(
                step=event.step,
                time=event.time,
                kind=self.kind,
                severity=severity,
                message=message,
                advice=advice,
                evidence=evidence,
            )
        ]

    def release(self, event: Event, message: str, evidence: dict[str, Any] | None = None) -> list[Alarm]:
        if not self.active:
            return []
        self.active = False
        return [
            Alarm(
                step=event.step,
                time=event.time,
                kind=self.kind,
                severity=self.severity,
                message=message,
                advice="",
                evidence=evidence or {},
                active=False,
            )
        ]


class LatchedRule:
    """A rule that owns one alarm kind, the Latch that keeps it from flapping, and the two streaks
    most rules count: how long the problem has held (to raise) and how long it has been gone (to release)."""

    kind = ""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.latch = Latch(self.kind)
        self.held = Streak()
        self.gone = Streak()
