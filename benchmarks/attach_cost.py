"""What attached cockpits cost a detached trainer: the same run with 0 and with N `cockpit attach` clients.

The trainer runs in its own process (as `cockpit train` starts it) and the clients are real
`cockpit attach` processes, each in its own pseudo-terminal whose output is read as a terminal
would. A client shares no lock and no GIL with the trainer; what it can take is CPU time (it reads
the journal and redraws), which matters on a small machine. The arms alternate within each round,
and a step's time is read from the journal's own timestamps between two fixed steps.

Then one client at rest: on a paused run, and on the same run once it has ended (`--rest-s`).

    python benchmarks/attach_cost.py --steps 40 --rounds 3 --clients 2 --json out.json
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

from cockpit.cli.attach import send_and_wait, spawn_trainer
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


def start_trainer(args: argparse.Namespace, run: Path, max_steps: int, wait_for_step: int) -> subprocess.Popen:
    """`cockpit train` detached, as `cockpit train` starts it; returns once it has journaled `wait_for_step`."""
    argv = [
        str(args.data), "--model", args.model, "--out", str(run), "--max-steps", str(max_steps),
        "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--eval-split", "0",
    ]  # fmt: skip
    trainer = spawn_trainer(argv, run)
    while wait_for_step not in step_times(run):
        if trainer.poll() is not None:
            raise SystemExit(f"the trainer failed: {(run / 'trainer.log').read_text()[-2000:]}")
        time.sleep(0.2)
    return trainer


def one_arm(args: argparse.Namespace, clients: int, folder: Path) -> dict[str, float]:
    run = folder / f"run-{clients}-{time.monotonic_ns()}"
    last = args.warmup + args.steps
    trainer = start_trainer(args, run, last + 1, 1)
    attached = [start_client(run) for _ in range(clients)]
    while args.warmup not in step_times(run):
        time.sleep(0.1)
    client_cpu, started = sum(cpu_seconds(c.pid) for c in attached), time.monotonic()
    while last not in step_times(run):
        time.sleep(0.1)
    client_cpu = sum(cpu_seconds(c.pid) for c in attached) - client_cpu
    elapsed = time.monotonic() - started
    times = step_times(run)
    trainer.wait()
    for client in attached:
        client.kill()
        client.wait()
    assert live_pid(run) is None
    return {
        "s_per_step": (times[last] - times[args.warmup]) / args.steps,
        "client_cpu_s_per_step": client_cpu / args.steps,
        "client_cpu_s_per_s": client_cpu / max(clients, 1) / elapsed,  # one client's, while the run trains
        "load": Path("/proc/loadavg").read_text().split()[0],
    }


def client_cpu_per_s(run: Path, command: str, seconds: float) -> float:
    """One `cockpit COMMAND RUN` client's CPU seconds per second over `seconds`, once it is up (5 s)."""
    client = start_client(run, command)
    try:
        time.sleep(5.0)
        before = cpu_seconds(client.pid)
        time.sleep(seconds)
        return (cpu_seconds(client.pid) - before) / seconds
    finally:
        client.kill()
        client.wait()


def at_rest(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """A client on a paused run, then on the same run once it has ended: CPU per second doing nothing."""
    run = folder / f"rest-{time.monotonic_ns()}"
    trainer = start_trainer(args, run, 100000, 2)
    send_and_wait(run, "pause")
    paused = client_cpu_per_s(run, "attach", args.rest_s)
    send_and_wait(run, "stop")
    trainer.wait()
    return {"paused": paused, "finished": client_cpu_per_s(run, "attach", args.rest_s)}


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
    parser.add_argument("--rest-s", type=float, default=30.0, help="seconds a client is measured at rest (0: not)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"detached": [], "attached": []}
    rest: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cockpit-attach-cost-") as folder:
        for _ in range(args.rounds):
            results["detached"].append(one_arm(args, 0, Path(folder)))
            results["attached"].append(one_arm(args, args.clients, Path(folder)))
        if args.rest_s > 0:
            rest = at_rest(args, Path(folder))
    ratios = [a["s_per_step"] / d["s_per_step"] for d, a in zip(results["detached"], results["attached"])]
    summary = {
        "config": {k: str(v) for k, v in vars(args).items()},
        "rounds": results,
        "attached_over_detached": ratios,
        "mean_ratio": statistics.fmean(ratios),
        "client_cpu_s_per_step": statistics.fmean(a["client_cpu_s_per_step"] for a in results["attached"]),
        "one_client_cpu_s_per_s_training": statistics.fmean(a["client_cpu_s_per_s"] for a in results["attached"]),
        "one_client_cpu_s_per_s_at_rest": rest,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
