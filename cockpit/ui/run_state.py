"""The cockpit's model of the run: the journal's fold (`RunFold`), plus what only the screen knows.

Everything the journal says is folded in `cockpit.rundir.fold`, the same code the trainer runs to
keep the run's summary file, so a client that starts from the summary and one that reads the whole
journal show the same run. What this class adds is the screen's own: an error of the training
worker in this process, freeze requests not confirmed yet, and which panels still have to redraw.
"""

from __future__ import annotations

from cockpit.contract.events import Alarm
from cockpit.rundir.fold import (
    ALL_PANELS,
    COLLAPSE,
    EVAL,
    LAYERS,
    LAYERS_LAYOUT,
    LOG,
    LOSS,
    OUT_OF_MEMORY,
    PINS,
    PINS_LAYOUT,
    PINS_NOT_LEARNED,
    PREDICTIONS_LAG,
    STATUS,
    SYSTEM,
    LayerView,
    LogEntry,
    RunFold,
)

__all__ = [
    "ALL_PANELS",
    "COLLAPSE",
    "EVAL",
    "LAYERS",
    "LAYERS_LAYOUT",
    "LOG",
    "LOSS",
    "OUT_OF_MEMORY",
    "PINS",
    "PINS_LAYOUT",
    "PINS_NOT_LEARNED",
    "PREDICTIONS_LAG",
    "STATUS",
    "SYSTEM",
    "LayerView",
    "LogEntry",
    "RunState",
]


class RunState(RunFold):
    """The run as the panels see it."""

    def take_changes(self) -> set[str]:
        """The panels changed since the last call (and forget them)."""
        changed, self.changed = self.changed, set()
        return changed

    def record_error(self, message: str) -> None:
        """The training worker raised: show it as the run's state, not as a hang."""
        self.error = message
        if self.ended is None:
            self.state, self.state_reason = "error", message
        self._log(LogEntry(self.step, "error", "training stopped with an error", message, severity="error"))
        self.changed |= {STATUS, LOG}

    def request_freeze(self, names: list[str], frozen: bool) -> None:
        """Mark layers as asked-for until a step (or the command's echo) confirms them."""
        for name in names:
            if name in self.layers:
                self.layers[name].requested_frozen = frozen
        self.changed.add(LAYERS)

    def verdict(self, kind: str) -> Alarm | None:
        """The alarm of this kind while it is raised: what a panel marks, judged by the rule alone."""
        return self.active_alarms.get(kind)
