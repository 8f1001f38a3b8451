"""Rules over the event stream that name a problem while the run is still going.

Each rule answers one of the people in `shared/seeds`: a head that cannot fit the labels (003),
predictions collapsed to one class (003), a low training loss whose predictions are still wrong
(000), a layer that does not learn (001), a loss too noisy to read (002), and a run that diverges.

Every rule is a small class with `observe(event) -> list[Alarm]`. A rule owns one alarm kind and
one `Latch`, so it raises once and releases once: triggers and releases use different thresholds
(hysteresis) and usually a streak of steps or evaluations, so that noise near a threshold does not
make an alarm blink. Rules that look at the loss wait for warmup to end: a fresh head's first steps
say nothing about the run.

`Diagnostics` runs in the training thread for every event, so each rule is O(1) per step: the loss
is summarised by one `LossTracker` (an exponential moving average and running sums over a bounded
window), never by going over the whole history.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cockpit.events import (
    Alarm,
    EvalResult,
    Event,
    LayerStats,
    Notice,
    PinnedExample,
    PinPredictions,
    PinsChanged,
    RunStarted,
    StepMetrics,
)

log = logging.getLogger(__name__)

# Without a warmup the first steps still carry the random head's start; give them this many steps.
MIN_SETTLE_STEPS = 10
# The smoothed loss is an EMA with this span: it follows a change of trend within ~20 steps.
LOSS_SPAN = 20
# Trend, noise and rise are judged over this many steps (about what a person reads off a chart).
LOSS_WINDOW = 50


def _r(value: float) -> float:
    """Evidence numbers rounded to 4 significant digits: readable in the journal and the UI."""
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.4g}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


# ---------------------------------------------------------------------------------------------
# Shared state: what the run is and how its loss goes
# ---------------------------------------------------------------------------------------------


class LossTracker:
    """The smoothed training loss and the loss noise over the last `window` steps, O(1) a step.

    The residual of a step is its raw loss minus the smoothed loss before it; running sums over a
    bounded deque give the residuals' spread without going over the window each step.
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

    def add(self, loss: float) -> None:
        """Take one step's loss; a NaN/inf step is left out (the engine skips its update too)."""
        if not math.isfinite(loss):
            return
        self.count += 1
        if self.ema is None:
            self.ema = self.first = loss
        else:
            residual = loss - self.ema
            self._push_residual(residual)
            self.ema += self._alpha * residual
        self._smoothed.append(self.ema)

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

    def smoothed_noise(self) -> float:
        """How much the smoothed curve itself wobbles from noise alone (std of an EMA of it)."""
        return self.noise() * math.sqrt(self._alpha / (2 - self._alpha))

    def window_start(self) -> float:
        """The smoothed loss `window` steps ago."""
        return self._smoothed[0]

    def window_drop(self) -> float:
        """How much the smoothed loss fell over the window (negative when it rose)."""
        return self._smoothed[0] - self._smoothed[-1]


@dataclass
class RunContext:
    """What the rules need to know about the run, filled from RunStarted and every StepMetrics."""

    task: str = ""
    labels: list[str] = field(default_factory=list)
    pins: list[PinnedExample] = field(default_factory=list)
    constant_loss: float | None = None
    warmup_steps: int = 0
    head_group: str | None = None
    loss: LossTracker = field(default_factory=LossTracker)
    settled_steps: int = 0  # finite steps seen after warmup

    def observe(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.start(event)
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
        self.constant_loss = run.constant_loss if _finite(run.constant_loss) else None
        self.warmup_steps = warmup_steps(run.config, run.total_steps)
        self.head_group = head_group(run.layers, run.head)
        self.loss = LossTracker()
        self.settled_steps = 0

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
    if _finite(steps) and steps > 0:
        return int(steps)
    ratio = config.get("warmup_ratio")
    if _finite(ratio) and ratio > 0:
        return round(ratio * total_steps)
    return 0


def head_group(layers: list[str], head: dict[str, Any]) -> str | None:
    """The layer group that holds the classification head (the engine may name it in `head`)."""
    named = head.get("group")
    if isinstance(named, str) and named in layers:
        return named
    for name in layers:
        if name.lower() in ("head", "classifier", "score"):
            return name
    return layers[-1] if layers else None


# ---------------------------------------------------------------------------------------------
# Rule plumbing
# ---------------------------------------------------------------------------------------------


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
    """A rule that owns one alarm kind and the Latch that keeps it from flapping."""

    kind = ""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.latch = Latch(self.kind)


def _plural(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


# ---------------------------------------------------------------------------------------------
# Head does not fit the labels (seeds 003, 000)
# ---------------------------------------------------------------------------------------------


def expected_problem_type(task: str) -> str:
    return "multi_label_classification" if task == "multilabel" else "single_label_classification"


def head_problems(task: str, head: dict[str, Any], label_count: int) -> tuple[list[str], bool]:
    """What is wrong with the head for these labels, in plain words, and whether it is fatal."""
    outputs, labels = head.get("outputs"), head.get("labels") or label_count
    problem = head.get("problem_type")
    problems: list[str] = []
    fatal = False
    if problem == "regression":
        fatal = True
        problems.append(
            "the head is set up for regression (one number per output, mean squared error), not for classification"
        )
    if isinstance(outputs, int) and isinstance(labels, int) and outputs != labels:
        fatal = True
        text = f"the head has {outputs} output(s) but the data has {labels} labels"
        if outputs == 1:
            text += "; with one output, picking the top class always gives the first class"
        problems.append(text)
    if task == "multilabel" and problem not in (None, "multi_label_classification", "regression"):
        fatal = True
        problems.append(
            f"rows carry several labels each, but the head is set up for {problem}: softmax makes "
            "the labels compete, so at most one can be predicted"
        )
    if task in ("binary", "multiclass") and problem == "multi_label_classification":
        problems.append(
            "each row has exactly one label, but the head scores every label on its own (sigmoid), "
            "so a row can get no label or several"
        )
    return problems, fatal


class HeadFitsLabels(LatchedRule):
    """Seed 003: gpt2-large's default head has one output, so argmax accuracy sat at 0.4908."""

    kind = "head_mismatch"

    def observe(self, event: Event) -> list[Alarm]:
        if not isinstance(event, RunStarted):
            return []
        problems, fatal = head_problems(event.task, event.head, len(event.labels))
        evidence = {
            "outputs": event.head.get("outputs"),
            "labels": event.head.get("labels") or len(event.labels),
            "problem_type": event.head.get("problem_type"),
            "task": event.task,
        }
        if not problems:
            return self.latch.release(event, "The classification head now fits the labels.", evidence)
        expected = expected_problem_type(event.task)
        message = "The classification head does not fit the labels: " + "; ".join(problems) + "."
        advice = (
            f"Build the head for this data: num_labels={evidence['labels']}, problem_type='{expected}' "
            "(with transformers: AutoModelForSequenceClassification.from_pretrained(..., "
            f"num_labels={evidence['labels']}, problem_type='{expected}', ignore_mismatched_sizes=True)). "
            "Do not rely on the checkpoint's default head size: it differs between models "
            "(gpt2 has 2 outputs, gpt2-large 1)."
        )
        return self.latch.raise_(event, "error" if fatal else "warning", message, advice, evidence)


class HeadReinitialised(LatchedRule):
    """Seed 000: the checkpoint's 3-output head was silently replaced by a random 15-output one."""

    kind = "head_reinitialised"

    def observe(self, event: Event) -> list[Alarm]:
        if not isinstance(event, RunStarted):
            return []
        head = event.head
        old, new = head.get("checkpoint_outputs"), head.get("outputs")
        if not (head.get("reinitialised") and old is not None and old != new):
            return self.latch.release(event, "The head was loaded as it is (not re-initialised).")
        reason = head.get("reason") or "its shape did not fit the labels"
        message = (
            f"The checkpoint's classification head has {old} outputs; it was replaced by a new, "
            f"randomly initialised head with {new} outputs ({reason})."
        )
        advice = (
            "Expected when you fine-tune a model for new labels: the new head knows nothing yet, so "
            "keep it trainable and give it steps and a learning rate to learn. If you meant to continue "
            "from a classifier already trained on these labels, load that checkpoint instead."
        )
        evidence = {"checkpoint_outputs": old, "outputs": new, "reason": reason}
        return self.latch.raise_(event, "warning", message, advice, evidence)


def label_reading(notice: Notice) -> str | None:
    """Which task a label_format notice says the labels were read as, if it says so."""
    task = notice.evidence.get("task")
    if task in ("binary", "multiclass", "multilabel"):
        return str(task)
    text = notice.message.lower()
    if "multilabel" in text or "multi-label" in text or "multi-hot" in text:
        return "multilabel"
    if "single-label" in text or "single label" in text or "multiclass" in text:
        return "multiclass"
    return None


class LabelFormat(LatchedRule):
    """Seed 000's trap: 0/1 multi-hot labels read as one class per row, or the other way round.

    The loader says how it read an ambiguous labels column (a Notice of kind `label_format`); the
    head is then fitted to that reading, so the notice alone is not a problem. It is when the run
    trains another kind of task than the labels were read as.
    """

    kind = "label_format"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._notice: Notice | None = None

    def observe(self, event: Event) -> list[Alarm]:
        if isinstance(event, Notice) and event.kind == "label_format":
            self._notice = event
        elif not isinstance(event, RunStarted):
            return []
        read = label_reading(self._notice) if self._notice else None
        task = self.ctx.task
        if read is None or not task or (read == "multilabel") == (task == "multilabel"):
            return []
        assert self._notice is not None
        message = (
            f"The labels were read as {read} ({self._notice.message}), but the run trains a {task} "
            "classifier: the loss and the predictions answer another question than the labels ask."
        )
        advice = (
            "Say how the labels column is meant: several labels per row as a list of names or a 0/1 list "
            "per row (multi-label), one class per row as one name or one class number; or name the "
            "columns with --label-columns. Then start the run again."
        )
        evidence = {"read_as": read, "task": task, **self._notice.evidence}
        return self.latch.raise_(event, "error", message, advice, evidence)


# ---------------------------------------------------------------------------------------------
# Collapse to one class (seed 003)
# ---------------------------------------------------------------------------------------------

ONE_CLASS_SHARE = 0.99  # predictions this concentrated on one class are a collapse...
ONE_CLASS_RELEASE = 0.95  # ...and it takes this much spread to call it over
ONE_CLASS_TRUE_SHARE = 0.95  # unless the data itself is this one class
BASELINE_TOLERANCE = 0.005  # accuracy this close to the majority share is the majority share
BASELINE_RELEASE = 0.02
# A model that has not yet left the label prior predicts one class (or no label) for every row at
# its first evaluation (a real run on balanced sentiment data does, then reaches 98%): it takes
# two evaluations in a row to call it a collapse.
COLLAPSE_EVALS = 2
ALL_NEGATIVE_RELEASE = 0.10  # multi-label: predicted positives back to 10% of true positives


@dataclass
class _Collapse:
    severity: str
    message: str
    evidence: dict[str, Any]


class CollapseToOneClass(LatchedRule):
    """Predictions that fall on one class, or accuracy that is just the majority-class share."""

    kind = "collapse"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._at_baseline = 0
        self._one_class = 0
        self._all_negative = 0
        self._reference_loss: float | None = None  # smoothed loss at the previous evaluation

    def observe(self, event: Event) -> list[Alarm]:
        if isinstance(event, StepMetrics) and self._reference_loss is None and self.ctx.settled(event.step):
            self._reference_loss = self.ctx.loss.ema
        if not (isinstance(event, EvalResult) and self.ctx.settled(event.step)):
            return []
        if self.ctx.task == "multilabel":
            found, cleared = self._multi_label(event)
        else:
            found, cleared = self._single_label(event)
        self._reference_loss = self.ctx.loss.ema
        if found:
            return self.latch.raise_(
                event, found.severity, found.message, _collapse_advice(self.ctx.task), found.evidence
            )
        if cleared:
            return self.latch.release(
                event,
                "Predictions are spread over the classes again.",
                {"predicted_distribution": dict(event.predicted_distribution)},
            )
        return []

    def _single_label(self, event: EvalResult) -> tuple[_Collapse | None, bool]:
        predicted, true = event.predicted_distribution, event.true_distribution
        total = sum(predicted.values()) or event.rows
        if not predicted or total <= 0:
            return None, False
        label, top = max(predicted.items(), key=lambda kv: kv[1])
        share = top / total
        true_share = true.get(label, 0) / (sum(true.values()) or 1)
        accuracy, majority = event.metrics.get("accuracy"), event.baselines.get("majority_accuracy")
        gap = abs(accuracy - majority) if _finite(accuracy) and _finite(majority) else None
        self._at_baseline = self._at_baseline + 1 if gap is not None and gap <= BASELINE_TOLERANCE else 0
        evidence = {
            "predicted_class": label,
            "predicted_share": _r(share),
            "true_share": _r(true_share),
            "accuracy": accuracy,
            "majority_accuracy": majority,
            "evals_at_majority": self._at_baseline,
            "predicted_distribution": dict(predicted),
            "true_distribution": dict(true),
        }
        one_class = share >= ONE_CLASS_SHARE and true_share < ONE_CLASS_TRUE_SHARE
        self._one_class = self._one_class + 1 if one_class else 0
        evidence["evals_on_one_class"] = self._one_class
        cleared = share < ONE_CLASS_RELEASE and (gap is None or gap > BASELINE_RELEASE)
        if self._one_class >= COLLAPSE_EVALS:
            message = (
                f"Predictions collapsed to one class: {top} of {total} evaluation rows ({share:.1%}) are "
                f"predicted '{label}', though only {true_share:.1%} of them are '{label}' "
                f"({self._one_class} evaluations in a row)."
            )
            return _Collapse("error", message, evidence), cleared
        if self._at_baseline >= COLLAPSE_EVALS:
            majority_label = max(true.items(), key=lambda kv: kv[1])[0] if true else "the majority class"
            message = (
                f"Accuracy {accuracy:.4f} has sat at the majority-class share {majority:.4f} for "
                f"{self._at_baseline} evaluations: the model does no better than always predicting "
                f"'{majority_label}'."
            )
            return _Collapse("warning", message, evidence), cleared
        return None, cleared

    def _multi_label(self, event: EvalResult) -> tuple[_Collapse | None, bool]:
        predicted_positive = sum(event.predicted_distribution.values())
        true_positive = sum(event.true_distribution.values())
        now, before = self.ctx.loss.ema, self._reference_loss
        falling = now is not None and before is not None and now < before * 0.99
        evidence = {
            "predicted_positive": predicted_positive,
            "true_positive": true_positive,
            "rows": event.rows,
            "training_loss": _r(now) if now is not None else None,
            "training_loss_before": _r(before) if before is not None else None,
        }
        all_negative = predicted_positive == 0 and true_positive > 0 and falling
        self._all_negative = self._all_negative + 1 if all_negative else 0
        evidence["evals_all_negative"] = self._all_negative
        cleared = predicted_positive >= ALL_NEGATIVE_RELEASE * true_positive
        if self._all_negative >= COLLAPSE_EVALS:
            message = (
                f"Every label is predicted negative for all {event.rows} evaluation rows, "
                f"{self._all_negative} evaluations in a row, while the training loss still falls "
                f"({before:.3g} to {now:.3g}): the model learns that 'no' is the safest answer for "
                "each label."
            )
            return _Collapse("error", message, evidence), cleared
        return None, cleared


def _collapse_advice(task: str) -> str:
    if task == "multilabel":
        return (
            "Each label is rare, so answering 'no' everywhere already gives a low loss. Try a lower "
            "decision threshold (see the thresholds alarm and the `thresholds` command), weigh positive "
            "labels up (pos_weight), train the head longer or with a higher learning rate, and watch "
            "whether the pinned examples' probabilities for their true labels rise at all."
        )
    return (
        "Check the head first: one output means a regression head, and the top class of one column is "
        "always the first class (the head alarm says so before step 1). Then: lower the learning rate "
        "(too high a rate pushes every row to one class), balance the classes (class weights or "
        "resampling), and look at the pinned examples' probabilities."
    )


# ---------------------------------------------------------------------------------------------
# Loss and predictions disagree (seed 000)
# ---------------------------------------------------------------------------------------------

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
    result = {"prob_on_targets": _r(statistics.fmean(on)), "correct_share": _r(sum(hits) / len(hits))}
    if off:
        result["prob_off_targets"] = _r(statistics.fmean(off))
    return result


class PredictionsDisagreeWithLoss(LatchedRule):
    """Seed 000: loss 0.01 in training, yet ~0.3 for every label when the same rows are predicted."""

    kind = "predictions_disagree"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._far = 0
        self._near = 0

    def observe(self, event: Event) -> list[Alarm]:
        train = self.ctx.loss.ema
        if not (isinstance(event, PinPredictions) and self.ctx.settled(event.step) and train is not None):
            return []
        losses = [x for x in event.losses if _finite(x)]
        if not losses:
            return []
        # The median, not the mean: one mislabelled pin must not speak for all of them.
        pinned = statistics.median(losses)
        floor = max(PIN_FLOOR_MIN, PIN_FLOOR_SHARE * self.ctx.loss_scale())
        ratio = pinned / max(train, 1e-12)
        far = ratio > PIN_RATIO_TRIGGER and pinned > floor
        near = ratio < PIN_RATIO_RELEASE or pinned < floor
        self._far = self._far + 1 if far else 0
        self._near = self._near + 1 if near else 0
        evidence = {
            "training_loss": _r(train),
            "pinned_loss": _r(pinned),
            "pinned_mean_loss": _r(event.loss),
            "ratio": _r(ratio),
            "pinned_losses": [_r(x) for x in event.losses],
            "floor": _r(floor),
            "pin_updates": self._far,
            **pin_agreement(self.ctx.pins, event.probs, self.ctx.task),
        }
        if self._far >= PIN_EVENTS:
            message = (
                f"The training loss is low ({train:.3g}, smoothed), but the pinned training rows, "
                f"predicted the way inference does (eval mode), have loss {pinned:.3g}: {ratio:.0f}x "
                f"higher, for {self._far} pin updates in a row. The inference path does not see what "
                "the training loss sees."
            )
            return self.latch.raise_(event, "warning", message, _disagree_advice(evidence), evidence)
        if self._near >= PIN_EVENTS:
            return self.latch.release(event, "Pinned predictions agree with the training loss again.", evidence)
        return []


def _disagree_advice(evidence: dict[str, Any]) -> str:
    on, off = evidence.get("prob_on_targets"), evidence.get("prob_off_targets")
    if on is not None and off is not None and on - off < 0.1:
        first = (
            f"The predictions hardly tell targets apart (mean probability {on:.2f} on true labels, "
            f"{off:.2f} on the others): the model that predicts does not behave like the one that "
            "trains. "
        )
    elif on is not None:
        first = (
            f"The predictions lean the right way (mean probability {on:.2f} on true labels"
            + (f" vs {off:.2f}" if off is not None else "")
            + ") but not far enough: at a 0.5 threshold they still miss. "
        )
    else:
        first = ""
    return first + (
        "Likely causes: layers that act differently in train and eval mode (dropout; batch-norm "
        "statistics in frozen layers); predicting with other weights, another checkpoint or another "
        "tokenizer than the one trained; a training loss computed against other targets (label order, "
        "label format); a decision threshold that does not suit the labels (see `thresholds`)."
    )


# ---------------------------------------------------------------------------------------------
# A layer that does not learn (seed 001)
# ---------------------------------------------------------------------------------------------

UPDATE_FLOOR = 1e-7  # update/weight below this per step: float32 noise, the group is not moving
UPDATE_RELEASE = 1e-6
HEAD_LAG = 0.01  # a head moving 100x less than the body's median group barely moves
HEAD_LAG_RELEASE = 0.03
STALL_STEPS = 20
RECOVER_STEPS = 5
LR_TAIL = 0.05  # steps with lr below 5% of its peak (a schedule's end) prove nothing


@dataclass
class _GroupState:
    quiet: int = 0
    moving: int = 0
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
        if not (isinstance(event, StepMetrics) and _finite(event.loss) and _finite(event.grad_norm)):
            return []  # a non-finite step was skipped: its zero updates say nothing about learning
        self._peak_lr = max(self._peak_lr, event.lr if _finite(event.lr) else 0.0)
        if not self.ctx.settled(event.step) or event.lr < LR_TAIL * self._peak_lr:
            return []
        body = self._body_median(event.layers)
        for name, stats in event.layers.items():
            self._update_group(name, stats, body)
        stalled = [n for n, g in self._groups.items() if g.quiet >= STALL_STEPS]
        if stalled and not self.latch.active:
            self._raised = stalled
            return self._raise(event, stalled, body)
        if self.latch.active and all(self._recovered(n) for n in self._raised):
            return self.latch.release(event, f"{_plural(self._raised)}: learning again (or frozen).")
        return []

    def _body_median(self, layers: dict[str, LayerStats]) -> float | None:
        ratios = [
            s.update_ratio
            for n, s in layers.items()
            if not s.frozen and n != self.ctx.head_group and _finite(s.update_ratio)
        ]
        return statistics.median(ratios) if ratios else None

    def _update_group(self, name: str, stats: LayerStats, body: float | None) -> None:
        if stats.frozen:
            self._groups.pop(name, None)
            return
        state = self._groups.setdefault(name, _GroupState())
        reason = self._stall_reason(name, stats, body)
        moving = self._is_moving(name, stats, body)
        state.quiet = state.quiet + 1 if reason else 0
        state.moving = state.moving + 1 if moving else 0
        if reason:
            state.reason, state.stats = reason, stats

    def _stall_reason(self, name: str, stats: LayerStats, body: float | None) -> str:
        if stats.grad_norm == 0:
            return "zero_gradient"
        if _finite(stats.update_ratio) and stats.update_ratio < UPDATE_FLOOR:
            return "no_update"
        if name == self.ctx.head_group and body and stats.update_ratio < HEAD_LAG * body:
            return "head_lags"
        return ""

    def _is_moving(self, name: str, stats: LayerStats, body: float | None) -> bool:
        if stats.grad_norm == 0 or not (_finite(stats.update_ratio) and stats.update_ratio >= UPDATE_RELEASE):
            return False
        return not (name == self.ctx.head_group and body and stats.update_ratio < HEAD_LAG_RELEASE * body)

    def _recovered(self, name: str) -> bool:
        state = self._groups.get(name)
        return state is None or state.moving >= RECOVER_STEPS

    def _raise(self, event: StepMetrics, stalled: list[str], body: float | None) -> list[Alarm]:
        groups = {}
        for name in stalled:
            state = self._groups[name]
            assert state.stats is not None
            groups[name] = {
                "reason": state.reason,
                "steps": state.quiet,
                "update_ratio": _r(state.stats.update_ratio),
                "grad_norm": _r(state.stats.grad_norm),
            }
        evidence: dict[str, Any] = {"groups": groups, "lr": event.lr, "update_floor": UPDATE_FLOOR}
        if body is not None:
            evidence["body_median_update_ratio"] = _r(body)
        reasons = {g["reason"] for g in groups.values()}
        message = f"{_plural(stalled)}: trainable but not learning. " + " ".join(
            _stall_sentence(name, groups[name], body) for name in stalled
        )
        return self.latch.raise_(event, "warning", message, _stall_advice(reasons), evidence)


def _stall_sentence(name: str, group: dict[str, Any], body: float | None) -> str:
    steps = group["steps"]
    if group["reason"] == "zero_gradient":
        return f"{name}: its gradient was exactly zero for {steps} steps."
    if group["reason"] == "no_update":
        return (
            f"{name}: for {steps} steps each update moved its weights by less than {UPDATE_FLOOR:g} of "
            f"their size (last {group['update_ratio']:.1e}, gradient norm {group['grad_norm']:.1e})."
        )
    return (
        f"{name}: the head moved {group['update_ratio']:.1e} of its weights per step for {steps} steps, "
        f"over 100x less than the rest of the model ({body:.1e})."
    )


def _stall_advice(reasons: set[str]) -> str:
    parts = []
    if "zero_gradient" in reasons:
        parts.append(
            "A zero gradient means the loss does not reach these parameters: either an activation "
            "above them saturated (tanh or sigmoid stuck at +-1, typically after too high a learning "
            "rate: lower it and restart from a checkpoint before the jump), or the layer's output is "
            "not used in the forward pass (detached, replaced by another module), or its parameters "
            "were set to requires_grad=False outside cockpit."
        )
    if reasons & {"no_update", "head_lags"}:
        parts.append(
            "Check the learning rate this group gets (a parameter group with lr 0, or a schedule stuck "
            "at 0), that its parameters are in the optimizer at all, and whether its gradients are tiny "
            "(then give the head a higher learning rate)."
        )
    parts.append("If you meant it to stay fixed, freeze it (`freeze=GROUP`) so that it shows as frozen.")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Noise (seed 002)
# ---------------------------------------------------------------------------------------------

NOISE_FLOOR = 0.15  # noise below 15% of the constant predictor's loss does not hide a chart's trend
NOISE_RELEASE_FLOOR = 0.10  # released only once the steps themselves calm down: a steep trend for a
# while does not make a batch of one less noisy (a real run released and raised again that way)
NOISE_STEPS = LOSS_WINDOW // 2  # the condition holds for half a window before it is raised...
# ...and the calm for two windows before it is released: the batch size, the cause, does not change
# within a run, and a model hovering at p=0.5 gives every row the same loss for a while (a real
# batch-1 run had quiet stretches of 35-66 steps between noisy ones)
NOISE_RELEASE_STEPS = 2 * LOSS_WINDOW


class NoisyLoss(LatchedRule):
    """Seed 002: batch 8 across GPUs; the loss jumps so much its trend cannot be read."""

    kind = "noisy_loss"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._noisy = 0
        self._calm = 0

    def observe(self, event: Event) -> list[Alarm]:
        if not self.ctx.loss_window_ready(event):
            return []
        assert isinstance(event, StepMetrics)
        tracker = self.ctx.loss
        noise, drop, scale = tracker.noise(), tracker.window_drop(), self.ctx.loss_scale()
        noisy = noise > max(drop, 0.0) and noise > NOISE_FLOOR * scale
        calm = noise < NOISE_RELEASE_FLOOR * scale
        self._noisy = self._noisy + 1 if noisy else 0
        self._calm = self._calm + 1 if calm else 0
        evidence = {
            "noise": _r(noise),
            "drop": _r(drop),
            "window": LOSS_WINDOW,
            "loss_scale": _r(scale),
            "effective_batch": event.effective_batch,
            "micro_batch": event.micro_batch,
            "lr": event.lr,
        }
        if self._noisy >= NOISE_STEPS:
            return self._raise(event, evidence)
        if self._calm >= NOISE_RELEASE_STEPS:
            return self.latch.release(event, "The training loss is steady enough to read its trend.", evidence)
        return []

    def _raise(self, event: StepMetrics, evidence: dict[str, Any]) -> list[Alarm]:
        batch, micro = event.effective_batch, max(event.micro_batch, 1)
        accum = max(batch // micro, 1)
        drop = evidence["drop"]
        trend = (
            f"more than the curve fell over the last {LOSS_WINDOW} steps ({drop:.3g})"
            if drop > 0
            else (f"while the curve did not fall over the last {LOSS_WINDOW} steps (it rose by {-drop:.3g})")
        )
        message = (
            f"The training loss is noisy: single steps scatter by {evidence['noise']:.3g} (standard "
            f"deviation) around the smoothed curve, {trend}. Effective batch: {batch} ({micro} per "
            f"forward pass x {accum} accumulated)."
        )
        advice = (
            f"Each update sees only {batch} examples, so its loss and its gradient are noisy. See more "
            f"examples per update: `--grad-accum {accum * 4}` gives an effective batch of {batch * 4} "
            "(the noise shrinks with the square root of the batch: 4x the batch halves it). Or lower "
            f"the learning rate (`lr={event.lr / 2:.2g}`) so that each noisy step moves the weights less. "
            "If evaluation metrics still improve, the noise is only on the chart."
        )
        return self.latch.raise_(event, "warning", message, advice, evidence)


# ---------------------------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------------------------

FINITE_RECOVER_STEPS = 5
RISE_TRIGGER = 0.20  # smoothed loss up 20% over the window...
RISE_FLOOR = 0.05  # ...and by 5% of the constant predictor's loss (tiny losses swing by 20% alone)
RISE_SIGMAS = 2.5  # ...and by 2.5 standard deviations of the smoothed curve's own wobble: after an lr jump a real
# rise is 5-7 of them, a batch-1 run rose 20% on noise alone by about 1 (4 missed some real jumps)
RISE_RELEASE = 0.05
RISE_STEPS = 10


class NonFiniteLoss(LatchedRule):
    """NaN or inf in the loss or the gradient: the update is lost; say why and what to change."""

    kind = "non_finite"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._finite_steps = 0

    def observe(self, event: Event) -> list[Alarm]:
        if not isinstance(event, StepMetrics):
            return []
        if _finite(event.loss) and _finite(event.grad_norm):
            self._finite_steps += 1
            if self._finite_steps >= FINITE_RECOVER_STEPS:
                return self.latch.release(
                    event,
                    f"Loss and gradients finite again for {self._finite_steps} steps.",
                    {"loss": event.loss, "grad_norm": event.grad_norm},
                )
            return []
        self._finite_steps = 0
        what = "loss" if not _finite(event.loss) else "gradient norm"
        value = event.loss if what == "loss" else event.grad_norm
        groups = [name for name, s in event.layers.items() if not _finite(s.grad_norm)]
        smoothed = self.ctx.loss.ema
        message = (
            f"Step {event.step}: the {what} is {value} (not a finite number). The update was skipped, "
            "so the weights are as they were before this step; the run pauses (headless: stops) so "
            "that you can change course." + (f" Gradients not finite in: {_plural(groups)}." if groups else "")
        )
        advice = (
            f"Lower the learning rate (e.g. `lr={event.lr / 10:.2g}`, now {event.lr:.2g}), clip "
            "gradients (max grad norm 1.0), and train in fp32 if mixed precision is on (fp16 overflows "
            "above 65504). If the loss was rising before this step, the learning rate is the first "
            "suspect."
        )
        evidence = {
            "loss": event.loss,
            "grad_norm": event.grad_norm,
            "lr": event.lr,
            "groups": groups,
            "smoothed_loss_before": _r(smoothed) if smoothed is not None else None,
        }
        return self.latch.raise_(event, "error", message, advice, evidence)


class LossRising(LatchedRule):
    """After warmup the training loss should not climb; a steady climb is the lead-up to divergence."""

    kind = "loss_rising"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._rising = 0
        self._flat = 0

    def observe(self, event: Event) -> list[Alarm]:
        tracker = self.ctx.loss
        if not self.ctx.loss_window_ready(event) or tracker.ema is None:
            return []
        assert isinstance(event, StepMetrics)
        start, now = tracker.window_start(), tracker.ema
        rise = now - start
        wobble = tracker.smoothed_noise()
        rising = (
            rise > RISE_TRIGGER * start and rise > RISE_FLOOR * self.ctx.loss_scale() and rise > RISE_SIGMAS * wobble
        )
        flat = rise < RISE_RELEASE * start
        self._rising = self._rising + 1 if rising else 0
        self._flat = self._flat + 1 if flat else 0
        evidence = {
            "smoothed_loss": _r(now),
            "smoothed_loss_before": _r(start),
            "window": LOSS_WINDOW,
            "rise": _r(rise / start) if start > 0 else None,
            "smoothed_wobble": _r(wobble),
            "lr": event.lr,
            "constant_loss": self.ctx.constant_loss,
        }
        if self._rising >= RISE_STEPS:
            above = self.ctx.constant_loss is not None and now > self.ctx.constant_loss
            message = (
                f"The training loss is rising: {start:.3g} to {now:.3g} (smoothed) over the last "
                f"{LOSS_WINDOW} steps, up {rise / start:.0%}"
                + (", above the loss of a constant guess" if above else "")
                + ". Training is moving away from a solution."
            )
            advice = (
                f"Lower the learning rate (`lr={event.lr / 3:.2g}`, now {event.lr:.2g}), clip gradients "
                "(max grad norm 1.0), or use a longer warmup. If you just unfroze layers, their fresh "
                "gradients may need a lower learning rate."
            )
            return self.latch.raise_(event, "warning", message, advice, evidence)
        if self._flat >= RISE_STEPS:
            return self.latch.release(event, "The training loss has stopped rising.", evidence)
        return []


# ---------------------------------------------------------------------------------------------
# Threshold (multi-label)
# ---------------------------------------------------------------------------------------------

THRESHOLD_GAIN = 0.05  # F1 points a label's best threshold must add over 0.5 (and over "all yes")
THRESHOLD_RELEASE_GAIN = 0.02
THRESHOLD_QUIET_EVALS = 2
# A threshold tuned on a small eval split while the model still moves is noise: a label counts
# only when its gain holds at two evaluations in a row with about the same threshold (a real run
# with 12 eval rows raised and released three times without this).
THRESHOLD_DRIFT = 0.15
# ...and only once training has levelled off (the smoothed loss fell less than 10% over the last
# window): a model still learning is underconfident for a while and its best threshold is a moving
# target (healthy real runs raised it mid-learning). Judged over steps, not evaluations: with an
# evaluation every 6 steps the eval loss improves only ~3% per evaluation while learning fast.
THRESHOLD_PLATEAU = 0.10
THRESHOLD_LISTED = 5


def all_positive_f1(event: EvalResult, label: str) -> float:
    """F1 of calling every row positive for this label: what a threshold near 0 buys for free.

    When a model predicts nothing, its best threshold is the lowest on the grid, and that only
    says "everything" beats "nothing"; such a threshold is not worth saving.
    """
    positives = event.true_distribution.get(label, 0)
    return 2 * positives / (event.rows + positives) if event.rows > 0 and positives > 0 else 0.0


def one_row_of_f1(event: EvalResult, label: str) -> float:
    """About how much F1 one evaluation row moves for this label: a gain below it is luck.

    With 6 positive rows (a real 12-row split) a single row is worth ~0.17 F1, far above 0.05.
    """
    positives = event.true_distribution.get(label, 0)
    return 1.0 / positives if positives > 0 else math.inf


class ThresholdsBeatHalf(LatchedRule):
    """Seed 000 again: at 0.5 a multi-label model may predict nothing, where 0.3 would be right."""

    kind = "thresholds"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._quiet = 0
        self._previous: dict[str, float] = {}  # label -> threshold that beat 0.5 at the last eval

    def observe(self, event: Event) -> list[Alarm]:
        if not (isinstance(event, EvalResult) and event.thresholds and self.ctx.settled(event.step)):
            return []
        gains = {
            label: t["f1"] - max(t["f1_at_half"], all_positive_f1(event, label))
            for label, t in event.thresholds.items()
            if _finite(t.get("f1")) and _finite(t.get("f1_at_half"))
        }
        now = {
            label: event.thresholds[label]["threshold"]
            for label, g in gains.items()
            if g >= max(THRESHOLD_GAIN, one_row_of_f1(event, label))
        }
        held = {
            label
            for label, t in now.items()
            if label in self._previous and abs(t - self._previous[label]) <= THRESHOLD_DRIFT
        }
        self._previous = now
        tracker = self.ctx.loss
        levelled = tracker.full and tracker.window_drop() < THRESHOLD_PLATEAU * tracker.window_start()
        better = sorted((gains[label], label) for label in held) if levelled else []
        better.reverse()
        if better:
            self._quiet = 0
            return self._raise(event, [label for _, label in better], len(gains))
        self._quiet = self._quiet + 1 if max(gains.values(), default=0.0) < THRESHOLD_RELEASE_GAIN else 0
        if self._quiet >= THRESHOLD_QUIET_EVALS:
            return self.latch.release(event, "A threshold of 0.5 now serves every label about as well.")
        return []

    def _raise(self, event: EvalResult, labels: list[str], total: int) -> list[Alarm]:
        listed = {
            label: {
                "threshold": _r(event.thresholds[label]["threshold"]),
                "f1": _r(event.thresholds[label]["f1"]),
                "f1_at_half": _r(event.thresholds[label]["f1_at_half"]),
            }
            for label in labels
        }
        shown = "; ".join(
            f"{label}: {v['threshold']:.2f} (F1 {v['f1_at_half']:.2f} at 0.5, {v['f1']:.2f} at best)"
            for label, v in list(listed.items())[:THRESHOLD_LISTED]
        )
        more = f" and {len(labels) - THRESHOLD_LISTED} more" if len(labels) > THRESHOLD_LISTED else ""
        message = (
            f"For {len(labels)} of {total} labels a decision threshold other than 0.5 gives a clearly "
            f"better F1 on the evaluation split, two evaluations in a row: {shown}{more}."
        )
        advice = (
            "Review them with the `thresholds` command and save them with the model (they go into the "
            "model config), so that inference uses them instead of 0.5. They are tuned on the "
            "evaluation split: with few evaluation rows, trust thresholds that hold over several "
            "evaluations."
        )
        return self.latch.raise_(event, "warning", message, advice, {"labels": listed})


# ---------------------------------------------------------------------------------------------
# The observer
# ---------------------------------------------------------------------------------------------

RULES: tuple[Callable[[RunContext], Rule], ...] = (
    HeadFitsLabels,
    HeadReinitialised,
    LabelFormat,
    CollapseToOneClass,
    PredictionsDisagreeWithLoss,
    LayerNotLearning,
    NoisyLoss,
    NonFiniteLoss,
    LossRising,
    ThresholdsBeatHalf,
)


class Diagnostics:
    """A producer on the event stream: each event in, the alarms (and its own notices) it causes out.

    Called in the training thread for every event, in journal order; what it returns is queued on
    the stream behind that event, so a replayed journal gives the same alarms in the same place.
    A rule that raises an exception is switched off (with one Notice saying so) rather than allowed
    to break the training loop.
    """

    def __init__(self, rules: Iterable[Callable[[RunContext], Rule]] = RULES):
        self.context = RunContext()
        self.rules: list[Rule] = [make(self.context) for make in rules]
        self._emitted: deque[Event] = deque(maxlen=32)
        self._broken: set[str] = set()

    def __call__(self, event: Event) -> list[Event]:
        if isinstance(event, Alarm) or any(event is own for own in self._emitted):
            return []  # alarms (ours among them) are outputs, not evidence
        out: list[Event] = []
        try:
            self.context.observe(event)
        except Exception as exc:  # an odd event must not detach the diagnostics from the run
            out.append(self._failed("run context", event, exc, "that event is skipped"))
        for rule in self.rules:
            if rule.kind in self._broken:
                continue
            try:
                out.extend(rule.observe(event))
            except Exception as exc:  # a diagnostics bug must not stop the training run
                self._broken.add(rule.kind)
                out.append(self._failed(rule.kind, event, exc, "the check is switched off"))
        self._emitted.extend(out)
        return out

    def _failed(self, what: str, event: Event, exc: Exception, outcome: str) -> Notice:
        log.exception("diagnostics: %s failed on a %s event", what, event.type)
        return Notice(
            step=event.step,
            kind="diagnostics_error",
            message=f"Diagnostics: '{what}' failed on a {event.type} event ({exc!r}); {outcome}.",
        )
