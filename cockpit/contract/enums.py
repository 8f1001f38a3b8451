"""The fixed vocabularies of the contract.

StrEnums: written to the journal as their plain string values, equal to those strings, and a typo
(`EndReason.FINSHED`) fails at once instead of never matching.
"""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    BINARY = "binary"  # one label per row, two labels
    MULTICLASS = "multiclass"  # one label per row
    MULTILABEL = "multilabel"  # any number of labels per row
    REGRESSION = "regression"  # one number per row (a score, a rating): one output, mean squared error


class RunStatus(StrEnum):
    """What `StateChanged` reports; the end of a run is `RunEnded` with an `EndReason`."""

    RUNNING = "running"
    PAUSED = "paused"


class EndReason(StrEnum):
    FINISHED = "finished"  # every step trained
    STOPPED = "stopped"  # a stop command, or a non-finite loss in a headless run
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM, SIGHUP
    ERROR = "error"  # an exception; `RunEnded.message` says which and where
    DISK_FULL = "disk_full"  # the journal or a checkpoint could not be written for lack of space


class Severity(StrEnum):
    WARNING = "warning"  # the run goes on, and is probably wasting its time
    ERROR = "error"  # the run cannot give a useful model as it is
    INFO = "info"  # worth knowing while watching, nothing to fix (pinned rows not learned yet)
    # A released alarm (`active` False). Journals before #25 repeated the raised severity there, so a
    # script counting "warning" counted each alarm twice; `active` still tells them apart in old journals.
    CLEARED = "cleared"
