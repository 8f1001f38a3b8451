"""Several runs side by side: each run's journal folded by the same `RunState` attach and replay
use, plus the few series a comparison needs beyond one run's panels.

What a comparison adds to a run's fold: every evaluation's metrics (not only the last ones), the
relative update of each layer group over time, the commands that changed the training (freeze,
unfreeze, lr, pause, resume, pos_weight), and the wall time. Then, across the runs: the flags
whose values differ, the pinned examples they share, and the table `cockpit compare --json` prints.
Nothing here imports Textual: `cockpit compare --json` folds without an app.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cockpit.contract.commands import Freeze, Pause, Resume, SetLearningRate, SetPosWeight, Unfreeze
from cockpit.contract.events import (
    CommandApplied,
    EvalResult,
    Event,
    PinnedExample,
    RunStarted,
    StepMetrics,
    headline_metric,
)
from cockpit.rundir.series import History
from cockpit.ui.run_state import RunState

# Per run: a glyph for its curve and its rows, so the runs read apart without colour (NO_COLOR, a
# 16-colour terminal, a screenshot in a grey PDF); then a theme colour.
GLYPHS = ("●", "▲", "■", "◆", "✚", "✖", "○", "△")
# The commands that change what is trained, marked on the step axis.
MARKED_COMMANDS = (Freeze, Unfreeze, SetLearningRate, Pause, Resume, SetPosWeight)
# Flags that differ between any two runs and say nothing about the training: not in the config diff.
NOT_COMPARED = frozenset({"out", "headless", "theme"})
EVAL_LIMIT = 4096  # evaluations kept per run (a run evaluates a few hundred times at most)


@dataclass
class Mark:
    """A command on the shared step axis, at the first step it applied to."""

    step: int
    command: str
    source: str


@dataclass
class EvalPoint:
    step: int
    loss: float
    metrics: dict[str, float]


@dataclass
class ComparedRun:
    """One run of a comparison: its `RunState`, and what the comparison keeps beyond it."""

    label: str  # the run directory as the user named it
    glyph: str
    state: RunState = field(default_factory=RunState)
    evals: list[EvalPoint] = field(default_factory=list)
    updates: dict[str, History] = field(default_factory=dict)  # layer group -> relative update per step
    marks: list[Mark] = field(default_factory=list)
    first_time: float | None = None

    def apply(self, event: Event) -> None:
        """Fold one event: into the run's RunState, then into the comparison's own series."""
        self.state.apply(event)
        if self.first_time is None:
            self.first_time = event.time
        if isinstance(event, RunStarted) and event.resumed_from is not None:
            self._forget_after(event.resumed_from)  # as RunState does: each step counts once
        elif isinstance(event, StepMetrics):
            for name, stats in event.layers.items():
                self.updates.setdefault(name, History(512)).append(event.step, stats.update_ratio)
        elif isinstance(event, EvalResult) and len(self.evals) < EVAL_LIMIT:
            self.evals.append(EvalPoint(event.step, event.loss, dict(event.metrics)))
        elif isinstance(event, CommandApplied) and isinstance(event.parsed, MARKED_COMMANDS):
            if not event.result.startswith(("refused", "error")):
                self.marks.append(Mark(event.step + 1, event.command, event.source))

    def _forget_after(self, step: int) -> None:
        self.evals = [e for e in self.evals if e.step <= step]
        for history in self.updates.values():
            history.drop_after(step)

    # ------------------------------------------------------------------ what is compared

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.state.started.config) if self.state.started else {}

    @property
    def wall_s(self) -> float | None:
        """From the journal's first event to its last (a resumed run's pause between processes included)."""
        if self.first_time is None or self.state.last_time is None:
            return None
        return self.state.last_time - self.first_time

    def best_eval(self) -> tuple[str, float, int] | None:
        """(metric, value, step) of the evaluation with the best headline metric (micro-F1)."""
        scored = [(headline_metric(e.metrics), e.step) for e in self.evals]
        scored = [(h, step) for h, step in scored if h is not None and math.isfinite(h[1])]
        if not scored:
            return None
        (name, value), step = max(scored, key=lambda item: (item[0][1], -item[1]))
        return name, value, step

    def eval_series(self, metric: str) -> tuple[list[float], list[float]]:
        """(steps, values) of one metric over the evaluations; `loss` is the eval loss."""
        points = [(e.step, e.loss if metric == "loss" else e.metrics.get(metric)) for e in self.evals]
        kept = [(s, v) for s, v in points if v is not None and math.isfinite(v)]
        return [float(s) for s, _ in kept], [float(v) for _, v in kept]

    def parted_from(self, first: ComparedRun) -> int | None:
        """The first step at which this run's training loss is not `first`'s.

        Two runs with the same seed, data and model take bit-identical steps until a flag or a
        command changes something: this is where they part (1: from the start; a freeze applied
        before step 30 parts them at 31, whose loss is the first computed with other weights).
        None while they have not parted over the steps both have. On a run longer than its loss
        history's capacity the points are thinned, so it is the first kept step that differs.
        """
        theirs = dict(zip(first.state.loss_history.xs, first.state.loss_history.ys, strict=True))
        for x, y in zip(self.state.loss_history.xs, self.state.loss_history.ys, strict=True):
            if x in theirs and theirs[x] != y and not (math.isnan(y) and math.isnan(theirs[x])):
                return int(x)
        return None

    def summary(self) -> dict[str, Any]:
        """This run's row of `cockpit compare --json`."""
        state = self.state
        last = self.evals[-1] if self.evals else None
        best = self.best_eval()
        return {
            "run": self.label,
            "glyph": self.glyph,
            "state": state.state,
            "step": state.step,
            "total_steps": state.total_steps,
            "wall_s": _rounded(self.wall_s, 1),
            "smoothed_loss": _rounded(state.smoothed_loss, 6),
            "final_eval": None if last is None else {"step": last.step, "loss": last.loss, "metrics": last.metrics},
            "best_eval": None if best is None else {"metric": best[0], "value": best[1], "step": best[2]},
            "commands": [{"step": m.step, "command": m.command, "source": m.source} for m in self.marks],
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def compared_runs(labels: list[str]) -> list[ComparedRun]:
    """Empty folds, one per run, each with its glyph."""
    return [ComparedRun(label, GLYPHS[i % len(GLYPHS)]) for i, label in enumerate(labels)]


def config_diff(runs: list[ComparedRun]) -> dict[str, list[Any]]:
    """The flags whose values differ between the runs: flag -> one value per run (None: not set)."""
    configs = [run.config for run in runs]
    if len(configs) < 2 or not all(configs):  # a run that has not started yet has no flags to compare
        return {}
    names = sorted({name for c in configs for name in c} - NOT_COMPARED)
    diff = {}
    for name in names:
        values = [c.get(name) for c in configs]
        if any(v != values[0] for v in values[1:]):
            diff[name] = values
    return diff


@dataclass
class SharedPin:
    """A pinned example every run follows: its text, targets, and each run's latest probabilities."""

    pin: PinnedExample
    labels: list[str]
    probs: list[list[float] | None]  # [run][label], in `labels` order; None: not predicted yet


def shared_pins(runs: list[ComparedRun]) -> list[SharedPin]:
    """The pinned examples (same row, same text) that all the runs follow, in the first run's order."""
    if not runs or any(run.state.started is None for run in runs):
        return []
    labels = runs[0].state.labels
    shared = []
    for pin in runs[0].state.pins:
        rows = []
        for run in runs:
            state = run.state
            where = [i for i, p in enumerate(state.pins) if p.index == pin.index and p.text == pin.text]
            if not where:
                break
            row = state.pin_probs[where[0]] if state.pin_probs and where[0] < len(state.pin_probs) else None
            by_name = dict(zip(state.labels, row, strict=False)) if row is not None else None
            rows.append([by_name.get(label, math.nan) for label in labels] if by_name is not None else None)
        else:
            shared.append(SharedPin(pin, labels, rows))
    return shared


def comparison(runs: list[ComparedRun]) -> dict[str, Any]:
    """What `cockpit compare --json` prints: a row per run (with the step it parted from the first
    run at), the config diff, the shared pins."""
    rows = [run.summary() for run in runs]
    for row, run in zip(rows[1:], runs[1:], strict=True):
        row["parted_from_first_at"] = run.parted_from(runs[0])
    return {
        "runs": rows,
        "config_diff": config_diff(runs),
        "shared_pins": [
            {
                "row": shared.pin.index,
                "text": shared.pin.text,
                "targets": dict(zip(shared.labels, shared.pin.targets, strict=False)),
                "probs": [None if p is None else dict(zip(shared.labels, p, strict=False)) for p in shared.probs],
            }
            for shared in shared_pins(runs)
        ],
    }
