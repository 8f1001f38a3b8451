"""What the UI needs from whoever runs the training: a place to send commands, and a blocking run.

The UI never sees the engine itself (nor torch): it holds a `RunControl`, structurally typed, so a
live engine thread, a test double that records commands, or nothing at all (`None`, read-only
replay) can stand behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cockpit.contract.commands import Command


@runtime_checkable
class RunControl(Protocol):
    """The two calls the cockpit makes on a live run."""

    def submit(self, command: Command, source: str = "ui") -> None:
        """Queue a command; the engine applies it between optimizer steps (thread-safe)."""

    def run(self) -> object:
        """Block until training has ended; the app calls it from a thread worker on mount.

        Whatever it returns is ignored (the run's outcome arrives as a `RunEnded` event); if it
        raises, the app shows the error instead of hanging.
        """


@dataclass
class ExampleRow:
    """One row of the data file as the examples browser lists it: its row number, text and labels, and
    whether it is a training row or in the eval split (an eval row cannot be pinned: the run never
    trains on it, so its predictions would not say how training goes)."""

    index: int
    text: str
    labels: list[str] = field(default_factory=list)
    split: str = "train"  # "train" | "eval"
