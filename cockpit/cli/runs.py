"""`cockpit runs`: what each run directory under a folder is doing, read in constant time per run.

A run is `running` only while a live process holds its lock (`cockpit.rundir.lock`). Everything
else comes from the first line of the run's summary (`cockpit.rundir.summary`: state, step, loss,
eval, active alarms, how the run ended, as of a byte offset of the journal) and the journal bytes
written after that offset (a few seconds of the run). A run without a summary (an older version)
is read from its journal's head (the `run` event) and tail. Either way a run costs the same at
step 100 and at step 1,000,000.

How a run ended is said where the user looks: the journal's `end` (its reason and message, the
last checkpoint and the command that continues it), or, when the journal stops without one, the
trainer's last words in `trainer.log` (a full disk can leave no room for the `end`); a run that
just stopped (kill -9, a lost machine) is `died`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cockpit.contract.events import headline_text
from cockpit.rundir.journal_lines import loads
from cockpit.rundir.layout import JOURNAL_NAME, LOCK_NAME, TRAINER_LOG
from cockpit.rundir.lock import live_pid
from cockpit.rundir.summary import read_header

# A journal without a summary is read at its head (the `run` event) and its tail; so are the bytes
# after a summary's offset when there are more of them than the tail (a summary far behind).
HEAD_BYTES = 256 << 10
TAIL_BYTES = 256 << 10
LAST_WORDS_BYTES = 4096  # of trainer.log: the trainer's one-line reason when it could not write the `end`


@dataclass
class RunListing:
    """One line of `cockpit runs` (and one object of `cockpit runs --json`)."""

    path: Path
    state: str  # running | paused | finished | stopped | interrupted | crashed | died | starting | empty
    detail: str = ""  # how it ended, in words, with what to do next
    pid: int | None = None
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    eval: dict[str, float] = field(default_factory=dict)
    eval_step: int | None = None
    alarms: list[dict[str, Any]] = field(default_factory=list)  # the active ones: kind, severity, step, message
    last_checkpoint: str | None = None
    age_s: float = math.nan  # since the journal was last written

    @property
    def shown_state(self) -> str:
        """The state as the table says it: `running (pid 42; saved step-400)`, `stopped: disk full at step 9; ...`.

        A live run names its last checkpoint: what a kill -9 now would go back to."""
        if self.pid is not None:
            saved = f"; saved {Path(self.last_checkpoint).name}" if self.last_checkpoint else ""
            return f"{self.state} (pid {self.pid}{saved})"
        return f"{self.state}: {self.detail}" if self.detail else self.state

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["age_s"] = self.age_s if math.isfinite(self.age_s) else None
        return data


class _Reading:
    """What the journal says so far, as `describe_run` gathers it from the summary and the tail."""

    def __init__(self, header: dict[str, Any] | None) -> None:
        run = (header or {}).get("run") or {}
        self.step = int(run.get("step") or 0)
        self.total_steps = int(run.get("total_steps") or 0)
        self.loss = _number(run.get("loss"))
        self.eval = dict(run.get("eval") or {})
        self.eval_step = run.get("eval_step")
        self.alarms: dict[str, dict[str, Any]] = {a["kind"]: a for a in run.get("alarms") or [] if "kind" in a}
        self.end: dict[str, Any] | None = run.get("end")
        self.paused = run.get("state") == "paused"
        self.last_checkpoint: str | None = run.get("last_checkpoint")

    def take(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "run":
            self.total_steps = int(record.get("total_steps") or 0)
            self.end, self.paused = None, False  # a resumed run appends to the same journal
            if record.get("resumed_from") is not None:
                self.step = int(record["resumed_from"])
        elif kind == "step":
            self.step = int(record.get("step") or 0)
            self.loss = _number(record.get("loss"))
        elif kind == "eval" and isinstance(record.get("metrics"), dict):
            self.eval, self.eval_step = dict(record["metrics"]), record.get("step")
        elif kind == "state":
            self.paused = record.get("state") == "paused"
        elif kind == "alarm" and isinstance(record.get("kind"), str):
            if record.get("active", True):
                self.alarms[record["kind"]] = {k: record.get(k) for k in ("kind", "severity", "step", "message")}
            else:
                self.alarms.pop(record["kind"], None)
        elif kind == "checkpoint":
            self.last_checkpoint = record.get("path")
        elif kind == "end":
            self.end = record


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _records(chunk: bytes, whole: bool) -> list[dict[str, Any]]:
    """The JSON records of `chunk`'s lines; of the step lines only the last (a tail holds hundreds).

    `whole`: the chunk starts at a line boundary (else its first, cut line is dropped).
    """
    lines = chunk.split(b"\n")
    if not whole:
        lines = lines[1:]
    last_step = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith(b'{"type":"step"')), None)
    records = []
    for i, line in enumerate(lines):
        if not line.strip() or (i != last_step and line.startswith(b'{"type":"step"')):
            continue
        try:
            record = loads(line)
        except ValueError:
            continue  # a torn line
        if isinstance(record, dict):
            records.append(record)
    return records


def _journal_records(journal: Path, size: int, offset: int) -> list[dict[str, Any]]:
    """The records after `offset` (a summary's); without a summary, the head's `run` event and the tail."""
    with open(journal, "rb") as handle:
        if size - offset <= TAIL_BYTES:
            handle.seek(offset)
            return _records(handle.read(), whole=True)
        head: list[dict[str, Any]] = []
        if offset == 0:
            head = [r for r in _records(handle.read(HEAD_BYTES), whole=True) if r.get("type") == "run"][:1]
        handle.seek(size - TAIL_BYTES)
        return head + _records(handle.read(), whole=False)


def _last_words(run_dir: Path) -> str:
    """The trainer's last `cockpit:` line in trainer.log (a detached trainer's stderr), if any."""
    try:
        with open(run_dir / TRAINER_LOG, "rb") as handle:
            handle.seek(max(handle.seek(0, os.SEEK_END) - LAST_WORDS_BYTES, 0))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    said = [line.strip() for line in lines if line.startswith("cockpit:")]
    return said[-1].removeprefix("cockpit:").strip() if said else ""


def _how_it_ended(run_dir: Path, reading: _Reading) -> tuple[str, str]:
    """(state, detail) of a run no process holds: its `end`, or why there is none."""
    end = reading.end
    checkpoint = (end or {}).get("checkpoint") or reading.last_checkpoint
    resume = f"resume with cockpit train --resume {run_dir}"
    if end is not None:
        reason = str(end.get("reason", "?"))
        if reason == "finished":
            return "finished", ""
        message = " ".join(str(end.get("message") or "").split())
        step = end.get("step", reading.step)
        if reason == "disk_full":  # as the trainer's last line says it: stopped, disk full, then the failed write
            state, parts = "stopped", [f"disk full at step {step}" + (f" ({message})" if message else "")]
        else:
            state, parts = ("crashed" if reason == "error" else reason), [f"{message or reason} at step {step}"]
        if checkpoint and "last good checkpoint" not in message:  # an older trainer's crash message named it
            parts.append(f"last checkpoint {Path(checkpoint).name}")
        parts.append(resume)
        return state, "; ".join(parts)
    words = _last_words(run_dir)
    saved = f"last checkpoint {Path(checkpoint).name}" if checkpoint else "no checkpoint in the journal"
    if words:  # the trainer stopped on an error it could not journal (a full disk), and said so
        return "stopped", f"{words} (after step {reading.step}; {saved}; {resume})"
    stale = "; its pid file is stale" if (run_dir / LOCK_NAME).exists() else ""
    return "died", f"no end in the journal after step {reading.step} (killed?{stale}); {saved}; {resume}"


def describe_run(run_dir: Path) -> RunListing:
    run_dir = Path(run_dir)
    journal = run_dir / JOURNAL_NAME
    pid = live_pid(run_dir)
    try:
        stat = journal.stat()
    except OSError:
        return RunListing(run_dir, "starting" if pid else "empty", pid=pid)
    header = read_header(journal)
    reading = _Reading(header)
    for record in _journal_records(journal, stat.st_size, header["offset"] if header else 0):
        reading.take(record)
    listing = RunListing(
        run_dir,
        "",
        pid=pid,
        step=reading.step,
        total_steps=reading.total_steps,
        loss=reading.loss,
        eval=reading.eval,
        eval_step=reading.eval_step,
        alarms=list(reading.alarms.values()),
        last_checkpoint=reading.last_checkpoint,
        age_s=time.time() - stat.st_mtime,
    )
    if pid is not None:
        listing.state = "paused" if reading.paused else "running"
    else:
        listing.state, listing.detail = _how_it_ended(run_dir, reading)
    return listing


def list_runs(root: Path) -> list[RunListing]:
    """Every run directory directly under `root` (or `root` itself), newest first."""
    root = Path(root)
    dirs = [root] if (root / JOURNAL_NAME).exists() else [p for p in root.iterdir() if p.is_dir()]
    found = [describe_run(d) for d in dirs if (d / JOURNAL_NAME).exists() or (d / LOCK_NAME).exists()]
    return sorted(found, key=lambda s: s.age_s if math.isfinite(s.age_s) else -1.0)


def _age(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _eval_text(metrics: dict[str, float]) -> str:
    return headline_text(metrics) or "-"


def format_runs(listings: list[RunListing]) -> str:
    """A plain table: one run a line, columns aligned, readable in any terminal or log; the state
    (with how a run ended, which can be long) last."""
    header = ("RUN", "STEP", "LOSS", "EVAL", "ALARMS", "UPDATED", "STATE")
    rows = [
        (
            os.path.relpath(s.path) if not s.path.is_absolute() else str(s.path),
            f"{s.step}/{s.total_steps}" if s.total_steps else str(s.step),
            f"{s.loss:.4f}" if s.loss is not None and math.isfinite(s.loss) else "-",
            _eval_text(s.eval),
            ",".join(a["kind"] for a in s.alarms) or "-",
            _age(s.age_s),
            s.shown_state,
        )
        for s in listings
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows])


def runs_json(listings: list[RunListing]) -> str:
    """`cockpit runs --json`: one object per run, the table's fields as data (a NaN or inf as null)."""
    return json.dumps([_json_safe(listing.to_json()) for listing in listings], indent=2, allow_nan=False)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
