"""What attached cockpits cost a detached trainer: the same run with 0 and with N `cockpit attach` clients.

The trainer runs in its own process (as `cockpit train` starts it) and the clients are real
`cockpit attach` processes, each in its own pseudo-terminal whose output is read as a terminal
would. A client shares no lock and no GIL with the trainer; what it can take is CPU time (it reads
the journal and redraws), which matters on a small machine. The arms alternate within each round,
and a step's time is read from the journal's own timestamps between two fixed steps.

    python benchmarks/attach_cost.py --model embedded --steps 40 --rounds 2 --clients 2 --json out.json
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cockpit.cli.attach import spawn_trainer
from cockpit.contract.config import DEFAULT_MODEL
from cockpit.rundir.journal import read_journal
from cockpit.rundir.lock import live_pid

ROOT = Path(__file__).resolve().parents[1]


def step_times(run: Path) -> dict[int, float]:
    journal = run / "journal.jsonl"
    return {e.step: e.time for e in read_journal(journal) if e.type == "step"} if journal.exists() else {}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_client(
    run: Path, command: str = "attach", on_output: Callable[[bytes], None] | None = None
) -> subprocess.Popen[bytes]:
    """`cockpit attach RUN` (or `replay`) on a pseudo-terminal of 160x48, its output drained as a
    terminal would, and handed to `on_output` if given."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "48"}
    client = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", command, str(run)],
        stdin=terminal, stdout=terminal, stderr=terminal, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(terminal)

    def drain() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            if on_output is not None:
                on_output(chunk)

    threading.Thread(target=drain, daemon=True).start()
    return client


def one_arm(args: argparse.Namespace, clients: int, folder: Path) -> dict[str, float]:
    run = folder / f"run-{clients}-{time.monotonic_ns()}"
    last = args.warmup + args.steps
    argv = [
        str(args.data), "--model", args.model, "--out", str(run), "--max-steps", str(last + 1),
        "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--eval-split", "0",
    ]  # fmt: skip
    trainer = spawn_trainer(argv, run)
    while 1 not in step_times(run):
        if trainer.poll() is not None:
            raise SystemExit(f"the trainer failed: {(run / 'trainer.log').read_text()[-2000:]}")
        time.sleep(0.2)
    attached = [start_client(run) for _ in range(clients)]
    while args.warmup not in step_times(run):
        time.sleep(0.1)
    client_cpu = sum(cpu_seconds(c.pid) for c in attached)
    while last not in step_times(run):
        time.sleep(0.1)
    client_cpu = sum(cpu_seconds(c.pid) for c in attached) - client_cpu
    times = step_times(run)
    trainer.wait()
    for client in attached:
        client.kill()
        client.wait()
    assert live_pid(run) is None
    return {
        "s_per_step": (times[last] - times[args.warmup]) / args.steps,
        "client_cpu_s_per_step": client_cpu / args.steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "dei.parquet"))
    parser.add_argument("--steps", type=int, default=40, help="measured steps per arm")
    parser.add_argument("--warmup", type=int, default=5, help="steps before measuring (clients are up by then)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"detached": [], "attached": []}
    with tempfile.TemporaryDirectory(prefix="cockpit-attach-cost-") as folder:
        for _ in range(args.rounds):
            results["detached"].append(one_arm(args, 0, Path(folder)))
            results["attached"].append(one_arm(args, args.clients, Path(folder)))
    ratios = [a["s_per_step"] / d["s_per_step"] for d, a in zip(results["detached"], results["attached"])]
    summary = {
        "config": {k: str(v) for k, v in vars(args).items()},
        "rounds": results,
        "attached_over_detached": ratios,
        "mean_ratio": statistics.fmean(ratios),
        "client_cpu_s_per_step": statistics.fmean(a["client_cpu_s_per_step"] for a in results["attached"]),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
