"""The pinned examples the runs share, side by side: each run's latest probability per label.

A row per run under each shared example: its glyph, then for every label the probability, marked
✓/✗ against the target at 0.5 (a mark as well as a colour, so it reads without colour). A
regression run's pins show the predicted value beside the target, unmarked: whether a value is
close enough is the pinned panel's judgement on the run's own scale, not this table's.
"""

from __future__ import annotations

import math

from textual.content import Content

from cockpit.ui.compare_panel import ComparePanel, run_colour_variable
from cockpit.ui.compare_state import ComparedRun, shared_pins
from cockpit.ui.series import shorten

THRESHOLD = 0.5
CELL = 7  # "0.41✗ " and a space


class ComparePins(ComparePanel):
    @staticmethod
    def table(runs: list[ComparedRun], width: int) -> Content:
        pins = shared_pins(runs)
        if not pins:
            return Content.styled("no pinned example is shared by every run", "$text-muted")
        labels = pins[0].labels
        lines = [Content.styled("  " + "".join(f"{shorten(label, CELL - 1):<{CELL}}" for label in labels), "bold")]
        for shared in pins:
            lines.append(Content.styled(shorten(f"#{shared.pin.index} {shared.pin.text}", width), "bold"))
            targets = "".join(f"{(str(int(t)) if t in (0.0, 1.0) else f'{t:.3g}'):<{CELL}}" for t in shared.pin.targets)
            lines.append(Content.styled(f"  {targets}target", "$text-muted"))
            for position, (run, probs) in enumerate(zip(runs, shared.probs, strict=True)):
                line = Content.styled(f"{run.glyph} ", f"bold ${run_colour_variable(position)}")
                if probs is None:
                    lines.append(line + Content.styled("not predicted yet", "$text-muted"))
                    continue
                for prob, target in zip(probs, shared.pin.targets, strict=False):
                    if not math.isfinite(prob):
                        line += Content(f"{'-':<{CELL}}")
                        continue
                    if run.state.regression:
                        line += Content(f"{prob:<{CELL}.3g}")
                        continue
                    right = (prob >= THRESHOLD) == (target >= THRESHOLD)
                    cell = f"{prob:.2f}{'✓' if right else '✗'}".ljust(CELL)
                    line += Content.styled(cell, "" if right else "bold $text-error")
                lines.append(line)
        return Content("\n").join(lines)
