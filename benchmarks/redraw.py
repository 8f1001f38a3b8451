"""How long the cockpit takes to redraw after 1,000 and after 100,000 training steps.

The UI shares the GIL with training, so a redraw must cost the same at step 100,000 as at step
1,000: histories are bounded and plots are downsampled to their width. This feeds the real
`CockpitApp` (headless, `run_test`) a run of N synthetic steps with 27 layer groups (a
roberta-large's count) and times a full redraw of every panel, repeated.

    python benchmarks/redraw.py            # prints ms per full redraw at each run length
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import statistics
import time

from cockpit.contract.events import Event, LayerStats, PinnedExample, PinPredictions, RunStarted, StepMetrics
from cockpit.ui.app import CockpitApp

LABELS = [f"label_{i}" for i in range(15)]
LAYERS = ["embeddings"] + [f"layer.{i}" for i in range(24)] + ["pooler", "head"]


def run_events(steps: int) -> list[Event]:
    """A run of `steps` steps with a falling, noisy loss and pinned predictions every 10 steps."""
    targets = [[float(i % 3 == j % 3) for j in range(len(LABELS))] for i in range(4)]
    started = RunStarted(
        step=0, model="synthetic", task="multilabel", labels=LABELS, layers=LAYERS,
        layer_params={name: 1_000_000 for name in LAYERS},
        pins=[PinnedExample(index=i, text=f"pinned row {i}", targets=t) for i, t in enumerate(targets)],
        device="cpu", config={"warmup_steps": 10, "lr": 5e-5}, total_steps=steps, steps_per_epoch=1000,
        run_dir="runs/synthetic", train_rows=16_000, eval_rows=0, constant_loss=0.6, frozen=[],
        head={"outputs": len(LABELS)},
    )  # fmt: skip
    events: list[Event] = [started]
    for step in range(1, steps + 1):
        loss = 0.6 / (1 + step / 1000) + 0.05 * ((step * 7919) % 13) / 13
        layers = {name: LayerStats(0.1 + (step % 7) / 70, 10.0, 1e-4, False) for name in LAYERS}
        events.append(StepMetrics(step=step, epoch=step / 1000, loss=loss, lr=5e-5, samples_per_s=100.0,
                                  grad_norm=1.0, layers=layers, micro_batch=16, effective_batch=16))  # fmt: skip
        if step % 10 == 0:
            probs = [[0.5 + 0.4 * (t - 0.5) * min(1.0, step / steps) for t in row] for row in targets]
            events.append(PinPredictions(step=step, probs=probs, losses=[loss] * 4, loss=loss))
    return events


async def time_redraws(steps: int, repeats: int) -> list[float]:
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    for event in run_events(steps):
        events.put(event)
    app = CockpitApp(events, control=None)
    seconds = []
    async with app.run_test(size=(160, 48)) as pilot:
        app.catch_up()
        await pilot.pause()
        for _ in range(repeats):
            started = time.perf_counter()
            app.run_state.changed |= {"status", "loss", "layers", "pins"}
            app.render_changes(force=True)
            await pilot.pause()  # let the compositor paint what changed
            seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="1000,100000", help="run lengths in steps")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    for steps in (int(n) for n in args.lengths.split(",")):
        seconds = asyncio.run(time_redraws(steps, args.repeats))
        ms = [s * 1e3 for s in seconds]
        print(f"{steps:>7} steps: full redraw median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms "
              f"({args.repeats} redraws, 160x48, {len(LAYERS)} layer groups)")  # fmt: skip


if __name__ == "__main__":
    main()
