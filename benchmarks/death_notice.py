"""How soon a client names a trainer killed with -9 (README: "within a second"), and with what imports.

Each round starts a real trainer (`cockpit train --headless`, the embedded MiniLM unless `--model`),
waits for its steps, and has a client in a fresh process follow it as the cockpit does
(`cli.attach.AttachedRun.run`: the journal follower and the liveness loop), then kills the trainer with
SIGKILL and times the kill against the moment the client raises `TrainerGone` with its message.
Two clients, as the two ways a cockpit follows a trainer:
- `attach`: `cockpit attach RUN` on a trainer started elsewhere (liveness from the run's flock);
- `spawned`: `cockpit train` at a terminal, whose client started the trainer (liveness from waitpid;
  the message names the signal).
The client also reports whether torch was imported by then (it must not be: its import alone took
1.9 s when the resume hint imported it).

    python benchmarks/death_notice.py --rounds 5 [--model PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data" / "dei.parquet"

CLIENT = """
import json, queue, sys, time
from pathlib import Path
from cockpit.cli.attach import AttachedRun, TrainerGone, spawn_trainer
run, argv = Path(sys.argv[1]), json.loads(sys.argv[2])
trainer = spawn_trainer(argv, run) if argv else None
client = AttachedRun(run, queue.SimpleQueue(), trainer)
journal = run / "journal.jsonl"
while not journal.exists() or journal.read_text(errors="replace").count('"type":"step"') < 3:
    time.sleep(0.05)
print(json.dumps({"ready": trainer.pid if trainer else None}), flush=True)
try:
    client.run()
except TrainerGone as gone:
    print(json.dumps({"noticed": time.time(), "message": str(gone), "torch": "torch" in sys.modules}), flush=True)
"""


def train_argv(model: str, run: Path) -> list[str]:
    return [str(DATA), "--model", model, "--out", str(run), "--max-steps", "1000000", "--eval-split", "0",
            "--max-length", "32", "--batch-size", "4", "--pin-every", "0"]  # fmt: skip


def one_round(mode: str, model: str, folder: Path) -> dict:
    run = folder / f"{mode}-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    trainer = None
    if mode == "attach":
        log = open(folder / "trainer.log", "ab")  # noqa: SIM115 - closed below
        command = [sys.executable, "-m", "cockpit.cli", "train", *train_argv(model, run), "--headless"]
        trainer = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        log.close()
    spawn = json.dumps(train_argv(model, run) if mode == "spawned" else [])
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(run), spawn], stdout=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    try:
        assert client.stdout is not None
        ready = json.loads(client.stdout.readline())
        pid = trainer.pid if trainer is not None else ready["ready"]
        time.sleep(1.0)  # the client is in its liveness loop
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        said = json.loads(client.stdout.readline())
        client.wait(timeout=60)
    finally:
        client.kill()
        if trainer is not None:
            trainer.kill()
            trainer.wait()
    return {"mode": mode, "seconds": said["noticed"] - killed, "torch": said["torch"], "message": said["message"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="kills per client mode")
    parser.add_argument("--model", default="embedded:all-MiniLM-L6-v2")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {"load_before": os.getloadavg(), "rounds": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for mode in ("attach", "spawned"):
                results["rounds"].append(one_round(mode, args.model, Path(folder)))
                print(json.dumps(results["rounds"][-1]), flush=True)
    results["load_after"] = os.getloadavg()
    print(f"\nload average before {results['load_before']}, after {results['load_after']}")
    for mode in ("attach", "spawned"):
        seconds = [r["seconds"] for r in results["rounds"] if r["mode"] == mode]
        torch = any(r["torch"] for r in results["rounds"] if r["mode"] == mode)
        print(f"{mode}: kill -9 to the client's message: median {statistics.median(seconds):.3f} s, "
              f"max {max(seconds):.3f} s over {len(seconds)} kills; torch imported: {torch}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
