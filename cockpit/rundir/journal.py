"""journal.jsonl: one JSON object per event, one line each, flushed as written.

The journal is the run's memory: the UI's replay mode, `--follow` over SSH and the tests all read
it back with the same function. It is read defensively, because it outlives the code that wrote
it and people edit files by hand:
- a line that does not parse, or whose fields do not fit the event (an older version, a hand
  edit, a torn write), is skipped and counted, and a `journal_skipped` notice takes its place:
  one bad line never empties a replay;
- a process killed mid-write leaves a torn last line: skipped without a word (it may still be
  being written); the next writer starts on a new line, and from then on it counts as a bad line;
- after a crash and `--resume`, the steps the crashed process took after its last checkpoint are
  taken again: `read_journal` keeps only the retaken ones, so every step counts once;
- JSON has no NaN/inf: non-finite floats are written as `{"$float": "nan"}`, so a label or a
  pinned text that happens to read "inf" stays a string.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import os
import threading
import time
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cockpit.contract import events as events_module
from cockpit.contract.events import Event, Notice, RunStarted, event_from_dict

FLOAT_TAG = "$float"
SKIPPED_KIND = "journal_skipped"
REPEATED_KIND = "journal_repeated_steps"


class JournalWriteError(OSError):
    """The journal could not be written (a full disk, a removed run directory): the run must stop."""


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: tag them, so that a reader never mistakes them for strings (or strings for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {FLOAT_TAG: str(value)}
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and FLOAT_TAG in value and value[FLOAT_TAG] in ("nan", "inf", "-inf"):
            return float(value[FLOAT_TAG])
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


class JournalWriter:
    """An event observer that appends each event as a line and flushes it at once.

    A failed write raises `JournalWriteError`: a run must not go on without its journal.
    """

    def __init__(self, path: Path) -> None:
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

    def __call__(self, event: Event) -> None:
        line = json.dumps(_finite(event.to_dict()), separators=(",", ":"), allow_nan=False)
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError as exc:
                raise JournalWriteError(f"cannot write the journal {self.path}: {exc.strerror or exc}") from None

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
# Reading: every line checked against the event's fields
# ---------------------------------------------------------------------------------------------


class _BadLine(ValueError):
    pass


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(events_module))


def _fit(value: Any, hint: Any, where: str) -> Any:
    """`value` as the annotation `hint` wants it, or _BadLine naming the field."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return value
    if hint is type(None):
        if value is None:
            return None
        raise _BadLine(f"{where} should be empty, not {value!r:.40}")
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _fit(value, option, where)
            except _BadLine:
                continue
        raise _BadLine(f"{where} is {value!r:.40}, expected {hint}")
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise _BadLine(f"{where} is {value!r:.40}, expected one of {typing.get_args(hint)}")
    if hint is float:
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):  # journals written before the $float tag
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) if isinstance(value, int) else value
        raise _BadLine(f"{where} is {value!r:.40}, expected a number")
    if hint in (int, str, bool):
        if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
            return value
        raise _BadLine(f"{where} is {value!r:.40}, expected {hint.__name__}")
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list):
            raise _BadLine(f"{where} is {value!r:.40}, expected a list")
        args = typing.get_args(hint)
        if not args or (origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)):
            return value if origin is list or hint is list else tuple(value)
        items = [_fit(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _BadLine(f"{where} is {value!r:.40}, expected an object")
        args = typing.get_args(hint)
        return value if not args else {k: _fit(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise _BadLine(f"{where} is {value!r:.40}, not one of {[m.value for m in hint]}") from None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise _BadLine(f"{where} is {value!r:.40}, expected an object")
        return hint(**_fields(hint, value, where))
    return value


def _fields(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _fit(data[f.name], hints[f.name], f"{where}.{f.name}" if where else f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _BadLine(f"no {(where + '.' if where else '') + f.name!r} field")
    return values


def parse_event(line: str) -> Event | None:
    """One journal line as an event; None for an event type this version does not know (a newer journal).

    Raises ValueError, saying what is wrong, for a line that is not an event.
    """
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        raise _BadLine("not JSON (torn or edited)") from None
    if not isinstance(data, dict):
        raise _BadLine(f"a JSON {type(data).__name__}, not an object")
    cls = events_module.EVENT_TYPES.get(data.get("type", ""))  # type: ignore[arg-type]
    if cls is None:
        return None
    if cls is Notice and data.get("kind") == "pins_changed":  # an older journal's form: events.py converts it
        try:
            return event_from_dict(_untag(data))
        except (TypeError, ValueError, KeyError) as exc:
            raise _BadLine(str(exc)[:80]) from None
    try:
        return cls(**_fields(cls, _untag(data), ""))
    except (TypeError, ValueError) as exc:  # a field's own check in __post_init__
        raise _BadLine(str(exc)[:80]) from None


class _SkipCounter:
    """Counts bad lines and turns each run of them into one notice."""

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[int, str] | None = None

    def bad(self, number: int, reason: str) -> None:
        self.count += 1
        self.first = self.first or (number, reason)

    def notice(self, step: int) -> Notice:
        number, reason = self.first or (0, "")
        count, self.count, self.first = self.count, 0, None
        where = "line" if count == 1 else "first at line"
        return Notice(
            step=step,
            kind=SKIPPED_KIND,
            message=f"journal: skipped {count} unreadable line(s) ({where} {number}: {reason})",
            evidence={"skipped": count, "first_line": number, "reason": reason},
        )


def _last_step(events: list[Event]) -> int:
    return events[-1].step if events else 0


def read_journal(path: Path) -> list[Event]:
    """Every readable event in the journal, in order, each step once.

    Unreadable lines are replaced by a `journal_skipped` notice counting them; steps that a
    crashed process took after its last checkpoint, and that the resumed run took again, are kept
    once (the resumed run's), with a `journal_repeated_steps` notice saying so.
    """
    events: list[Event] = []
    skipped = _SkipCounter()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                event = parse_event(line)
            except ValueError as exc:
                if not line.endswith("\n"):
                    continue  # the last line, still being written (or cut by a kill): not a bad line yet
                skipped.bad(number, str(exc))
                continue
            if skipped.count:
                events.append(skipped.notice(_last_step(events)))
            if event is not None:
                events.append(event)
    if skipped.count:
        events.append(skipped.notice(_last_step(events)))
    return drop_repeated_steps(events)


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
            repeated = [e for e in kept if e.type in _PER_STEP and e.step > resumed]
            if repeated:
                steps = sorted({e.step for e in repeated})
                kept = [e for e in kept if not (e.type in _PER_STEP and e.step > resumed)]
                kept.append(event)
                kept.append(_repeated_notice(resumed, steps, event.time))
                continue
        kept.append(event)
    return kept


_PER_STEP = frozenset({"step", "eval", "pins", "checkpoint", "alarm"})


def _repeated_notice(resumed: int, steps: list[int], at: float) -> Notice:
    """Said at the resumed run's start (its `time`), so that a replay and a live view tell it alike."""
    return Notice(
        step=resumed,
        kind=REPEATED_KIND,
        message=(
            f"resumed from step {resumed}: steps {steps[0]}..{steps[-1]} of the process that stopped "
            "without saving them are replaced by the resumed run's"
        ),
        evidence={"resumed_from": resumed, "first": steps[0], "last": steps[-1]},
        time=at,
    )


def follow_journal(path: Path, poll_s: float = 0.25, stop: threading.Event | None = None) -> Iterator[Event]:
    """Yield events as a live process appends them (like `tail -f`), until `stop` is set.

    A line without its newline yet is held back until it is complete. A bad line yields a
    `journal_skipped` notice; a resume that repeats steps already yielded yields a
    `journal_repeated_steps` notice after its `run` event: a reader folding events (`RunState`)
    forgets the steps after the one the run resumed from when that `run` event comes.
    """
    stop = stop or threading.Event()
    while not path.exists():
        if stop.is_set():
            return
        time.sleep(poll_s)
    last_step = 0
    number = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        pending = ""
        while not stop.is_set():
            chunk = handle.readline()
            if not chunk:
                time.sleep(poll_s)
                continue
            pending += chunk
            if not pending.endswith("\n"):
                continue
            line, pending = pending, ""
            number += 1
            if not line.strip():
                continue
            try:
                event = parse_event(line)
            except ValueError as exc:
                counter = _SkipCounter()
                counter.bad(number, str(exc))
                yield counter.notice(last_step)
                continue
            if event is None:
                continue
            if isinstance(event, RunStarted) and event.resumed_from is not None and last_step > event.resumed_from:
                yield event
                yield _repeated_notice(event.resumed_from, [event.resumed_from + 1, last_step], event.time)
                last_step = event.step
                continue
            if event.type == "step":
                last_step = max(last_step, event.step)
            yield event
