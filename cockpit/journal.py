"""journal.jsonl: one JSON object per event, one line each, flushed as written.

The journal is the run's memory: the UI's replay mode, `--follow` over SSH and the tests all read
it back with the same function. A process killed mid-write can leave a torn last line; readers
skip it rather than fail, so a journal is never "corrupt".
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cockpit.events import Event, event_from_dict

JOURNAL_NAME = "journal.jsonl"


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings a reader can tell apart from numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _restore(value: Any) -> Any:
    if value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value


class JournalWriter:
    """An event observer that appends each event as a line and flushes it at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(_finite(event.to_dict()), separators=(",", ":"), allow_nan=False)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


def _parse_line(line: str) -> Event | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None  # a torn line from a process killed mid-write
    if not isinstance(data, dict):
        return None
    return event_from_dict(_restore(data))


def read_journal(path: Path) -> list[Event]:
    """Every complete event in the journal, in order."""
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            event = _parse_line(line)
            if event is not None:
                events.append(event)
    return events


def follow_journal(path: Path, poll_s: float = 0.25, stop: threading.Event | None = None) -> Iterator[Event]:
    """Yield events as a live process appends them (like `tail -f`), until `stop` is set.

    A line without its newline yet is held back until it is complete.
    """
    stop = stop or threading.Event()
    while not path.exists():
        if stop.is_set():
            return
        time.sleep(poll_s)
    with open(path, encoding="utf-8") as handle:
        pending = ""
        while not stop.is_set():
            chunk = handle.readline()
            if not chunk:
                time.sleep(poll_s)
                continue
            pending += chunk
            if not pending.endswith("\n"):
                continue
            event = _parse_line(pending)
            pending = ""
            if event is not None:
                yield event
