"""One rank of `cockpit train` under torchrun, as `python -m cockpit train` runs it, plus a recorder
of what the rank holds after each step (tests/test_distributed.py starts it through torchrun).

Usage: torchrun --nproc_per_node N tests/training/ddp_rank.py RECORD_DIR train DATA [cockpit train options]

COCKPIT_TEST_OOM=R:B makes rank R's forward raise CUDA's out-of-memory error for micro-batches of
more than B rows (this CPU cannot run out of CUDA memory), so the ranks' joint retry is exercised.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from cockpit.cli.main import build_parser, given_flags, prepare_from_args
from cockpit.cli.ranks import run_rank
from cockpit.contract.events import StepMetrics


def digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Recorder:
    """Per step: a digest of every weight and one per layer group, the loss, the frozen groups."""

    def __init__(self, engine, path: Path) -> None:
        self.engine = engine
        self.out = path.open("w", encoding="utf-8")
        self.write(engine.step, None)  # as DDP left them: rank 0's weights on every rank

    def __call__(self, event) -> None:
        if isinstance(event, StepMetrics):
            self.write(event.step, event.loss)

    def write(self, step: int, loss: float | None) -> None:
        engine = self.engine
        record = {
            "step": step,
            "all": digest(engine.model.parameters()),
            "groups": {g.name: digest(g.params) for g in engine.groups},
            "loss": loss,
            "frozen": sorted(engine.frozen),
        }
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


def out_of_memory_above(engine, rows: int) -> None:
    def raise_out_of_memory(_module, _args, kwargs) -> None:
        if kwargs["input_ids"].shape[0] > rows:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (simulated above {rows} rows)")

    engine.model.register_forward_pre_hook(raise_out_of_memory, with_kwargs=True)


def watchers(engine, record_dir: Path, rank: int) -> list:
    fault_rank, _, rows = os.environ.get("COCKPIT_TEST_OOM", "").partition(":")
    if fault_rank and int(fault_rank) == rank:
        out_of_memory_above(engine, int(rows))
    return [Recorder(engine, record_dir / f"rank{rank}.jsonl")]


def main() -> int:
    record_dir = Path(sys.argv[1])
    argv = sys.argv[2:]
    parser = build_parser()
    args = parser.parse_args(argv)
    given = given_flags(parser, argv)
    rank = int(os.environ["RANK"])
    return run_rank(
        args,
        lambda: prepare_from_args(args, given),
        watchers=lambda engine: watchers(engine, record_dir, rank),
    )


if __name__ == "__main__":
    sys.exit(main())
