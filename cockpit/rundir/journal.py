"""journal.jsonl: one JSON event per line, flushed as written; and every way of reading it back.

The journal is the run's memory: the UI's replay mode, `cockpit attach`, `--follow` over SSH and
the tests all read it back with the same reader (`JournalReader`, on `journal_lines.ReadState`).
It is read defensively, because it outlives the code that wrote it and people edit files by hand:
- a line that does not parse, or whose fields do not fit the event (an older version, a hand
  edit, a torn write), is skipped and counted, and a `journal_skipped` notice takes its place:
  one bad line never empties a replay;
- a process killed mid-write leaves a torn last line: skipped without a word (it may still be
  being written); the next writer starts on a new line, and from then on it counts as a bad line;
- after a crash and `--resume`, the steps the crashed process took after its last checkpoint are
  taken again: `read_journal` keeps only the retaken ones, so every step counts once;
- JSON has no NaN/inf: non-finite floats are written as `{"$float": "nan"}`, so a label or a
  pinned text that happens to read "inf" stays a string.

The writer also keeps the run's summary beside the journal (`cockpit.rundir.summary`): a client
reads that, then only the bytes written after it (`open_run`), whatever the run's length.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from cockpit.contract.events import Event, RunStarted
from cockpit.rundir.fold import FoldSnapshot, RunFold
from cockpit.rundir.journal_lines import (
    REPEATED_KIND,
    SKIPPED_KIND,
    ReadState,
    encode_event,
    parse_event,
    repeated_notice,
)
from cockpit.rundir.summary import SummaryKeeper, read_summary, write_summary

__all__ = [
    "REPEATED_KIND",
    "SKIPPED_KIND",
    "JournalReader",
    "JournalWriteError",
    "JournalWriter",
    "drop_repeated_steps",
    "RunReader",
    "parse_event",
    "read_journal",
]

# What belongs to a step: a resumed run that takes the step again replaces them.
PER_STEP = frozenset({"step", "eval", "pins", "checkpoint", "alarm"})
# While a client rebuilds a fold from a journal without a summary, it shows its progress this often;
# a rebuild that took longer than this is kept as the run's summary (`keep_rebuilt`).
REBUILD_SHOW_EVERY_S = 1.0


class JournalWriteError(OSError):
    """The journal could not be written (a full disk, a removed run directory): the run must stop."""


class JournalWriter:
    """An event observer that appends each event as a line and flushes it at once.

    A failed write raises `JournalWriteError`: a run must not go on without its journal. With
    `summary` (the default) it also folds what it writes and keeps the summary file beside the
    journal; the fold starts with the first event that is not a loading stage (the loading screen's
    writers open and close the journal once per stage and keep no summary).
    """

    def __init__(self, path: Path, summary: bool = True) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torn = _ends_torn(path)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            if torn:  # a process killed mid-line: never glue the next event onto its remains
                self._file.write("\n")
                self._file.flush()
        except OSError as exc:
            raise JournalWriteError(f"cannot write the journal {path}: {exc.strerror or exc}") from None
        self._lock = threading.Lock()
        self._keep_summary = summary
        self.keeper: SummaryKeeper | None = None

    def __call__(self, event: Event) -> None:
        line = encode_event(event) + "\n"  # ASCII (json.dumps escapes the rest): its length is its size in bytes
        with self._lock:
            if self._file.closed:
                return
            if self._keep_summary and self.keeper is None and event.type != "loading":
                self.keeper = _start_keeper(self.path)
            try:
                self._file.write(line)
                self._file.flush()
            except OSError as exc:
                raise JournalWriteError(f"cannot write the journal {self.path}: {exc.strerror or exc}") from None
            if self.keeper is not None:
                self.keeper.written(event, len(line))

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                pass  # already reported by the write that failed
            finally:
                try:
                    self._file.close()
                except OSError:
                    pass
            if self.keeper is not None:
                self.keeper.write()


def _start_keeper(path: Path) -> SummaryKeeper | None:
    """The fold of what the journal holds already (a resumed run's: from its summary, then the rest)."""
    try:
        fold, state = RunFold(), ReadState()
        summary = read_summary(path) if path.exists() else None
        if summary is not None:
            fold.apply(summary[0])
            state = summary[1]
        if path.exists():
            reader = JournalReader(path, state)
            for event in reader.read():
                fold.apply(event)
            reader.close()
        return SummaryKeeper(path, fold, state)
    except Exception:  # noqa: BLE001 - the summary is a cache: without it clients read the journal, as before
        return None


def _ends_torn(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class JournalReader:
    """Reads a journal's whole lines from where `state` stands, as many as there are now.

    A line without its newline yet (being written, or cut by a kill) is left for the next `read`.
    Only a regular file is read: a journal swapped for a device (/dev/zero never ends a line) or a
    FIFO (it blocks) raises OSError.
    """

    def __init__(self, path: Path, state: ReadState | None = None) -> None:
        self.path = Path(path)
        self.state = state or ReadState()
        self._handle = open(self.path, "rb", opener=_regular_file)  # noqa: SIM115 - closed in close()
        self._handle.seek(self.state.offset)

    def read(self) -> Iterator[Event]:
        """The events of the whole lines written since the last read."""
        handle, state = self._handle, self.state
        while True:
            line = handle.readline()
            if not line:
                return
            if not line.endswith(b"\n"):
                handle.seek(state.offset)
                return
            yield from state.read_line(line)

    def finish(self) -> list[Event]:
        """At the end of a replay: the notice for unreadable lines not reported yet."""
        return self.state.finish()

    def close(self) -> None:
        self._handle.close()


def _regular_file(path: str, flags: int) -> int:
    fd = os.open(path, flags | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return fd


def read_journal(path: Path) -> list[Event]:
    """Every readable event in the journal, in order, each step once.

    Unreadable lines are replaced by a `journal_skipped` notice counting them; steps that a
    crashed process took after its last checkpoint, and that the resumed run took again, are kept
    once (the resumed run's), with a `journal_repeated_steps` notice saying so.
    """
    reader = JournalReader(path, ReadState(announce_repeats=False))
    try:
        events = list(reader.read())
    finally:
        reader.close()
    return drop_repeated_steps(events + reader.finish())


def drop_repeated_steps(events: list[Event]) -> list[Event]:
    """Keep each step once: a resume from step R replaces what the journal holds after step R.

    Only what belongs to a step (its metrics, evaluations, predictions, checkpoints, alarms) is
    replaced; notices and commands of the crashed process stay, as they happened.
    """
    if not any(isinstance(e, RunStarted) and e.resumed_from is not None for e in events):
        return events
    kept: list[Event] = []
    for event in events:
        if isinstance(event, RunStarted) and event.resumed_from is not None and kept:
            resumed = event.resumed_from
            repeated = [e for e in kept if e.type in PER_STEP and e.step > resumed]
            if repeated:
                steps = sorted({e.step for e in repeated})
                kept = [e for e in kept if not (e.type in PER_STEP and e.step > resumed)]
                kept.append(event)
                kept.append(repeated_notice(resumed, steps[0], steps[-1], event.time))
                continue
        kept.append(event)
    return kept


class RunReader:
    """A client's reader of one run: the fold so far, then only the journal bytes written after it.

    `catch_up` yields the run's fold (a `FoldSnapshot`, which a fold's `apply` takes like an event),
    then the events up to the journal's end now; `follow` then yields new events as they are
    written; a replay ends with `finish`. With a summary that still describes the journal, the fold
    is the summary's and only the bytes after its offset are read: constant time whatever the run's
    length. Without one (a run from before summaries, a crash before the first one, a journal cut
    short), the journal is folded here from its first line, and the fold is yielded every
    `show_every_s` and at the end, so the screen shows the run as it is read; with `keep_rebuilt`
    (a run no trainer writes any more), a fold that took longer than that to rebuild is then written
    as the summary, so the next client starts at once. Loading stages are yielded
    as they are (the loading screen's). With `every_event`, `catch_up` yields every event from the
    journal's first line instead of a fold: for a client that keeps series of its own beyond the fold
    (`cockpit compare`'s per-step updates, every evaluation, the commands' marks).
    """

    def __init__(
        self,
        journal: Path,
        keep_rebuilt: bool = False,
        show_every_s: float = REBUILD_SHOW_EVERY_S,
        every_event: bool = False,
    ) -> None:
        self.journal = Path(journal)
        self.keep_rebuilt = keep_rebuilt
        self.show_every_s = show_every_s
        self.every_event = every_event
        self.from_summary = False
        self._reader: JournalReader | None = None

    def catch_up(self) -> Iterator[FoldSnapshot | Event]:
        if self.every_event:
            self._reader = JournalReader(self.journal, ReadState())
            yield from self._reader.read()
            return
        summary = read_summary(self.journal)
        if summary is not None:
            snapshot, state = summary
            self.from_summary = True
            self._reader = JournalReader(self.journal, state)
            yield snapshot
            yield from self._reader.read()
            return
        self._reader = reader = JournalReader(self.journal, ReadState())
        fold, began = RunFold(), time.monotonic()
        shown = began
        for event in reader.read():
            fold.apply(event)
            if event.type == "loading":
                yield event
            if time.monotonic() - shown >= self.show_every_s:
                yield FoldSnapshot(fold.snapshot(), reader.state.offset)
                shown = time.monotonic()
        yield FoldSnapshot(fold.snapshot(), reader.state.offset)
        if self.keep_rebuilt and fold.started is not None and time.monotonic() - began >= self.show_every_s:
            try:
                write_summary(self.journal, fold, reader.state)
            except OSError:
                pass  # someone else's run directory, a read-only disk: the next client reads the journal again

    def follow(self, stop: threading.Event, poll_s: float = 0.25) -> Iterator[Event]:
        """After `catch_up`: the events written from now on, until `stop` is set."""
        assert self._reader is not None, "catch_up first"
        while not stop.is_set():
            got = False
            for event in self._reader.read():
                got = True
                yield event
            if not got:
                stop.wait(poll_s)

    def finish(self) -> list[Event]:
        """At the end of a replay: the notice for unreadable lines not reported yet."""
        return self._reader.finish() if self._reader is not None else []

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
