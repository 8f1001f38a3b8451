"""What telling about a run costs the trainer: nothing it waits for, even when the receiver hangs.

Three arms train the same model on the same batches, each telling every evaluation (`--eval-every 1`
on a small eval split, so a notification leaves at every step; the run's alarms and end too):

  off      no target: the notifier is on the stream (as in every run) and tells nobody
  hanging  a URL on 127.0.0.1 whose server holds every request: the worker waits `--timeout` s, fails
  failing  a URL on 127.0.0.1 whose server answers HTTP 500 at once

The arms alternate (off, hanging, failing, off, ...), each in a fresh process (as overhead.py does:
OpenMP's pools make arms in one process interfere). Per arm: mean wall and process CPU seconds per
step after the warm-up (CPU: every thread, the notifier's worker too), the training thread's own
time in the notifier (its producer call, GIL waits included) per step, what the
notifier queued, sent, failed and dropped, and the 1-minute load average before and after. The
servers listen on 127.0.0.1 only; nothing leaves the machine.

    python benchmarks/notify_cost.py --steps 30 --warmup 5 --rounds 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cockpit.training.openmp import choose_wait

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
choose_wait(os.environ)  # as the CLI does, before torch is imported

ARMS = ("off", "hanging", "failing")
ROOT = Path(__file__).resolve().parents[1]


def run_arm(arm: str, options: dict[str, Any]) -> dict[str, Any]:
    """One arm, in this (fresh) process, beside its receiver."""
    sys.path.insert(0, str(ROOT))
    from tests.notify.receiver import receiver  # the tests' server on 127.0.0.1

    with receiver(status=500 if arm == "failing" else 200, hold=arm == "hanging") as server:
        return measure(arm, options, server.url if arm != "off" else None)


def measure(arm: str, options: dict[str, Any], url: str | None) -> dict[str, Any]:
    from cockpit.contract.config import RunConfig
    from cockpit.training.engine import Engine, StepHooks
    from cockpit.training.prepare import prepare

    out = Path(tempfile.mkdtemp(prefix=f"cockpit-notify-{arm}-"))
    config = RunConfig(
        data=options["data"], model=options["model"], out=str(out / "run"), batch_size=options["batch_size"],
        max_length=options["max_length"], max_steps=options["warmup"] + options["steps"], eval_rows=16,
        eval_every=1, notify_url=url, notify_on=["alarm", "end", "eval"], notify_every=0.0, headless=True,
    )  # fmt: skip
    marks: dict[int, tuple[float, float]] = {}  # step -> (wall, process CPU: every thread, the worker's too)

    class Mark(StepHooks):
        def at_step_end(self, engine: Engine) -> None:
            marks[engine.step] = (time.perf_counter(), time.process_time())

    engine = Engine(prepare(config), on_nonfinite="stop", hooks=[Mark()])
    engine.notifier.timeout_s = options["timeout"]
    notifier = engine.notifier
    producer_seconds = [0.0]
    position = engine.stream.producers.index(notifier)

    def timed(event: Any) -> list:
        if options["warmup"] in marks and engine.step < config.max_steps:
            started = time.perf_counter()
            produced = notifier(event)
            producer_seconds[0] += time.perf_counter() - started
            return produced
        return notifier(event)

    engine.stream.producers[position] = timed
    load_before = os.getloadavg()[0]
    ended = engine.run()  # closes the notifier: waits at most 2 timeouts + 1 s for the end's message
    measured = options["steps"]
    (wall_0, cpu_0), (wall_1, cpu_1) = marks[options["warmup"]], marks[options["warmup"] + measured]
    return {
        "arm": arm,
        "ended": str(ended.reason),
        "wall_s_per_step": (wall_1 - wall_0) / measured,
        "cpu_s_per_step": (cpu_1 - cpu_0) / measured,
        "notifier_ms_per_step": producer_seconds[0] / measured * 1e3,
        "sent": notifier.sent,
        "failed": notifier.failed,
        "dropped": notifier.dropped,
        "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def in_fresh_process(arm: str, options: dict[str, Any]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(run_arm, (arm, options))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "dei.parquet"))
    parser.add_argument("--model", default="embedded:all-MiniLM-L6-v2")
    parser.add_argument("--steps", type=int, default=30, help="measured steps per arm and round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10.0, help="the notifier's timeout per delivery (s)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    options = {k: getattr(args, k) for k in ("data", "model", "steps", "warmup", "batch_size", "max_length", "timeout")}
    runs = [in_fresh_process(arm, options) for _ in range(args.rounds) for arm in ARMS]
    summary = {}
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        summary[arm] = {
            "wall_s_per_step": statistics.mean(r["wall_s_per_step"] for r in mine),
            "cpu_s_per_step": statistics.mean(r["cpu_s_per_step"] for r in mine),
            "notifier_ms_per_step": statistics.mean(r["notifier_ms_per_step"] for r in mine),
            "per_round_s": [round(r["wall_s_per_step"], 4) for r in mine],
        }
    for arm in ARMS:
        row = summary[arm]
        ratio = row["wall_s_per_step"] / summary["off"]["wall_s_per_step"]
        cpu_ratio = row["cpu_s_per_step"] / summary["off"]["cpu_s_per_step"]
        print(
            f"{arm:8s} {row['wall_s_per_step'] * 1e3:8.1f} ms/step (x{ratio:.3f} of off; rounds {row['per_round_s']}) "
            f"CPU {row['cpu_s_per_step'] * 1e3:7.1f} ms/step (x{cpu_ratio:.3f}) "
            f"notifier {row['notifier_ms_per_step'] * 1e3:6.1f} us/step",
            file=sys.stderr,
        )
    for run in runs:
        print(f"  {run['arm']:8s} sent {run['sent']} failed {run['failed']} dropped {run['dropped']} "
              f"load {run['load_1m']} ended {run['ended']}", file=sys.stderr)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"options": options, "summary": summary, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
