"""Rules judged before step 1: a head that cannot fit the labels, labels read as another task.

Seed 003: gpt2-large's default head has one output, so argmax accuracy sat at 0.4908. Seed 000:
0/1 multi-hot labels read as one class per row. A re-initialised head is not judged here: the
engine reports it once, as a notice, since a fresh head is what fine-tuning for new labels expects.
"""

from __future__ import annotations

from cockpit.contract.enums import Task
from cockpit.contract.events import Alarm, Event, HeadFit, Notice, RunStarted
from cockpit.diagnostics import advice
from cockpit.diagnostics.base import LatchedRule, RunContext


def expected_problem_type(task: str) -> str:
    return {"multilabel": "multi_label_classification", "regression": "regression"}.get(
        task, "single_label_classification"
    )


def head_problems(task: str, head: HeadFit, label_count: int) -> tuple[list[str], bool]:
    """What is wrong with the head for these labels, in plain words, and whether it is fatal."""
    outputs, labels = head.outputs, head.labels or label_count
    problem = head.problem_type
    problems: list[str] = []
    fatal = False
    if task == "regression":
        if problem not in (None, "regression") or (isinstance(outputs, int) and outputs != 1):
            fatal = True
            problems.append(advice.head_classifies_a_score(problem or "classification", outputs))
        return problems, fatal
    if problem == "regression":
        fatal = True
        problems.append(advice.HEAD_IS_REGRESSION)
    if isinstance(outputs, int) and isinstance(labels, int) and outputs != labels:
        fatal = True
        problems.append(advice.head_output_count(outputs, labels))
    if task == "multilabel" and problem not in (None, "multi_label_classification", "regression"):
        fatal = True
        problems.append(advice.head_softmax_for_multilabel(problem))
    if task in ("binary", "multiclass") and problem == "multi_label_classification":
        problems.append(advice.HEAD_SIGMOID_FOR_SINGLE_LABEL)
    return problems, fatal


class HeadFitsLabels(LatchedRule):
    """Seed 003: gpt2-large's default head has one output, so argmax accuracy sat at 0.4908."""

    kind = "head_mismatch"

    def observe(self, event: Event) -> list[Alarm]:
        if not isinstance(event, RunStarted):
            return []
        problems, fatal = head_problems(event.task, event.head, len(event.labels))
        evidence = {
            "outputs": event.head.outputs,
            "labels": event.head.labels or len(event.labels),
            "problem_type": event.head.problem_type,
            "task": event.task,
        }
        if not problems:
            return self.latch.release(event, "The classification head now fits the labels.", evidence)
        words = advice.head_mismatch_advice(evidence["labels"], expected_problem_type(event.task))
        return self.latch.raise_(
            event, "error" if fatal else "warning", advice.head_mismatch(problems), words, evidence
        )


def label_reading(notice: Notice) -> str | None:
    """Which task a label_format notice says the labels were read as (its `read_as`), if it says."""
    read = notice.evidence.get("read_as")
    return str(read) if read in tuple(Task) else None


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
        evidence = {**self._notice.evidence, "read_as": read, "task": task}
        message = advice.label_format(read, self._notice.message, task)
        return self.latch.raise_(event, "error", message, advice.LABEL_FORMAT_ADVICE, evidence)


# A head starts near 0: targets whose mean or spread is beyond this are on a scale it will fight for many
# steps (house prices, counts); STS-B's 0-5 and 1-10 ratings are well within it.
LARGE_TARGETS = 10.0


class TargetScale(LatchedRule):
    """Regression targets on a scale the head will fight (mean 2,500, std 900): say so before step 1."""

    kind = "target_scale"

    def observe(self, event: Event) -> list[Alarm]:
        if not isinstance(event, RunStarted) or event.task != Task.REGRESSION or not event.targets:
            return []
        if event.config.get("normalize_targets"):
            return []  # the head learns z-scores: the scale is taken care of
        mean, std = event.targets.get("mean", 0.0), event.targets.get("std", 0.0)
        evidence = {"mean": mean, "std": std, "min": event.targets.get("min"), "max": event.targets.get("max")}
        if max(abs(mean), std) <= LARGE_TARGETS:
            return self.latch.release(event, "The targets are on a scale the head can reach.", evidence)
        return self.latch.raise_(
            event, "warning", advice.target_scale(mean, std), advice.target_scale_advice(mean, std), evidence
        )
