"""The notifier: a producer on the run's event stream that hands what is to be told to a worker.

Per event the training thread does O(1) work: it asks whether the event is a notification (an
alarm raised, the run's end, an evaluation if asked for), whether its kind was told within the
last `every_s` (one message per alarm kind per 10 minutes by default; the end is always told), and
puts it on a bounded queue. A worker thread, started with the first notification, delivers it to
the command and the URL, each with a timeout; a receiver that hangs or fails holds up only the
worker. The first failure of each target comes back as a `notify_failed` notice, returned to the
stream with the next event (so it is journaled in order, from the training thread); later failures
of the same target are counted, not journaled again.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from cockpit.contract.commands import (
    DEFAULT_NOTIFY_KINDS,
    NOTIFY_OFF,
    is_url,
    notify_kinds_spec,
    notify_url_spec,
    redact_target,
)
from cockpit.contract.events import EvalResult, Event, Notice, RunStarted
from cockpit.notify.deliver import DeliveryError, post, run_command
from cockpit.notify.message import document, kind_of, request_body, summary

DEFAULT_EVERY_S = 600.0
DEFAULT_TIMEOUT_S = 10.0
QUEUE_LIMIT = 64  # notifications waiting for the worker; beyond, new ones are dropped and counted
FAILED_KIND = "notify_failed"


@dataclass(frozen=True)
class Targets:
    """Where notifications go: a shell command, a URL, both or neither. Replaced whole, never edited,
    so the worker reads a consistent pair while the training thread changes it."""

    command: str | None = None
    url: str | None = None

    def __bool__(self) -> bool:
        return bool(self.command or self.url)

    def shown(self) -> str:
        said = [f"command {self.command!r}" if self.command else "", redact_target(self.url) or ""]
        return " and ".join(s for s in said if s) or "nowhere"

    def with_target(self, target: str) -> Targets:
        """`notify=` as a command: a URL replaces the URL, a command the command, `off` clears both."""
        if target.strip().lower() == NOTIFY_OFF:
            return Targets()
        if is_url(target):
            return replace(self, url=notify_url_spec(target))
        return replace(self, command=target)


@dataclass(frozen=True)
class Job:
    event: Event
    run: str
    line: str
    targets: Targets


class Notifier:
    """Tells `targets` about the run's alarms and end (and evaluations, if `kinds` says so).

    Install it as a producer of the run's `EventStream` (it returns its failure notices there),
    and call `close()` when the run has ended, so that the end's notification leaves before the
    process does.
    """

    def __init__(
        self,
        command: str | None = None,
        url: str | None = None,
        kinds: Iterable[str] = DEFAULT_NOTIFY_KINDS,
        every_s: float = DEFAULT_EVERY_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets = Targets(command, notify_url_spec(url) if url else None)
        self.kinds = frozenset(notify_kinds_spec(tuple(kinds)))
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.run = ""
        self.sent = 0  # deliveries that reached their target
        self.failed = 0
        self.dropped = 0  # notifications that found the queue full
        self._last_eval: EvalResult | None = None
        self._told_at: dict[str, float] = {}  # alarm kind (or "eval") -> when it was last queued
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._failures: deque[Notice] = deque()  # filled by the worker, drained by the training thread
        self._failed_targets: set[str] = set()
        self._step = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the training thread

    def __call__(self, event: Event) -> list[Event]:
        """The producer: queue `event` if it is to be told; return failure notices gathered so far."""
        self._step = event.step
        if isinstance(event, RunStarted):
            self.run = event.run_dir
        elif isinstance(event, EvalResult):
            self._last_eval = event
        kind = kind_of(event)
        if kind in self.kinds and self.targets and not self._too_soon(kind, event):
            self._queue(Job(event, self.run, summary(event, self.run, self._last_eval), self.targets))
        return self._take_failures() if self._failures else []

    def set_target(self, target: str) -> str:
        """`notify=URL|COMMAND|off` on a live run; what the run now tells, in words."""
        self.targets = self.targets.with_target(target)
        self._failed_targets.clear()  # a new target's first failure is news again
        if not self.targets:
            return "notifications off"
        return f"notifying {self.targets.shown()} of {', '.join(sorted(self.kinds))}"

    def _too_soon(self, kind: str, event: Event) -> bool:
        if kind == "end":
            return False
        key = f"alarm:{getattr(event, 'kind', '')}" if kind == "alarm" else kind
        now = self.clock()
        last = self._told_at.get(key)
        if last is not None and now - last < self.every_s:
            return True
        self._told_at[key] = now
        return False

    def _queue(self, job: Job) -> None:
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="cockpit-notify", daemon=True)
                self._thread.start()

    def _take_failures(self) -> list[Event]:
        taken = []
        while self._failures:
            notice = self._failures.popleft()
            taken.append(replace(notice, step=self._step))
        return taken

    # ------------------------------------------------------------------ the worker

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                self._deliver(job)
            finally:
                self._jobs.task_done()

    def _deliver(self, job: Job) -> None:
        targets = job.targets
        if targets.url:
            body, headers = request_body(targets.url, job.event, job.run, job.line)
            self._attempt(targets.url, lambda: post(targets.url, body, headers, self.timeout_s))  # type: ignore[arg-type]
        if targets.command:
            stdin = json.dumps(document(job.event, job.run, job.line), allow_nan=False).encode()
            env = {"COCKPIT_SUMMARY": job.line, "COCKPIT_KIND": kind_of(job.event) or "", "COCKPIT_RUN_DIR": job.run}
            command = targets.command
            self._attempt(command, lambda: run_command(command, stdin, env, self.timeout_s))

    def _attempt(self, target: str, send: Callable[[], None]) -> None:
        try:
            send()
        except DeliveryError as exc:
            if target not in self._failed_targets:
                self._failed_targets.add(target)
                message = f"notify: {exc} (later failures of this target are not journaled)"
                self._failures.append(Notice(step=self._step, kind=FAILED_KIND, message=message))
            self.failed += 1  # counted once its notice is there: whoever sees the count finds the notice
            return
        self.sent += 1

    # ------------------------------------------------------------------ the end

    def close(self, wait_s: float | None = None) -> None:
        """Deliver what is queued (the run's end), waiting at most `wait_s` (default: one timeout
        per target, plus a second); a failure then has no journal left to go to: it goes to stderr."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        try:
            self._jobs.put(None, timeout=1.0)
        except queue.Full:
            pass
        wait = wait_s if wait_s is not None else 2 * self.timeout_s + 1.0
        thread.join(wait)
        with self._lock:
            self._thread = None  # a later notification (the same callback, another train()) starts a new worker
        for notice in self._take_failures():
            print(f"cockpit: {notice.message}", file=sys.stderr)
        if thread.is_alive():
            print(f"cockpit: notify: still sending after {wait:g} s; not waiting longer", file=sys.stderr)
