"""journal.summary.jsonl: the run folded so far, beside its journal, so a client never reads the whole journal.

A journal grows with the run (about 0.5-1 KB a step); reading it whole to show a run took minutes at
a few hundred thousand steps. So the trainer folds its own events as it journals them (`RunFold`,
the very fold a client runs) and writes that fold here from time to time. The file has two lines:
1. a header: the journal's byte offset the fold covers, fingerprints of the journal's bytes around
   it, and what `cockpit runs` lists (state, step, loss, eval, alarms, how the run ended);
2. the fold (`RunFold.snapshot`) and the reading state at that offset (`ReadState`).
Its size does not grow with the run (bounded series), so a client reads it, then only the journal
bytes after its offset: the same state as a fold of the whole journal, in constant time.

The journal stays the source of truth. The summary is written atomically (a hidden file renamed
into place) at a low rate: at least `MIN_INTERVAL_S` apart and at most `BUDGET` of the trainer's
time, and at once when the run pauses or ends. A summary that is missing, unreadable, from another
version, or whose journal bytes do not match its fingerprints (a journal cut short or replaced) is
ignored, and the journal is read from its first line instead, as before there were summaries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from cockpit.contract.events import Event
from cockpit.rundir.fold import FoldSnapshot, RunFold
from cockpit.rundir.journal_lines import ReadState, loads, tag_floats
from cockpit.rundir.layout import SUMMARY_SUFFIX

VERSION = 1  # of the fold's snapshot: a summary of another version is ignored (the journal is read instead)
MIN_INTERVAL_S = 5.0
BUDGET = 0.005  # of the trainer's wall time, at most, spent writing summaries
HEAD_BYTES = 4096  # the journal bytes fingerprinted at its start ...
TAIL_BYTES = 256  # ... and just before the summary's offset


def summary_path(journal: Path) -> Path:
    """`journal.jsonl` -> `journal.summary.jsonl`, beside it."""
    return journal.with_name(journal.stem + SUMMARY_SUFFIX)


def _fingerprints(journal: Path, offset: int) -> tuple[str, str] | None:
    """sha1 of the journal's first bytes and of the bytes just before `offset`; None if it is shorter."""
    try:
        with open(journal, "rb") as handle:
            head = handle.read(min(offset, HEAD_BYTES))
            tail_start = max(offset - TAIL_BYTES, 0)
            handle.seek(tail_start)
            tail = handle.read(offset - tail_start)
    except OSError:
        return None
    if len(tail) != offset - tail_start or (offset and not tail.endswith(b"\n")):
        return None
    return hashlib.sha1(head).hexdigest(), hashlib.sha1(tail).hexdigest()


def run_header(fold: RunFold) -> dict[str, Any]:
    """What `cockpit runs` lists, as of the fold."""
    started, ended, last_eval = fold.started, fold.ended, fold.last_eval
    return {
        "state": str(fold.state),
        "state_reason": fold.state_reason,
        "step": fold.step,
        "total_steps": started.total_steps if started else 0,
        "loss": fold.loss,
        "smoothed_loss": fold.smoothed_loss,
        "eval": dict(last_eval.metrics) if last_eval else {},
        "eval_step": last_eval.step if last_eval else None,
        "alarms": [
            {"kind": a.kind, "severity": str(a.severity), "step": a.step, "message": a.message}
            for a in fold.active_alarms.values()
        ],
        "end": (
            {
                "reason": str(ended.reason),
                "step": ended.step,
                "message": ended.message,
                "checkpoint": ended.checkpoint,
                "model_dir": ended.model_dir,
            }
            if ended
            else None
        ),  # fmt: skip
        "last_checkpoint": fold.last_checkpoint,
        "last_time": fold.last_time,
    }


def write_summary(journal: Path, fold: RunFold, state: ReadState) -> None:
    """Write the summary of `journal` up to `state.offset` atomically (a hidden file renamed into place)."""
    prints = _fingerprints(journal, state.offset)
    if prints is None:
        raise OSError(f"{journal} is shorter than the {state.offset} bytes the summary covers")
    header = {
        "version": VERSION,
        "offset": state.offset,
        "journal_head": prints[0],
        "journal_tail": prints[1],
        "written": time.time(),
        "run": run_header(fold),
    }
    body = {"read_state": state.to_dict(), "fold": fold.snapshot()}
    text = "\n".join(json.dumps(tag_floats(part), separators=(",", ":"), allow_nan=False) for part in (header, body))
    target = summary_path(journal)
    hidden = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        hidden.write_text(text + "\n", encoding="utf-8")
        os.replace(hidden, target)
    except OSError:
        with contextlib.suppress(OSError):
            hidden.unlink()
        raise


def read_header(journal: Path) -> dict[str, Any] | None:
    """The summary's first line if it still describes `journal` (its bytes up to the offset unchanged), else None."""
    try:
        with open(summary_path(journal), "rb") as handle:
            header = loads(handle.readline())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(header, dict) or header.get("version") != VERSION or not isinstance(header.get("offset"), int):
        return None
    if _fingerprints(journal, header["offset"]) != (header.get("journal_head"), header.get("journal_tail")):
        return None
    return header


def read_summary(journal: Path) -> tuple[FoldSnapshot, ReadState] | None:
    """The summary's fold and the reading state at its offset, if the summary still describes `journal`.

    None when it is missing, unreadable, of another version, or its journal bytes changed: then the
    journal is read from its first line.
    """
    try:
        with open(summary_path(journal), "rb") as handle:
            header, body = (loads(line) for line in handle.read().splitlines()[:2])
        if header.get("version") != VERSION:
            return None
        state = ReadState.from_dict(body["read_state"])
        if state.offset != header["offset"]:
            return None
        if _fingerprints(journal, state.offset) != (header["journal_head"], header["journal_tail"]):
            return None
        RunFold().restore(body["fold"])  # checked whole here, so a bad one falls back to the journal
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return FoldSnapshot(body["fold"], state.offset), state


class SummaryKeeper:
    """The trainer's side: folds each event the journal writer wrote, and writes the summary at a low rate.

    It is given every line the writer writes (the event and its size in bytes), so its reading
    state is exactly a reader's at the journal's end. A failure here never reaches training: the
    summary stops being written (clients then read the journal from its start, as before).
    """

    def __init__(self, journal: Path, fold: RunFold, state: ReadState) -> None:
        self.journal = journal
        self.fold = fold
        self.state = state
        self.min_interval_s = MIN_INTERVAL_S
        self._written_at = time.monotonic()
        self._cost_s = 0.0
        self._dirty = False
        self.failed: str | None = None

    def written(self, event: Event, size: int) -> None:
        """The writer wrote `event` as a line of `size` bytes (its newline included)."""
        if self.failed is not None:
            return
        try:
            for folded in self.state.take(event, size):
                self.fold.apply(folded)
            self._dirty = True
            lifecycle = event.type == "end" or (event.type == "state" and getattr(event, "state", "") == "paused")
            due = max(self.min_interval_s, self._cost_s / BUDGET)
            if lifecycle or time.monotonic() - self._written_at >= due:
                self.write()
        except Exception as exc:  # noqa: BLE001 - the summary is a cache; training goes on without it
            self._fail(exc)

    def write(self) -> None:
        """Write the summary now (if anything was folded since the last write)."""
        if self.failed is not None or not self._dirty or self.fold.started is None:
            return
        start = time.monotonic()
        try:
            write_summary(self.journal, self.fold, self.state)
        except Exception as exc:  # noqa: BLE001 - a full disk, a removed run directory: the journal says so
            self._fail(exc)
            return
        self._written_at = time.monotonic()
        self._cost_s = self._written_at - start
        self._dirty = False

    def _fail(self, exc: BaseException) -> None:
        """Stop keeping the summary, without a word on stderr: the one line a failing run prints is its
        own (a full disk), and a run without a summary only opens slower."""
        self.failed = f"{type(exc).__name__}: {exc}"
