"""Evaluation: accuracy beside the majority baseline, F1, and predicted vs true class counts.

Seed 003 stuck at accuracy 0.4908, exactly the majority class's share, because every prediction
was one class; here that is two equal numbers side by side and a predicted-distribution bar that
is full for one label and empty for the rest.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from cockpit.events import Alarm, EvalResult
from cockpit.ui.run_state import COLLAPSE, RunState
from cockpit.ui.series import bar, fmt_number, shorten

LABEL_WIDTH = 14
BAR_WIDTH = 8
METRIC_ORDER = ("accuracy", "micro_f1", "macro_f1")


def _delta(now: float, before: float | None) -> Content:
    if before is None or abs(now - before) < 5e-5:
        return Content("")
    arrow, colour = ("↑", "$text-success") if now > before else ("↓", "$text-error")
    return Content.styled(f" {arrow}{abs(now - before):.4f}", colour)


class EvalPanel(VerticalScroll):
    """Rebuilt only when an EvalResult arrives (a few times per run)."""

    DEFAULT_CSS = """
    EvalPanel {
        height: 1fr;
    }
    EvalPanel > Static {
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Eval"

    def compose(self) -> ComposeResult:
        yield Static(Content.styled("no evaluation yet", "$text-muted"), id="eval-body")

    def show(self, state: RunState) -> None:
        result = state.last_eval
        if result is None:
            return
        self.query_one("#eval-body", Static).update(self._body(result, state.previous_eval, state.verdict(COLLAPSE)))

    def _body(self, result: EvalResult, previous: EvalResult | None, collapse: Alarm | None) -> Content:
        lines = [
            Content.assemble(
                (f"step {result.step}", "bold"),
                f" · epoch {result.epoch:.2f} · {result.rows} rows · loss {fmt_number(result.loss)}",
                (f" (constant {fmt_number(result.baselines.get('constant_loss'))})", "$text-muted")
                if "constant_loss" in result.baselines
                else "",
            )
        ]
        majority = result.baselines.get("majority_accuracy")
        names = [m for m in METRIC_ORDER if m in result.metrics] + sorted(set(result.metrics) - set(METRIC_ORDER))
        for name in names:
            value = result.metrics[name]
            before = previous.metrics.get(name) if previous else None
            line = Content.assemble((f"{name.replace('_', ' '):<10}", "bold"), f" {value:.4f}", _delta(value, before))
            if name == "accuracy" and majority is not None:
                line += Content.styled(f"   majority baseline {majority:.4f}", "$text-muted")
            lines.append(line)
        if collapse is not None:  # the collapse rule's verdict, in its words (two evaluations, hysteresis)
            lines.append(Content.styled(f"⚠ {collapse.message}", "bold $text-warning"))
        lines.append(Content(""))
        lines.extend(self._label_table(result))
        return Content("\n").join(lines)

    def _label_table(self, result: EvalResult) -> list[Content]:
        labels = list(dict.fromkeys([*result.true_distribution, *result.predicted_distribution, *result.per_label_f1]))
        counts = [*result.true_distribution.values(), *result.predicted_distribution.values(), 1]
        most = max(counts)
        header = f"{'label':<{LABEL_WIDTH}} {'F1':>5}  {'predicted':<{BAR_WIDTH + 5}} {'true':<{BAR_WIDTH + 5}}"
        if result.thresholds:
            header += " best thr: F1 (at 0.5)"
        rows = [Content.styled(header, "bold underline")]
        for label in labels:
            predicted = result.predicted_distribution.get(label, 0)
            true = result.true_distribution.get(label, 0)
            f1 = result.per_label_f1.get(label)
            # a label predicted far more or less often than it occurs is where the errors are
            off = abs(predicted - true) > max(2, 0.5 * true)
            row = Content.assemble(
                f"{shorten(label, LABEL_WIDTH):<{LABEL_WIDTH}} ",
                (f"{f1:5.2f}" if f1 is not None else "    -", ""),
                "  ",
                (f"{bar(predicted, most, BAR_WIDTH):<{BAR_WIDTH}}", "$text-warning" if off else "$primary"),
                f"{predicted:>4} ",
                (f"{bar(true, most, BAR_WIDTH):<{BAR_WIDTH}}", "$text-muted"),
                f"{true:>4} ",
            )
            best = result.thresholds.get(label)
            if best:
                gain = best.get("f1", 0) - best.get("f1_at_half", 0)
                row += Content.assemble(
                    f" {best.get('threshold', 0.5):.2f}: ",
                    (f"{best.get('f1', 0):.2f}", "bold $text-success" if gain >= 0.05 else ""),
                    (f" ({best.get('f1_at_half', 0):.2f})", "$text-muted"),
                )
            rows.append(row)
        if result.thresholds:
            rows.append(Content.styled("t: keep these thresholds in the saved model", "$text-muted"))
        return rows
