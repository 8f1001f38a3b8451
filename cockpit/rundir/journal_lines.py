"""A journal's lines as events, and the reading state that turns a run of lines into the event stream.

Every reader of a journal (a replay, a live attach, the summary the trainer keeps beside the journal,
`cockpit runs`) goes through this module, so they all see the same events for the same bytes:
- `encode_event` writes an event as one compact JSON line: a step's layer groups as
  `{"layer.0": [grad_norm, weight_norm, update_ratio, frozen]}` (not four repeated keys per group per
  step; the key form of older journals is still read), non-finite floats as `{"$float": "nan"}`;
- `parse_event` checks a line against the event's fields, so a torn, edited or foreign line is
  refused with the reason, never half-read;
- `ReadState` is where a reader stands after some lines: bytes and lines read, the highest step,
  the pending run of unreadable lines. A summary stores it, so reading on from the summary's offset
  gives exactly what reading the whole journal gives.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from cockpit.contract import events as events_module
from cockpit.contract.events import Event, LayerStats, Notice, RunStarted, StepMetrics, event_from_dict

FLOAT_TAG = "$float"
SKIPPED_KIND = "journal_skipped"
REPEATED_KIND = "journal_repeated_steps"
# The order of a layer group's numbers in a compact step line.
LAYER_FIELDS = ("grad_norm", "weight_norm", "update_ratio", "frozen")


class BadLine(ValueError):
    """A journal line that is not an event: the message says what is wrong with it."""


def tag_floats(value: Any) -> Any:
    """JSON has no NaN/inf: tag them, so that a reader never mistakes them for strings (or strings for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {FLOAT_TAG: str(value)}
    if isinstance(value, dict):
        return {k: tag_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tag_floats(v) for v in value]
    return value


def _untag_object(value: dict[str, Any]) -> Any:
    """`json.loads`' object hook: a tagged non-finite float as the float, any other object as it is."""
    if len(value) == 1 and value.get(FLOAT_TAG) in ("nan", "inf", "-inf"):
        return float(value[FLOAT_TAG])
    return value


def loads(text: str | bytes) -> Any:
    """JSON as the journal writes it, its tagged non-finite floats as floats (one pass, in C but for the tags)."""
    return json.loads(text, object_hook=_untag_object)


def event_record(event: Event) -> dict[str, Any]:
    """The event as the journal stores it (`tag_floats` aside): `event.to_dict()`, steps in their
    compact form and built field by field (`dataclasses.asdict` deep-copies every value, and took
    ~250 us of the trainer's time per step event)."""
    if not isinstance(event, StepMetrics):
        return event.to_dict()
    data: dict[str, Any] = {"type": event.type}
    data.update((name, getattr(event, name)) for name in _field_names(StepMetrics))
    data["layers"] = {
        name: [stats.grad_norm, stats.weight_norm, stats.update_ratio, int(stats.frozen)]
        for name, stats in event.layers.items()
    }
    return data


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def encode_event(event: Event) -> str:
    """One journal line (without its newline)."""
    record = event_record(event)
    try:
        return json.dumps(record, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or inf somewhere (a diverged loss): tagged, as JSON has none
        return json.dumps(tag_floats(record), separators=(",", ":"), allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Reading: every line checked against the event's fields
# ---------------------------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(events_module))


def _fit(value: Any, hint: Any, where: str) -> Any:
    """`value` as the annotation `hint` wants it, or BadLine naming the field."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return value
    if hint is type(None):
        if value is None:
            return None
        raise BadLine(f"{where} should be empty, not {value!r:.40}")
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _fit(value, option, where)
            except BadLine:
                continue
        raise BadLine(f"{where} is {value!r:.40}, expected {hint}")
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise BadLine(f"{where} is {value!r:.40}, expected one of {typing.get_args(hint)}")
    if hint is float:
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):  # journals written before the $float tag
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) if isinstance(value, int) else value
        raise BadLine(f"{where} is {value!r:.40}, expected a number")
    if hint in (int, str, bool):
        if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
            return value
        raise BadLine(f"{where} is {value!r:.40}, expected {hint.__name__}")
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list):
            raise BadLine(f"{where} is {value!r:.40}, expected a list")
        args = typing.get_args(hint)
        if not args or (origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)):
            return value if origin is list or hint is list else tuple(value)
        items = [_fit(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise BadLine(f"{where} is {value!r:.40}, expected an object")
        args = typing.get_args(hint)
        return value if not args else {k: _fit(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise BadLine(f"{where} is {value!r:.40}, not one of {[m.value for m in hint]}") from None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise BadLine(f"{where} is {value!r:.40}, expected an object")
        return hint(**_fields(hint, value, where))
    return value


def _fields(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _fit(data[f.name], hints[f.name], f"{where}.{f.name}" if where else f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BadLine(f"no {(where + '.' if where else '') + f.name!r} field")
    return values


def _expand_layers(data: dict[str, Any]) -> dict[str, Any]:
    """A compact step's layer groups in the key form the event's fields describe."""
    layers = data.get("layers")
    if not isinstance(layers, dict) or not any(isinstance(v, list) for v in layers.values()):
        return data
    expanded = {}
    for name, values in layers.items():
        if not isinstance(values, list) or len(values) != len(LAYER_FIELDS):
            raise BadLine(f"layers.{name} is {values!r:.40}, expected {list(LAYER_FIELDS)}")
        grad_norm, weight_norm, update_ratio, frozen = values
        if frozen not in (0, 1):
            raise BadLine(f"layers.{name} frozen is {frozen!r:.40}, expected 0 or 1")
        expanded[name] = {
            "grad_norm": grad_norm,
            "weight_norm": weight_norm,
            "update_ratio": update_ratio,
            "frozen": bool(frozen),
        }
    return {**data, "layers": expanded}


_STEP_INTS = ("step", "micro_batch", "effective_batch")
_STEP_FLOATS = ("time", "epoch", "loss", "lr", "samples_per_s", "grad_norm")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _step_event(data: dict[str, Any]) -> StepMetrics:
    """A step record checked field by field, as `_fields` would, without its reflection: step lines
    are nearly every line of a journal, and the general check took ~300 us of a client's time each."""
    layers = data.get("layers")
    if not isinstance(layers, dict) or not all(isinstance(v, list) for v in layers.values()):
        return StepMetrics(**_fields(StepMetrics, _expand_layers(data), ""))  # the key form of older journals
    for name in _STEP_INTS:
        if not isinstance(data.get(name), int) or isinstance(data[name], bool):
            raise BadLine(f"{name} is {data.get(name)!r:.40}, expected int" if name in data else f"no {name!r} field")
    for name in _STEP_FLOATS:
        if name in data and not _number(data[name]) and data[name] not in ("nan", "inf", "-inf"):
            raise BadLine(f"{name} is {data[name]!r:.40}, expected a number")  # (strings: before the $float tag)
        if name not in data and name != "time":
            raise BadLine(f"no {name!r} field")
    stats = {}
    for name, values in layers.items():
        if len(values) != len(LAYER_FIELDS):
            raise BadLine(f"layers.{name} is {values!r:.40}, expected {list(LAYER_FIELDS)}")
        grad_norm, weight_norm, update_ratio, frozen = values
        if not (_number(grad_norm) and _number(weight_norm) and _number(update_ratio)) or frozen not in (0, 1):
            raise BadLine(f"layers.{name} is {values!r:.40}, expected {list(LAYER_FIELDS)}")
        stats[name] = LayerStats(float(grad_norm), float(weight_norm), float(update_ratio), frozen == 1)
    known = {name: data[name] for name in _field_names(StepMetrics) if name in data and name != "layers"}
    for name in _STEP_FLOATS:
        if name in known:
            known[name] = float(known[name])
    return StepMetrics(**known, layers=stats)


def event_from_record(data: Any) -> Event | None:
    """A journal record (a line as `loads` parses it) as its event; None for an event type this version does not know.

    Raises BadLine, saying what is wrong, for a record that is not an event.
    """
    if not isinstance(data, dict):
        raise BadLine(f"a JSON {type(data).__name__}, not an object")
    cls = events_module.EVENT_TYPES.get(data.get("type", ""))  # type: ignore[arg-type]
    if cls is None:
        return None
    if cls is Notice and data.get("kind") == "pins_changed":  # an older journal's form: events.py converts it
        try:
            return event_from_dict(data)
        except (TypeError, ValueError, KeyError) as exc:
            raise BadLine(str(exc)[:80]) from None
    try:
        if cls is StepMetrics:
            return _step_event(data)
        return cls(**_fields(cls, data, ""))
    except BadLine:
        raise
    except (TypeError, ValueError) as exc:  # a field's own check in __post_init__
        raise BadLine(str(exc)[:80]) from None


def parse_event(line: str | bytes) -> Event | None:
    """One journal line as an event; None for an event type this version does not know (a newer journal).

    Raises ValueError (BadLine), saying what is wrong, for a line that is not an event.
    """
    try:
        data = loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BadLine("not JSON (torn or edited)") from None
    return event_from_record(data)


# ---------------------------------------------------------------------------------------------
# The reading state: from lines to the event stream every reader sees
# ---------------------------------------------------------------------------------------------


def repeated_notice(resumed: int, first: int, last: int, at: float) -> Notice:
    """Said at the resumed run's start (its `time`), so that a replay and a live view tell it alike."""
    return Notice(
        step=resumed,
        kind=REPEATED_KIND,
        message=(
            f"resumed from step {resumed}: steps {first}..{last} of the process that stopped "
            "without saving them are replaced by the resumed run's"
        ),
        evidence={"resumed_from": resumed, "first": first, "last": last},
        time=at,
    )


@dataclass
class ReadState:
    """Where a reader stands in a journal, after whole lines only.

    `take` is given each line's event (or the reason it is unreadable) and returns the events a
    reader passes on: a run of unreadable lines becomes one `journal_skipped` notice before the
    next readable event (or at `finish`, the end of a replay); a resumed run that takes steps
    again is followed by a `journal_repeated_steps` notice, and a fold (`RunFold`) forgets the
    retaken steps when that run event comes. The notices take the time of the event before them,
    so the same bytes always give the same events.
    """

    offset: int = 0  # bytes of whole lines read
    lines: int = 0
    last_step: int = 0  # the highest step of a step event: a resume compares against it
    event_step: int = 0  # step and time of the last event passed on: a skip notice's
    event_time: float = 0.0
    skipped: int = 0  # unreadable lines not yet reported, and the first of them
    first_skipped: int = 0
    skip_reason: str = ""
    announce_repeats: bool = True  # False for `read_journal`, which drops the retaken steps itself

    def take(self, event: Event | None, size: int, bad: str | None = None) -> list[Event]:
        """The events one line of `size` bytes gives: `event` (None: unknown type or blank), or `bad`'s reason."""
        self.offset += size
        self.lines += 1
        if bad is not None:
            if not self.skipped:
                self.first_skipped, self.skip_reason = self.lines, bad
            self.skipped += 1
            return []
        if event is None:
            return []
        out = self.finish()
        out.append(event)
        if isinstance(event, RunStarted) and event.resumed_from is not None:
            if self.announce_repeats and self.last_step > event.resumed_from:
                out.append(repeated_notice(event.resumed_from, event.resumed_from + 1, self.last_step, event.time))
            self.last_step = event.step
        elif event.type == "step":
            self.last_step = max(self.last_step, event.step)
        self.event_step, self.event_time = out[-1].step, out[-1].time
        return out

    def finish(self) -> list[Event]:
        """The notice for the unreadable lines not yet reported (none if there are none)."""
        if not self.skipped:
            return []
        count, self.skipped = self.skipped, 0
        where = "line" if count == 1 else "first at line"
        notice = Notice(
            step=self.event_step,
            kind=SKIPPED_KIND,
            message=f"journal: skipped {count} unreadable line(s) ({where} {self.first_skipped}: {self.skip_reason})",
            evidence={"skipped": count, "first_line": self.first_skipped, "reason": self.skip_reason},
            time=self.event_time,
        )
        return [notice]

    def read_line(self, line: bytes) -> list[Event]:
        """The events a whole line (its newline included) gives."""
        if not line.strip():
            return self.take(None, len(line))
        try:
            event = parse_event(line)
        except BadLine as exc:
            return self.take(None, len(line), bad=str(exc))
        if event is None:  # a newer version's event type: readable, nothing to pass on
            self.take(None, len(line))
            return self.finish()
        return self.take(event, len(line))

    def to_dict(self) -> dict[str, Any]:
        return tag_floats(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReadState:
        return cls(**_fields(cls, data, "read_state"))
