"""Feed a journal to the cockpit: `cockpit replay RUN_DIR [--follow]`.

The reader thread puts the run on the same kind of queue the engine fills: first its fold so far
(from the run's summary file, so a run of a million steps opens as fast as one of a thousand), then
the journal's events after it; with `follow` it keeps reading as a headless run (over SSH, say)
appends, like `tail -f`. A replay shows exactly what the live run showed: the fold is the same code.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cockpit.contract.events import Event, Notice
from cockpit.rundir.fold import FoldSnapshot
from cockpit.rundir.journal import RunReader
from cockpit.rundir.lock import live_pid

POLL_S = 0.25  # how often a followed journal is looked at for new lines


def start_journal_reader(
    path: Path | str,
    events_queue: queue.SimpleQueue[Event | FoldSnapshot],
    follow: bool,
    stop: threading.Event | None = None,
    every_event: bool = False,
) -> threading.Thread:
    """Start (and return) a daemon thread that pushes the run's fold, then its events, into `events_queue`.

    Without `follow` it reads to the journal's end once and ends. With it, it waits for the file to
    appear and keeps reading new lines until `stop` is set (or the process exits). A journal that
    cannot be read arrives as a Notice, so the cockpit shows why it stays empty. A run that no
    trainer holds any more and has no summary gets one written when it has been read, so the next
    replay opens at once. With `every_event`, every event from the journal's first line instead of
    the fold (see `RunReader`).
    """
    journal = Path(path)
    stop = stop or threading.Event()

    def read() -> None:
        try:
            while follow and not journal.exists():
                if stop.wait(POLL_S):
                    return
            run = RunReader(journal, keep_rebuilt=live_pid(journal.parent) is None, every_event=every_event)
            try:
                for item in run.catch_up():
                    events_queue.put(item)
                if follow:
                    for event in run.follow(stop, POLL_S):
                        events_queue.put(event)
                else:
                    for event in run.finish():
                        events_queue.put(event)
            finally:
                run.close()
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
