"""Long runs: replay, attach and `cockpit runs` at 1k, 10k, 100k and 1M steps.

A journal of each length is built from a real run's events: a short `cockpit train` of the embedded
MiniLM (or `--source JOURNAL`) gives one event of every type (loading, run, step, pins, eval,
eval_progress, command, notice, pins_changed, alarm raised and cleared, state, checkpoint, end);
they are repeated with their steps and times shifted, at the rates of a long run (a step every
`--step-s` seconds, pinned predictions every 20 steps, an eval every 1,000, a checkpoint every
5,000, an alarm every 10,000, commands every 20,000), and written through the trainer's own
`JournalWriter`, which keeps the summary beside the journal as a trainer does. Then, in this order:
- `cockpit replay DIR` on a pseudo-terminal (160x48): time until the screen shows the run's last
  step (`step N/N` in the status bar), and the client's peak RSS (VmHWM) at that moment;
- with `--rebuild-up-to N`, the same without the summary file (a run from before summaries: the
  journal is read whole) for the sizes up to N;
- `cockpit attach DIR` while another process holds the run's lock and appends as a resumed run (a
  `run` event resumed from the last step, then a step every `--step-s`): time until the screen
  shows a step after the journal's last, and peak RSS;
- at `--runs-size` steps: `cockpit runs` over `--runs` run directories (hard links to that run's
  journal and summary, so the disk holds one copy), as a command (wall time, Python's start
  included) and as `list_runs` in this process; and the same without summaries.

    python benchmarks/long_run.py --sizes 1000,10000,100000,1000000 --json benchmarks/results-long-run.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from attach_cost import start_client

from cockpit.cli.runs import list_runs
from cockpit.contract.config import DEFAULT_MODEL
from cockpit.contract.events import EvalProgress, Event, PinsChanged
from cockpit.rundir.journal import JournalWriter, read_journal
from cockpit.rundir.layout import JOURNAL_NAME
from cockpit.rundir.lock import RunLock
from cockpit.rundir.summary import summary_path

ROOT = Path(__file__).resolve().parents[1]
SCREEN_STEP = re.compile(rb"step (\d+)/(\d+)")
# How often each kind of event comes in the long journal (in steps).
EVERY = {"pins": 20, "eval": 1000, "checkpoint": 5000, "alarm": 10000, "command": 20000, "notice": 25000,
         "state": 50000, "pins_changed": 100000}  # fmt: skip
ALARM_CLEARS_AFTER = 2000


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def source_events(args: argparse.Namespace, work: Path) -> list[Event]:
    """A real run's events: `--source`, or a short run of the model trained here."""
    if args.source:
        return read_journal(Path(args.source))
    run = work / "source"
    argv = [
        sys.executable, "-m", "cockpit.cli", "train", str(args.data), "--model", args.model, "--out", str(run),
        "--max-steps", "30", "--eval-every", "10", "--save-every", "15", "--batch-size", "8", "--max-length", "32",
        "--at", "5:freeze=layer.0", "--at", "8:unfreeze=layer.0", "--at", "12:pause",
        "--at", "12:resume", "--headless",
    ]  # fmt: skip
    print(f"training the source run ({args.model}, 30 steps) ...", file=sys.stderr)
    done = subprocess.run(argv, env={**os.environ, "COCKPIT_DETACHED": "1"}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the source run failed: {done.stderr[-2000:]}")
    return read_journal(run / JOURNAL_NAME)


class Templates:
    """One (or a few) events of each type from the source run, to repeat with new steps and times."""

    def __init__(self, events: list[Event]) -> None:
        by_type: dict[str, list[Event]] = {}
        for event in events:
            by_type.setdefault(event.type, []).append(event)
        self.by_type = by_type
        self.run = by_type["run"][0]
        self.preamble = [e for e in events if e.type in ("loading", "notice") and e.step == 0]
        self.steps = by_type["step"]
        alarms = by_type.get("alarm", [])
        self.alarm = next((a for a in alarms if a.active), None)
        # Two the short run may not have: progress (only a long evaluation reports it) and a pin
        # change (what a `pin=` command journals: the pinned rows, here the run's own).
        if "eval_progress" not in by_type and "eval" in by_type:
            rows = by_type["eval"][0].rows
            by_type["eval_progress"] = [EvalProgress(step=0, rows_done=rows // 2, rows_total=rows)]
        by_type.setdefault("pins_changed", [PinsChanged(step=0, pins=list(self.run.pins))])
        missing = {"step", "pins", "eval", "command", "notice", "alarm", "state", "checkpoint", "end"} - by_type.keys()
        if missing:
            raise SystemExit(f"the source run has no {sorted(missing)} events; give another --source")

    def one(self, kind: str, index: int = 0) -> Event:
        kept = self.by_type[kind]
        return kept[index % len(kept)]


def build(templates: Templates, steps: int, run_dir: Path, step_s: float) -> dict[str, float]:
    """Write a journal of `steps` steps through the trainer's writer (which keeps the summary)."""
    run_dir.mkdir(parents=True)
    t0 = 1_750_000_000.0
    at = lambda step: t0 + step * step_s  # noqa: E731 - a clock for the shifted events

    def shifted(event: Event, step: int, **changes: Any) -> Event:
        return dataclasses.replace(event, step=step, time=at(step), **changes)

    writer = JournalWriter(run_dir / JOURNAL_NAME)
    started = time.perf_counter()
    for event in templates.preamble:
        writer(shifted(event, 0))
    writer(shifted(templates.run, 0, total_steps=steps, run_dir=str(run_dir), resumed_from=None))
    count = 0
    for step in range(1, steps + 1):
        writer(shifted(templates.steps[step % len(templates.steps)], step))
        count += 1
        for kind, every in EVERY.items():
            if step % every:
                continue
            if kind == "eval":
                if step % (10 * every) == 0:
                    writer(shifted(templates.one("eval_progress"), step))
                writer(shifted(templates.one("eval", step // every), step))
            elif kind == "alarm":
                writer(shifted(templates.alarm, step, active=True))
            elif kind == "state":
                writer(shifted(templates.one("state", 0), step))
                writer(shifted(templates.one("state", 1), step))
            else:
                writer(shifted(templates.one(kind, step // every), step))
            count += 1
        if templates.alarm is not None and step % EVERY["alarm"] == ALARM_CLEARS_AFTER:
            writer(shifted(templates.alarm, step, active=False))
            count += 1
    writer(shifted(templates.one("end"), steps))
    writer.close()
    seconds = time.perf_counter() - started
    size = (run_dir / JOURNAL_NAME).stat().st_size
    return {
        "journal_bytes": size,
        "bytes_per_step": size / steps,
        "summary_bytes": summary_path(run_dir / JOURNAL_NAME).stat().st_size,
        "write_us_per_event": seconds / (count + 2) * 1e6,
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_to_screen(run_dir: Path, command: str, shows: Any, timeout_s: float) -> dict[str, float]:
    """Start `cockpit COMMAND RUN_DIR` on a terminal; seconds until `shows(step, total)` holds for a
    `step N/M` on its screen, and its peak RSS then."""
    seen = threading.Event()
    tail = bytearray()

    def output(chunk: bytes) -> None:
        tail.extend(chunk)
        del tail[:-65536]
        if any(shows(int(m[1]), int(m[2])) for m in SCREEN_STEP.finditer(tail)):
            seen.set()

    started = time.monotonic()
    client = start_client(run_dir, command, on_output=output)
    try:
        if not seen.wait(timeout_s):
            raise SystemExit(f"cockpit {command} {run_dir}: the screen did not show the run within {timeout_s:.0f} s")
        seconds = time.monotonic() - started
        rss = peak_rss_mb(client.pid)
    finally:
        client.kill()
        client.wait()
    return {"seconds": seconds, "peak_rss_mb": rss}


def appender(run_dir: Path, templates: Templates, last: int, step_s: float, stop: threading.Event) -> None:
    """A trainer resumed on the run: holds its lock, journals `run` (resumed) then a step every `step_s`."""
    with RunLock(run_dir):
        writer = JournalWriter(run_dir / JOURNAL_NAME)
        run = dataclasses.replace(templates.run, step=last, time=time.time(), total_steps=2 * last,
                                  run_dir=str(run_dir), resumed_from=last)  # fmt: skip
        writer(run)
        step = last
        while not stop.wait(step_s):
            step += 1
            writer(dataclasses.replace(templates.steps[step % len(templates.steps)], step=step, time=time.time()))
        writer.close()


def measure_attach(run_dir: Path, templates: Templates, steps: int, args: argparse.Namespace) -> dict[str, float]:
    stop = threading.Event()
    thread = threading.Thread(target=appender, args=(run_dir, templates, steps, args.step_s, stop), daemon=True)
    thread.start()
    try:
        return time_to_screen(run_dir, "attach", lambda step, _total: step > steps, args.timeout)
    finally:
        stop.set()
        thread.join()


def measure_runs(run_dir: Path, count: int, work: Path, with_summary: bool) -> dict[str, float]:
    """`cockpit runs` over `count` run directories, each a hard link of `run_dir`'s journal (and summary)."""
    folder = work / f"runs-{'summary' if with_summary else 'journal'}"
    names = [JOURNAL_NAME] + ([summary_path(Path(JOURNAL_NAME)).name] if with_summary else [])
    for i in range(count):
        target = folder / f"run-{i:03d}"
        target.mkdir(parents=True)
        for name in names:
            os.link(run_dir / name, target / name)
    started = time.perf_counter()
    listed = list_runs(folder)
    in_process = time.perf_counter() - started
    assert len(listed) == count and all(r.step == listed[0].step for r in listed), listed[:2]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cockpit.cli", "runs", str(folder)], capture_output=True, text=True)
    command = time.perf_counter() - started
    assert done.returncode == 0 and len(done.stdout.splitlines()) == count + 1, done.stderr
    shutil.rmtree(folder)
    return {"command_s": command, "list_runs_s": in_process, "runs": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "dei.parquet"))
    parser.add_argument("--source", help="a journal to take the events from (default: train one)")
    parser.add_argument("--step-s", type=float, default=0.1, help="seconds between two steps, in time stamps")
    parser.add_argument("--rebuild-up-to", type=int, default=100000, help="replay without the summary up to here")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--runs-size", type=int, default=100000)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", type=Path, help="build the journals here and keep them (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {"config": {k: str(v) for k, v in vars(args).items()}, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="cockpit-long-run-") as temp:
        work = args.keep or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        templates = Templates(source_events(args, work))
        for steps in sizes:
            run_dir = work / f"run-{steps}"
            shutil.rmtree(run_dir, ignore_errors=True)
            row: dict[str, Any] = {"load_before": load()}
            row["build"] = build(templates, steps, run_dir, args.step_s)
            row["replay"] = time_to_screen(run_dir, "replay", lambda s, t, n=steps: s == n == t, args.timeout)
            if steps <= args.rebuild_up_to:
                kept = summary_path(run_dir / JOURNAL_NAME)
                kept.rename(kept.with_suffix(".kept"))
                row["replay_without_summary"] = time_to_screen(
                    run_dir, "replay", lambda s, t, n=steps: s == n == t, args.timeout
                )
                kept.with_suffix(".kept").replace(kept)  # (the replay wrote a rebuilt one; the trainer's is put back)
            if steps == args.runs_size:
                row["runs"] = measure_runs(run_dir, args.runs, work, with_summary=True)
                row["runs_without_summary"] = measure_runs(run_dir, args.runs, work, with_summary=False)
            row["attach"] = measure_attach(run_dir, templates, steps, args)
            row["load_after"] = load()
            results["sizes"][str(steps)] = row
            print(json.dumps({steps: row}), file=sys.stderr)
            if not args.keep:
                shutil.rmtree(run_dir)
    first, last = results["sizes"][str(sizes[0])], results["sizes"][str(sizes[-1])]
    results["growth"] = {
        f"{arm}_{key}": last[arm][key] / first[arm][key]
        for arm in ("replay", "attach")
        for key in ("seconds", "peak_rss_mb")
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
