"""The one ordered event stream: journal first, then observers, then producers, in FIFO order.

Every event of a run goes through `EventStream.emit`. Each event is written to the journal,
handed to every observer (`Callable[[Event], None]`: the UI queue, the progress line), then to
every producer (`Callable[[Event], list[Event]]`: the diagnostics), whose returned events are
queued behind it and take the same path. An `emit` made while an event is being dispatched (by a
producer, an observer, or another thread) is queued, not nested. So every observer sees the
journal's order, and a journal replayed through a fresh producer gives the same events again.

A failing journal write (a full disk) raises: a run never trains on without its journal. A
failing observer or producer is detached with a Notice saying so; it never breaks training
(HF's `CallbackHandler` and minGPT's `trigger_callbacks` keep callbacks apart from the loop the
same way).
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable

from cockpit.contract.events import Event, Notice

Observer = Callable[[Event], None]
Producer = Callable[[Event], list[Event]]


class EventStream:
    """FIFO dispatch of events to the journal, observers and producers; never re-entrant."""

    def __init__(
        self,
        journal: Observer | None = None,
        observers: Iterable[Observer] = (),
        producers: Iterable[Producer] = (),
    ) -> None:
        self.journal = journal
        self.journal_error: Exception | None = None  # set when the journal failed: the run must stop
        self.observers: list[Observer] = list(observers)
        self.producers: list[Producer] = list(producers)
        self._queue: deque[Event] = deque()
        self._lock = threading.Lock()
        self._draining = False

    def emit(self, event: Event) -> None:
        """Queue `event`; the first caller drains the queue, later (nested or other-thread) callers return."""
        with self._lock:
            self._queue.append(event)
            if self._draining:
                return
            self._draining = True
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False  # in the same lock as the check: no event is left behind
                    return
                event = self._queue.popleft()
            try:
                self._dispatch(event)
            except BaseException:  # KeyboardInterrupt in the engine thread: let the next emit drain
                with self._lock:
                    self._draining = False
                raise

    def _dispatch(self, event: Event) -> None:
        if self.journal is not None:
            try:
                self.journal(event)
            except Exception as exc:  # never train on without a journal: the engine stops the run (reason error)
                self.journal, self.journal_error = None, exc
                raise
        for observer in list(self.observers):
            try:
                observer(event)
            except Exception as exc:
                self.observers.remove(observer)
                self._detached(observer, "observer", event, exc)
        for producer in list(self.producers):
            try:
                produced = producer(event)
            except Exception as exc:
                self.producers.remove(producer)
                self._detached(producer, "producer", event, exc)
                continue
            with self._lock:
                self._queue.extend(produced or ())

    def _detached(self, what: object, role: str, event: Event, exc: Exception) -> None:
        message = f"{role} {what!r} failed on a {event.type} event and was detached: {exc!r}"
        print(f"cockpit: {message}", file=sys.stderr)
        with self._lock:
            self._queue.append(Notice(step=event.step, kind="observer_failed", message=message))
