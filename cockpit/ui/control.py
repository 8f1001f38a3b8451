"""What the UI needs from whoever runs the training: a place to send commands, and a blocking run.

The UI never sees the engine itself (nor torch): it holds a `RunControl`, structurally typed, so a
live engine thread, a test double that records commands, or nothing at all (`None`, read-only
replay) can stand behind it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cockpit.events import Command


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
    """One training row as the examples browser lists it: its row number, text and labels."""

    index: int
    text: str
    labels: list[str] = field(default_factory=list)


class TrainingExamples(Sequence):
    """The examples browser's rows, made when read: no Python object per training row held (#14)."""

    def __init__(self, train: Any, row_type: type = ExampleRow) -> None:  # train: cockpit.data.LabeledTexts
        self.train, self.row_type = train, row_type

    def __len__(self) -> int:
        return len(self.train)

    def _row(self, position: int, text: str, targets: Any) -> Any:
        labels = [n for n, t in zip(self.train.label_names, targets) if t > 0.5]
        return self.row_type(index=self.train.row_ids[position], text=text, labels=labels)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = int(index) + (len(self) if int(index) < 0 else 0)
        return self._row(position, self.train.texts[position], self.train.targets[position])

    def __iter__(self) -> Iterator[Any]:
        for position, (text, targets) in enumerate(zip(self.train.texts, self.train.targets)):
            yield self._row(position, text, targets)

    def search(self, query: str, limit: int) -> tuple[int, list[Any]]:
        """(how many rows hold every word of `query`, ignoring case; the first `limit` of them), vectorised
        over the Arrow texts: ~0.1 s a word at a million short rows, with no Python object per row."""
        words = query.lower().split()
        if not words:
            return len(self), self[:limit]
        positions = self.train.texts.matching(words)
        return len(positions), [self[int(p)] for p in positions[:limit]]
