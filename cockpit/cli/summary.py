"""The paragraph a cockpit prints when the run it shows has ended (`q` then `s`, or the last step).

The screen the user watched is gone once the cockpit closes; what they need next is in one
paragraph: how far the run got, its best evaluation, which alarms it raised (and which were still
up), where the model and the last checkpoint are, and the commands that resume or replay it. It is
read from the journal, the run's record, so every client and `--foreground` print the same.
"""

from __future__ import annotations

from pathlib import Path

from cockpit.contract.enums import Task
from cockpit.contract.events import Alarm, CheckpointSaved, EvalResult, Event, RunEnded, RunStarted, StepMetrics
from cockpit.rundir.journal import read_journal
from cockpit.rundir.layout import JOURNAL_NAME


def headline(result: EvalResult, task: str) -> tuple[str, float | None]:
    """The metric a run is judged by: micro-F1 for multilabel, accuracy otherwise (as the alarms judge it)."""
    name = "micro_f1" if task == Task.MULTILABEL else "accuracy"
    return name.replace("_", "-"), result.metrics.get(name)


def run_summary(run_dir: Path) -> str:
    """One paragraph on the run in `run_dir`, from its journal."""
    events = read_journal(run_dir / JOURNAL_NAME)
    return summarise(events, run_dir)


def summarise(events: list[Event], run_dir: Path) -> str:
    started: RunStarted | None = None
    ended: RunEnded | None = None
    step, epoch = 0, 0.0
    best: EvalResult | None = None
    last_eval: EvalResult | None = None
    raised: dict[str, str] = {}  # kind -> severity, every alarm raised
    active: set[str] = set()
    checkpoint: str | None = None
    for event in events:
        if isinstance(event, RunStarted):
            started = event
        elif isinstance(event, StepMetrics):
            step, epoch = event.step, event.epoch
        elif isinstance(event, EvalResult):
            last_eval = event
            task = started.task if started else ""
            value = headline(event, task)[1]
            if value is not None and (best is None or value > (headline(best, task)[1] or 0.0)):
                best = event
        elif isinstance(event, Alarm):
            if event.active:
                raised[event.kind] = str(event.severity)
                active.add(event.kind)
            else:
                active.discard(event.kind)
        elif isinstance(event, CheckpointSaved):
            checkpoint = event.path
        elif isinstance(event, RunEnded):
            ended = event
    task = started.task if started else ""
    total = f" of {started.total_steps}" if started else ""
    state = f"Run {ended.reason} at step {ended.step}{total}" if ended else f"Run at step {step}{total}, not ended"
    parts = [f"{state} (epoch {epoch:.2f})."]
    if best is not None:
        name, value = headline(best, task)
        parts.append(f"Best eval: {name} {value:.4f} at step {best.step}")
        majority = best.baselines.get("majority_accuracy")
        if majority is not None and task != Task.MULTILABEL:
            parts[-1] += f" (majority baseline {majority:.4f})"
        if last_eval is not None and last_eval is not best:
            parts[-1] += f"; last, at step {last_eval.step}: {headline(last_eval, task)[1] or 0.0:.4f}"
        parts[-1] += "."
    else:
        parts.append("No evaluation ran.")
    if raised:
        still = sorted(active)
        up = f", still up at the end: {', '.join(still)}" if still else ", all cleared by the end"
        parts.append(f"Alarms raised: {', '.join(raised)}{up}.")
    else:
        parts.append("No alarm was raised.")
    if ended is not None and ended.model_dir:
        parts.append(f"Model: {ended.model_dir} (loads with pipeline('text-classification', model=...)).")
    last_checkpoint = (ended.checkpoint if ended else None) or checkpoint
    if last_checkpoint:
        more = " --max-steps N" if ended is not None and ended.reason == "finished" else ""
        parts.append(f"Last checkpoint: {last_checkpoint}; continue with: cockpit train --resume {run_dir}{more}.")
    if ended is not None and ended.message:
        parts.append(ended.message.rstrip(".") + ".")
    parts.append(f"Replay it with: cockpit replay {run_dir}.")
    return " ".join(parts)
