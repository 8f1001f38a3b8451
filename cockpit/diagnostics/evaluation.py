"""Rules over evaluations: predictions collapsed to one class (seed 003), thresholds other than 0.5
that clearly serve a multi-label model better (seed 000)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cockpit.contract.events import Alarm, EvalResult, Event, StepMetrics
from cockpit.diagnostics import advice
from cockpit.diagnostics.base import LatchedRule, RunContext, Streak, finite, rounded

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
# Regression: predictions that spread less than a tenth of the targets' spread are one value for every
# row (a fresh head on STS-B-like scores spreads ~0.01 against 1.5); a fifth is spread again.
FLAT_SHARE = 0.10
FLAT_RELEASE = 0.20


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
        self._at_baseline = Streak()
        self._one_class = Streak()
        self._all_negative = Streak()
        self._flat = Streak()
        self._reference_loss: float | None = None  # smoothed loss at the previous evaluation

    def observe(self, event: Event) -> list[Alarm]:
        if isinstance(event, StepMetrics) and self._reference_loss is None and self.ctx.settled(event.step):
            self._reference_loss = self.ctx.loss.ema
        if not (isinstance(event, EvalResult) and self.ctx.settled(event.step)):
            return []
        if self.ctx.task == "multilabel":
            found, cleared = self._multi_label(event)
        elif self.ctx.task == "regression":
            found, cleared = self._regression(event)
        else:
            found, cleared = self._single_label(event)
        self._reference_loss = self.ctx.loss.ema
        if found:
            words = advice.collapse_advice(self.ctx.task, self.ctx.active)
            return self.latch.raise_(event, found.severity, found.message, words, found.evidence)
        if cleared and self.ctx.task == "regression":
            spread = {k: event.metrics.get(k) for k in ("prediction_std", "target_std")}
            return self.latch.release(event, advice.REGRESSION_COLLAPSE_CLEARED, spread)
        if cleared:
            evidence = {"predicted_distribution": dict(event.predicted_distribution)}
            return self.latch.release(event, advice.COLLAPSE_CLEARED, evidence)
        return []

    def _regression(self, event: EvalResult) -> tuple[_Collapse | None, bool]:
        """Predictions with almost no spread while the targets spread: one value for every row."""
        spread, target = event.metrics.get("prediction_std"), event.metrics.get("target_std")
        if not (finite(spread) and finite(target)) or target <= 0:
            return None, False
        evals = self._flat.update(spread < FLAT_SHARE * target)
        mse, constant = event.metrics.get("mse"), event.baselines.get("constant_mse")
        evidence = {
            "prediction_mean": rounded(event.metrics.get("prediction_mean", math.nan)),
            "prediction_std": rounded(spread),
            "target_std": rounded(target),
            "mse": mse,
            "constant_mse": constant,
            "evals_flat": evals,
        }
        cleared = spread >= FLAT_RELEASE * target
        if evals >= COLLAPSE_EVALS:
            center = event.metrics.get("prediction_mean", math.nan)
            message = advice.regression_collapsed(center, spread, target, evals, mse, constant)
            return _Collapse("error", message, evidence), cleared
        return None, cleared

    def _single_label(self, event: EvalResult) -> tuple[_Collapse | None, bool]:
        predicted, true = event.predicted_distribution, event.true_distribution
        total = sum(predicted.values()) or event.rows
        if not predicted or total <= 0:
            return None, False
        label, top = max(predicted.items(), key=lambda kv: kv[1])
        share = top / total
        true_share = true.get(label, 0) / (sum(true.values()) or 1)
        accuracy, majority = event.metrics.get("accuracy"), event.baselines.get("majority_accuracy")
        gap = abs(accuracy - majority) if finite(accuracy) and finite(majority) else None
        at_baseline = self._at_baseline.update(gap is not None and gap <= BASELINE_TOLERANCE)
        one_class = self._one_class.update(share >= ONE_CLASS_SHARE and true_share < ONE_CLASS_TRUE_SHARE)
        evidence = {
            "predicted_class": label,
            "predicted_share": rounded(share),
            "true_share": rounded(true_share),
            "accuracy": accuracy,
            "majority_accuracy": majority,
            "evals_at_majority": at_baseline,
            "predicted_distribution": dict(predicted),
            "true_distribution": dict(true),
            "evals_on_one_class": one_class,
        }
        cleared = share < ONE_CLASS_RELEASE and (gap is None or gap > BASELINE_RELEASE)
        if one_class >= COLLAPSE_EVALS:
            message = advice.collapsed_to_one_class(top, total, share, label, true_share, one_class)
            return _Collapse("error", message, evidence), cleared
        if at_baseline >= COLLAPSE_EVALS:
            majority_label = max(true.items(), key=lambda kv: kv[1])[0] if true else "the majority class"
            message = advice.at_majority_share(accuracy, majority, at_baseline, majority_label)
            return _Collapse("warning", message, evidence), cleared
        return None, cleared

    def _multi_label(self, event: EvalResult) -> tuple[_Collapse | None, bool]:
        predicted_positive = sum(event.predicted_distribution.values())
        true_positive = sum(event.true_distribution.values())
        now, before = self.ctx.loss.ema, self._reference_loss
        falling = now is not None and before is not None and now < before * 0.99
        evals = self._all_negative.update(predicted_positive == 0 and true_positive > 0 and falling)
        evidence = {
            "predicted_positive": predicted_positive,
            "true_positive": true_positive,
            "rows": event.rows,
            "training_loss": rounded(now) if now is not None else None,
            "training_loss_before": rounded(before) if before is not None else None,
            "evals_all_negative": evals,
        }
        cleared = predicted_positive >= ALL_NEGATIVE_RELEASE * true_positive
        if evals >= COLLAPSE_EVALS:
            assert now is not None and before is not None  # `falling` held
            return _Collapse("error", advice.all_negative(event.rows, evals, before, now), evidence), cleared
        return None, cleared


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
        self._previous: dict[str, float] = {}  # label -> threshold that beat 0.5 at the last eval

    def observe(self, event: Event) -> list[Alarm]:
        if not (isinstance(event, EvalResult) and event.thresholds and self.ctx.settled(event.step)):
            return []
        gains = {
            label: t["f1"] - max(t["f1_at_half"], all_positive_f1(event, label))
            for label, t in event.thresholds.items()
            if finite(t.get("f1")) and finite(t.get("f1_at_half"))
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
        better = sorted(((gains[label], label) for label in held), reverse=True) if levelled else []
        if better:
            self.gone.reset()
            return self._raise(event, [label for _, label in better], len(gains))
        if self.gone.update(max(gains.values(), default=0.0) < THRESHOLD_RELEASE_GAIN) >= THRESHOLD_QUIET_EVALS:
            return self.latch.release(event, advice.THRESHOLDS_CLEARED)
        return []

    def _raise(self, event: EvalResult, labels: list[str], total: int) -> list[Alarm]:
        listed = {
            label: {
                "threshold": rounded(event.thresholds[label]["threshold"]),
                "f1": rounded(event.thresholds[label]["f1"]),
                "f1_at_half": rounded(event.thresholds[label]["f1_at_half"]),
            }
            for label in labels
        }
        message = advice.thresholds_beat_half(listed, total, THRESHOLD_LISTED)
        return self.latch.raise_(event, "warning", message, advice.THRESHOLDS_ADVICE, {"labels": listed})


NEVER_PREDICTED_ROWS = 5  # a class with at least this many evaluation rows (fewer: chance)...
NEVER_PREDICTED_EVALS = 2  # ...that no row is predicted as, two evaluations in a row
NEVER_PREDICTED_LISTED = 5
# ...while the classes it does predict go well: their mean F1 at least this. A healthy multi-label
# run on 60 rows predicted no row as `green` at two levelled evaluations (micro-F1 0.58, the other
# two labels' F1 0.80 and 0.67) before it learned it; TREC's ABBR went missing beside F1s of 0.9+.
OTHERS_WELL_F1 = 0.8


class ClassNeverPredicted(LatchedRule):
    """A class the model never predicts while the others go well (their mean F1 >= OTHERS_WELL_F1).

    A 6-class TREC run predicted `ABBR` for 0 of its 9 evaluation rows at accuracy 0.94; only macro-F1
    (0.79) hinted at it. Judged only once evaluations are good and have levelled off: a healthy
    multi-label run still learning (micro-F1 0.56 -> 0.61) predicted one label for no row at two
    evaluations, then learned it. Every row on one class, or no label at all, is the collapse alarm's.
    """

    kind = "class_never_predicted"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._missing: dict[str, Streak] = {}
        self._named: list[str] = []

    def observe(self, event: Event) -> list[Alarm]:
        if not (isinstance(event, EvalResult) and self.ctx.settled(event.step)):
            return []
        predicted, true = event.predicted_distribution, event.true_distribution
        if not self.latch.active and not (self.ctx.eval_good and self.ctx.eval_levelled):
            for streak in self._missing.values():
                streak.reset()
            return []
        total = sum(predicted.values())
        if total == 0 or "collapse" in self.ctx.active or max(predicted.values()) >= ONE_CLASS_SHARE * total:
            return []  # a collapse names every class at once; its own alarm says so
        for label, rows in true.items():
            streak = self._missing.setdefault(label, Streak())
            streak.update(rows >= NEVER_PREDICTED_ROWS and predicted.get(label, 0) == 0)
        named = [label for label, streak in self._missing.items() if streak.count >= NEVER_PREDICTED_EVALS]
        others = [f1 for label, f1 in event.per_label_f1.items() if label not in named and finite(f1)]
        if named and not self.latch.active and not (others and sum(others) / len(others) >= OTHERS_WELL_F1):
            return []  # the model is still learning the classes it does predict
        evidence = {
            "classes": {label: {"rows": true[label], "predicted": 0} for label in named},
            "metrics": {k: rounded(v) for k, v in event.metrics.items() if finite(v)},
            "per_label_f1": {label: event.per_label_f1[label] for label in named if label in event.per_label_f1},
        }
        if named and not self.latch.active:
            self._named = named
            self.gone.reset()
            message = advice.never_predicted(named, true, event.metrics, NEVER_PREDICTED_LISTED)
            words = advice.never_predicted_advice(self.ctx.task)
            return self.latch.raise_(event, "warning", message, words, evidence)
        if not self.latch.active:
            return []
        if self.gone.update(all(predicted.get(label, 0) > 0 for label in self._named)) >= NEVER_PREDICTED_EVALS:
            return self.latch.release(event, advice.predicted_again(self._named))
        return []
