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

from cockpit.contract.events import Alarm, EvalResult
from cockpit.ui.look import MARKS
from cockpit.ui.run_state import COLLAPSE, RunState
from cockpit.ui.series import bar, fmt_number, shorten

LABEL_MIN, BAR_MIN, BAR_MAX = 8, 3, 16
METRIC_ORDER = ("accuracy", "micro_f1", "macro_f1", "mse", "mae", "pearson", "spearman", "r2")
SPREAD = ("prediction_mean", "prediction_std", "target_std")  # regression: shown as one line of bars


def _delta(now: float, before: float | None) -> Content:
    if before is None or abs(now - before) < 5e-5:
        return Content("")
    arrow, colour = (MARKS.up, "$text-success") if now > before else (MARKS.down, "$text-error")
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
        self.run_state: RunState | None = None
        self._width = 0

    def compose(self) -> ComposeResult:
        yield Static(Content.styled("no evaluation yet", "$text-muted"), id="eval-body")

    def on_mount(self) -> None:
        if self.run_state is not None:  # a redraw came before the body existed: draw what it had
            self.show(self.run_state)

    def on_resize(self) -> None:
        if self.run_state is not None and self._text_width() != self._width:
            self.show(self.run_state)

    def _text_width(self) -> int:
        # inside the border, less the Static's padding and a vertical scrollbar (there once the table is long)
        return max(
            (self.content_region.width or self.app.size.width // 2) - 2 - self.styles.scrollbar_size_vertical, 30
        )

    def show(self, state: RunState) -> None:
        self.run_state = state
        result = state.last_eval
        if result is None or not self.query("#eval-body"):  # not composed yet: on_mount draws it
            return
        self._width = self._text_width()
        self.query_one("#eval-body", Static).update(self.body(result, state.previous_eval, state.verdict(COLLAPSE)))

    def body(self, result: EvalResult, previous: EvalResult | None, collapse: Alarm | None) -> Content:
        wide = self._width >= 64  # else the loss goes on a line of its own rather than wrap anywhere
        lines = [
            Content.assemble(
                (f"step {result.step}", "bold"),
                f" {MARKS.dot} epoch {result.epoch:.2f} {MARKS.dot} {result.rows} rows"
                + (f" {MARKS.dot} " if wide else "\n"),
                f"loss {fmt_number(result.loss)}",
                (f" (constant {fmt_number(result.baselines.get('constant_loss'))})", "$text-muted")
                if "constant_loss" in result.baselines
                else "",
            )
        ]
        majority = result.baselines.get("majority_accuracy")
        constant = result.baselines.get("constant_mse")
        shown = [m for m in result.metrics if m not in SPREAD]
        names = [m for m in METRIC_ORDER if m in shown] + sorted(set(shown) - set(METRIC_ORDER))
        for name in names:
            value = result.metrics[name]
            before = previous.metrics.get(name) if previous else None
            line = Content.assemble((f"{name.replace('_', ' '):<10}", "bold"), f" {value:.4f}", _delta(value, before))
            if name == "accuracy" and majority is not None:
                line += Content.styled(f"   majority baseline {majority:.4f}", "$text-muted")
            if name == "mse" and constant is not None:
                mean = result.baselines.get("constant_prediction")
                line += Content.styled(
                    f"   constant predictor {constant:.4f} (always {fmt_number(mean)})", "$text-muted"
                )
            lines.append(line)
        if "target_std" in result.metrics:
            lines.append(self._spread(result))
        if collapse is not None:  # the collapse rule's verdict, in its words (two evaluations, hysteresis)
            lines.append(Content.styled(f"{MARKS.warning} {collapse.message}", "bold $text-warning"))
        if result.per_label_f1 or result.predicted_distribution:
            lines.append(Content(""))
            lines.extend(self._label_table(result))
        return Content("\n").join(lines)

    def _spread(self, result: EvalResult) -> Content:
        """Regression: how much the predictions spread against the targets (a collapse is a bar near empty)."""
        predicted, target = result.metrics.get("prediction_std", 0.0), result.metrics.get("target_std", 0.0)
        most = max(predicted, target, 1e-12)
        width = max(BAR_MIN, min(BAR_MAX, (self._width - 40) // 2))
        return Content.assemble(
            ("spread    ", "bold"),
            " predictions ",
            (f"{bar(predicted, most, width):<{width}}", "$text-warning" if predicted < 0.1 * target else "$primary"),
            f" {predicted:.3g}  targets ",
            (f"{bar(target, most, width):<{width}}", "$text-muted"),
            f" {target:.3g}",
        )

    def _label_table(self, result: EvalResult) -> list[Content]:
        """One row per label, its columns sized to the panel's width so that no row wraps."""
        labels = list(dict.fromkeys([*result.true_distribution, *result.predicted_distribution, *result.per_label_f1]))
        counts = [*result.true_distribution.values(), *result.predicted_distribution.values(), 1]
        most = max(counts)
        digits = len(str(most))
        # label | F1 | predicted: bar count | true: bar count | best thr, F1 there, (F1 at 0.5)
        thresholds = 18 if result.thresholds else 0
        longest = max([len(label) for label in labels] + [LABEL_MIN])
        fixed = 1 + 5 + 2 + 2 * (digits + 1) + 1 + thresholds
        # label names first get the width there is (up to their longest), the bars what is left
        room = self._width - fixed - max(2 * BAR_MIN, BAR_MIN + len("predicted") - digits - 1)
        label_width = max(LABEL_MIN, min(longest, room))
        bar_width = max(BAR_MIN, min(BAR_MAX, (self._width - fixed - label_width) // 2))
        predicted_column = max(bar_width + 1 + digits, len("predicted"))
        true_column = bar_width + 1 + digits
        label_width = max(LABEL_MIN, min(longest, self._width - fixed - bar_width - predicted_column + digits + 1))
        header = f"{'label':<{label_width}} {'F1':>5}  {'predicted':<{predicted_column}} {'true':<{true_column}}"
        if result.thresholds:
            header += f"  {'thr':>4} {'F1':>4} (@0.5)"
        rows = [Content.styled(header, "bold underline")]
        for label in labels:
            predicted = result.predicted_distribution.get(label, 0)
            true = result.true_distribution.get(label, 0)
            f1 = result.per_label_f1.get(label)
            # a label predicted far more or less often than it occurs is where the errors are
            off = abs(predicted - true) > max(2, 0.5 * true)
            row = Content.assemble(
                f"{shorten(label, label_width):<{label_width}} ",
                (f"{f1:5.2f}" if f1 is not None else "    -", ""),
                "  ",
                (f"{bar(predicted, most, bar_width):<{bar_width}}", "$text-warning" if off else "$primary"),
                f" {predicted:>{digits}}".ljust(predicted_column - bar_width + 1),
                (f"{bar(true, most, bar_width):<{bar_width}}", "$text-muted"),
                f" {true:>{digits}}",
            )
            best = result.thresholds.get(label)
            if best:
                gain = best.get("f1", 0) - best.get("f1_at_half", 0)
                row += Content.assemble(
                    f"  {best.get('threshold', 0.5):4.2f} ",
                    (f"{best.get('f1', 0):4.2f}", "bold $text-success" if gain >= 0.05 else ""),
                    (f" ({best.get('f1_at_half', 0):.2f})", "$text-muted"),
                )
            rows.append(row)
        if result.thresholds:
            rows.append(Content.styled("t: save these thresholds with the model (asks first)", "$text-muted"))
        return rows
