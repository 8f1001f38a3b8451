"""`cockpit runs`: what each run directory under a folder is doing, read from its journal and lock.

A run is `running` only while a live process holds its lock (`cockpit.rundir`); otherwise the
journal's last `run`/`end` says how it ended, and a run whose journal stops without an `end` died
(kill -9, a lost machine): its pid file is stale, and the listing says so instead of "running".
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.contract.events import headline_text
from cockpit.rundir.layout import JOURNAL_NAME, LOCK_NAME
from cockpit.rundir.lock import live_pid

# A journal is read whole up to this size; above it, its head (the `run` event) and its tail.
WHOLE_BELOW = 4 << 20
HEAD_BYTES = 256 << 10
TAIL_BYTES = 2 << 20


@dataclass
class RunSummary:
    """One line of `cockpit runs`."""

    path: Path
    state: str
    step: int = 0
    total_steps: int = 0
    last_loss: float | None = None
    last_eval: str = ""
    age_s: float = math.nan  # since the journal was last written


def _records(journal: Path) -> list[dict[str, Any]]:
    size = journal.stat().st_size
    with open(journal, "rb") as handle:
        if size <= WHOLE_BELOW:
            chunks = [handle.read()]
        else:
            head = handle.read(HEAD_BYTES)
            handle.seek(size - TAIL_BYTES)
            chunks = [head, handle.read()]
    records = []
    for chunk in chunks:
        for line in chunk.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn line, or the cut at the start of the tail
            if isinstance(record, dict):
                records.append(record)
    return records


def _as_float(value: Any) -> float | None:
    """A journal number (non-finite ones are written as the strings "nan", "inf")."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _eval_text(record: dict[str, Any]) -> str:
    metrics = record.get("metrics")
    return headline_text(metrics) if isinstance(metrics, dict) else ""


def describe_run(run_dir: Path) -> RunSummary:
    run_dir = Path(run_dir)
    journal = run_dir / JOURNAL_NAME
    pid = live_pid(run_dir)
    if not journal.exists():
        return RunSummary(run_dir, f"starting (pid {pid})" if pid else "empty")
    summary = RunSummary(run_dir, "", age_s=time.time() - journal.stat().st_mtime)
    last_lifecycle: dict[str, Any] = {}
    paused = False
    for record in _records(journal):
        kind = record.get("type")
        if kind == "run":
            summary.total_steps = int(record.get("total_steps") or 0)
            last_lifecycle = record
        elif kind == "end":
            last_lifecycle = record
        elif kind == "step":
            summary.step = int(record.get("step") or 0)
            summary.last_loss = _as_float(record.get("loss"))
        elif kind == "eval":
            summary.last_eval = _eval_text(record) or summary.last_eval
        elif kind == "state":
            paused = record.get("state") == "paused"
    if pid is not None:
        summary.state = f"{'paused' if paused else 'running'} (pid {pid})"
    elif last_lifecycle.get("type") == "end":
        reason = str(last_lifecycle.get("reason", "?"))
        summary.state = "crashed" if reason == "error" else reason
    else:
        stale = (run_dir / LOCK_NAME).exists()
        summary.state = "died (no end; stale pid file)" if stale else "died (no end)"
    return summary


def list_runs(root: Path) -> list[RunSummary]:
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


def format_runs(summaries: list[RunSummary]) -> str:
    """A plain table: one run a line, columns aligned, readable in any terminal or log."""
    header = ("RUN", "STATE", "STEP", "LOSS", "EVAL", "UPDATED")
    rows = [
        (
            os.path.relpath(s.path) if not s.path.is_absolute() else str(s.path),
            s.state,
            f"{s.step}/{s.total_steps}" if s.total_steps else str(s.step),
            f"{s.last_loss:.4f}" if s.last_loss is not None and math.isfinite(s.last_loss) else "-",
            s.last_eval or "-",
            _age(s.age_s),
        )
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows])
