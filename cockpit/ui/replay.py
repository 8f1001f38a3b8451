"""Feed a journal to the cockpit: `cockpit replay RUN_DIR [--follow]`.

The reader thread puts the journal's events on the same kind of queue the engine fills, so a
replay shows exactly what the live run showed; with `follow` it keeps reading as a headless run
(over SSH, say) appends, like `tail -f`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cockpit.contract.events import Event, Notice
from cockpit.rundir.journal import follow_journal, read_journal


def start_journal_reader(
    path: Path | str,
    events_queue: queue.SimpleQueue[Event],
    follow: bool,
    stop: threading.Event | None = None,
) -> threading.Thread:
    """Start (and return) a daemon thread that pushes the journal's events into `events_queue`.

    Without `follow` it reads the whole file once and ends. With it, it waits for the file to
    appear and keeps reading new lines until `stop` is set (or the process exits). A journal that
    cannot be read arrives as a Notice, so the cockpit shows why it stays empty.
    """
    journal = Path(path)

    def read() -> None:
        try:
            source = follow_journal(journal, stop=stop) if follow else read_journal(journal)
            for event in source:
                events_queue.put(event)
        except OSError as exc:
            events_queue.put(Notice(step=0, kind="journal_unreadable", message=f"cannot read {journal}: {exc}"))

    thread = threading.Thread(target=read, name="cockpit-journal-reader", daemon=True)
    thread.start()
    return thread


def drain_events(
    events: queue.SimpleQueue[Event], apply: Callable[[Event], None], deadline: float | None = None
) -> int:
    """Hand what is queued to `apply`, in order, until the queue is empty or `deadline` (monotonic
    seconds, looked at every 64 events) has passed: a 100k-event journal never freezes a screen.
    Returns how many were applied."""
    count = 0
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return count
        apply(event)
        count += 1
        if deadline is not None and count % 64 == 0 and time.monotonic() > deadline:
            return count
