"""How far the sampled relative update is from the exact one, on real training.

The engine reads each large matrix's update from every 8th row (`cockpit.instruments`). This
trains the embedded MiniLM on the sample data and, after every step, recomputes
||w_after - w_before|| / ||w_before|| over each whole layer group from the real weights, then
prints the estimate's relative error per group (median and worst over the steps).

    python benchmarks/sampled_update.py --steps 30 --lr 5e-5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cockpit.contract.config import DEFAULT_MODEL, RunConfig  # noqa: E402
from cockpit.contract.events import StepMetrics  # noqa: E402
from cockpit.training.engine import Engine  # noqa: E402
from cockpit.training.prepare import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "dei.parquet"))
    args = parser.parse_args()

    config = RunConfig(
        data=args.data,
        model=DEFAULT_MODEL,
        out=tempfile.mkdtemp(prefix="cockpit-sampled-update-"),
        max_steps=args.steps,
        lr=args.lr,
        eval_split=0.0,
        max_length=64,
    )
    engine = Engine(prepare(config), on_nonfinite="stop")
    previous: dict[str, torch.Tensor] = {}
    errors: dict[str, list[float]] = {}

    def observe(event: object) -> None:
        if getattr(event, "type", "") not in ("run", "step"):
            return
        current = {g.name: torch.cat([p.detach().flatten() for p in g.params]) for g in engine.groups}
        if isinstance(event, StepMetrics):
            for name, stats in event.layers.items():
                exact = float((current[name] - previous[name]).norm() / previous[name].norm())
                if exact > 0:
                    errors.setdefault(name, []).append(abs(stats.update_ratio / exact - 1))
        previous.update(current)

    engine.observers.append(observe)
    engine.run()
    print(f"{args.steps} steps at lr {args.lr}; kept copy {engine.norms.snapshot_size * 4 / 2**20:.1f} MiB")
    print(f"{'group':<12} {'median error':>12} {'worst error':>12}")
    for name, values in errors.items():
        print(f"{name:<12} {statistics.median(values):>12.2%} {max(values):>12.2%}")


if __name__ == "__main__":
    main()
