"""Several ranks (GPUs, machines) through torch.distributed: the same cockpit, one run.

`cockpit train DATA --nproc N` starts N ranks through torchrun's elastic agent
(`torch.distributed.run`), each running `python -m cockpit train DATA ...`; plain
`torchrun --nproc_per_node N -m cockpit train DATA ...` starts the very same ranks. Each rank
trains its shard of every global batch through DistributedDataParallel: NCCL on CUDA, gloo on
the CPU. Rank 0 owns the run directory (journal, config, checkpoints, model, command inbox);
the other ranks write nothing there.

Exact freezing, mid-run, both ways. The measured facts (`shared/DISTRIBUTED.md`, re-checked by
tests/test_distributed.py): flipping `requires_grad` under DDP's default settings applies one step
of gradients that were never all-reduced and then crashes, `static_graph` does the same, and a
parameter frozen when DDP is built is never registered, so after an unfreeze its gradients are
never all-reduced and the ranks drift apart silently. So the mechanism here is:
  1. DDP is built with every parameter trainable (`wrap_model`), so each one is registered;
  2. `find_unused_parameters=True`, so a frozen parameter (no gradient this step) does not stall
     or crash the reducer; then the initial freeze is applied with `requires_grad_(False)`, which
     keeps the speed-up of not running backward below frozen layers (0.54-0.57x of a full step
     measured with the bottom two thirds frozen, against 0.96x for dropping grads only);
  3. never `static_graph` (it caches the set of used parameters);
  4. whatever the mode, frozen gradients are set to None right before every `optimizer.step`
     (an optimizer pre-hook): the guarantee of exactness does not rest on DDP's internals.
`skip_all_reduce_unused_params` (0.51x) is not used: it requires the unused set to stay the same
for the whole run, which a live freeze breaks by design.

Decisions. Every rank computes the same numbers after the synced backward (the loss is
all-reduced; gradients, hence per-layer norms, clipping and the non-finite check, are identical
after DDP's all-reduce). Every other decision that changes control flow (a command from the UI,
the inbox, a signal or the `--at` schedule: pause, stop, lr, freeze, ...) is taken on rank 0 and
broadcast at the step boundary (`StepBoundary`): one int64 flag every step, the command texts only
when there are some. While the others wait at a boundary (rank 0 paused, evaluating, saving), a
heartbeat on rank 0 sends a keep-alive flag every second, so a pause longer than the process
group's timeout does not kill the run. A CUDA out-of-memory is agreed on too: after each forward,
and after each backward that does not sync, the ranks ask each other whether any ran out, and all
retry the step with half the micro-batch together (an OOM inside the syncing backward stays fatal).

The engine's loop is the same on every rank: `DataParallelRanks` is its `parallel.Parallel`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from cockpit.contract.commands import Stop
from cockpit.training.steering import Applied

# How long a rank waits in a collective (seconds): torch's default for gloo. At a step boundary the
# other ranks wait for rank 0 to evaluate, predict its pinned examples or save a checkpoint, so it
# must outlast those; a pause is kept alive by `StepBoundary` whatever it is.
# COCKPIT_BOUNDARY_TIMEOUT overrides it for the boundary's group (the tests use a short one).
DEFAULT_TIMEOUT_S = 1800.0


KEEPALIVE_S = 1.0


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in the job: as torchrun's environment says."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_choice: str = "auto") -> Ranks:
    """Join the process group torchrun described: NCCL with one GPU per local rank, else gloo on the CPU."""
    from cockpit.contract.errors import CockpitError

    world = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ["LOCAL_RANK"])
    wants_cpu = device_choice == "cpu"
    if torch.cuda.is_available() and not wants_cpu:
        if local_rank >= torch.cuda.device_count():
            raise CockpitError(
                f"rank {rank}: local rank {local_rank} but only {torch.cuda.device_count()} GPU(s) on this machine; "
                "use --nproc <= the number of GPUs"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device_choice not in ("auto", "cpu"):
        raise CockpitError(f"--device {device_choice}: several ranks train on CUDA (one GPU per rank) or on the CPU")
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=DEFAULT_TIMEOUT_S))
    return Ranks(rank=rank, world=world, local_rank=local_rank, device=device)


def teardown() -> None:
    """Destroy the process group: without it about a third of CPU runs ended with "terminate called
    without an active exception" (rc 1) after all work was done."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# DDP wrapping and batches
# ---------------------------------------------------------------------------------------------


def wrap_model(model: torch.nn.Module, ranks: Ranks) -> torch.nn.Module:
    """DDP over `model` with every parameter registered (see the module docstring), then the
    model's own `requires_grad` flags back as they were."""
    from torch.nn.parallel import DistributedDataParallel

    flags = [(p, p.requires_grad) for p in model.parameters()]
    for param, _ in flags:
        param.requires_grad_(True)
    # A transformer's buffers (position ids, token type ids) are constants: broadcasting them
    # before every forward would add a collective per micro-batch for nothing. (Newer torch names
    # the switch `forward_sync_buffers` and warns about the old name; both sync them once at init.)
    no_buffer_sync = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
        else {"broadcast_buffers": False}
    )
    # find_unused_parameters=True makes the reducer warn once that it found none unused: expected
    # here, since a freeze mid-run is what makes parameters unused (docs/distributed.md).
    ddp = DistributedDataParallel(
        model,
        device_ids=[ranks.device.index] if ranks.device.type == "cuda" else None,
        find_unused_parameters=True,
        **no_buffer_sync,
    )
    for param, flag in flags:
        param.requires_grad_(flag)
    return ddp


def shard(rows: Sequence[int], ranks: Ranks) -> list[int]:
    """This rank's share of a global batch (every world-th row): shares differ by at most one row."""
    return list(rows[ranks.rank :: ranks.world])


def frozen_grads_to_none(optimizer: torch.optim.Optimizer) -> None:
    """Before every optimizer step: a frozen parameter (requires_grad False) has grad None, so
    AdamW leaves it and its state alone, bit for bit, in every DDP mode."""

    def hook(opt: torch.optim.Optimizer, _args: Any, _kwargs: Any) -> None:
        for group in opt.param_groups:
            for param in group["params"]:
                if not param.requires_grad:
                    param.grad = None

    optimizer.register_step_pre_hook(hook)


# ---------------------------------------------------------------------------------------------
# Decisions taken on rank 0, broadcast at the step boundary
# ---------------------------------------------------------------------------------------------

GO, COMMANDS_THEN_GO, KEEPALIVE = 0, 1, 2


class StepBoundary:
    """Rank 0 tells every rank what happens at a step boundary.

    Every boundary ends with one int64 flag (0.17 ms a step on gloo, against 0.55 ms for
    broadcasting an object list every step): GO, or COMMANDS_THEN_GO followed by the texts of the
    commands rank 0 applied, in its order. While the others wait for it (rank 0 paused, saving,
    evaluating), a heartbeat thread on rank 0 sends KEEPALIVE once a second, so no wait outlasts
    the timeout. The messages travel on a gloo group of their own, also in NCCL jobs: the flag
    stays on the host, and the heartbeat never meets DDP's collectives on the default group.
    """

    def __init__(self, ranks: Ranks) -> None:
        self.ranks = ranks
        timeout = float(os.environ.get("COCKPIT_BOUNDARY_TIMEOUT", DEFAULT_TIMEOUT_S))
        self.group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout))
        self._flag = torch.zeros(1, dtype=torch.int64)
        self._lock = threading.Lock()  # one message at a time, whichever thread sends it
        self._waiting = False  # the other ranks are (or are about to be) waiting for this boundary
        self._closed = threading.Event()
        if ranks.is_main:
            threading.Thread(target=self._heartbeat, name="cockpit-keepalive", daemon=True).start()

    def _send_flag(self, flag: int) -> None:
        self._flag.fill_(flag)
        dist.broadcast(self._flag, src=0, group=self.group)

    def _heartbeat(self) -> None:
        while not self._closed.wait(KEEPALIVE_S):
            with self._lock:
                if self._waiting:
                    self._send_flag(KEEPALIVE)

    def others_wait(self) -> None:
        """Rank 0: the other ranks are now waiting for the next boundary's decision: keep them alive."""
        with self._lock:
            self._waiting = True

    def send(self, applied: list[tuple[str, str, str]]) -> None:
        """Rank 0: end the boundary, handing on the (command text, source, id) it applied."""
        with self._lock:
            self._waiting = False
            self._send_flag(COMMANDS_THEN_GO if applied else GO)
            if applied:
                dist.broadcast_object_list([applied], src=0, group=self.group)

    def receive(self) -> list[tuple[str, str, str]]:
        """Every other rank: wait for rank 0's decision at this boundary; the commands it applied."""
        while True:
            dist.broadcast(self._flag, src=0, group=self.group)
            flag = int(self._flag.item())
            if flag == GO:
                return []
            if flag == COMMANDS_THEN_GO:
                box: list[Any] = [None]
                dist.broadcast_object_list(box, src=0, group=self.group)
                return box[0]

    def release_waiting(self, stop: tuple[str, str, str]) -> None:
        """Rank 0, ending: if the others wait for this boundary's decision, it is `stop`."""
        with self._lock:
            if self._waiting:
                self._waiting = False
                self._send_flag(COMMANDS_THEN_GO)
                dist.broadcast_object_list([[tuple(stop)]], src=0, group=self.group)

    def any_rank(self, flag: bool) -> bool:
        """Whether `flag` is set on any rank; every rank must ask at the same point of its step."""
        with self._lock:
            value = torch.tensor([int(flag)], dtype=torch.int64)
            dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.group)
        return bool(value.item())

    def close(self) -> None:
        self._closed.set()


# ---------------------------------------------------------------------------------------------
# One rank's answers to the engine
# ---------------------------------------------------------------------------------------------


class DataParallelRanks:
    """`parallel.Parallel` for one rank of a DDP job (see the module docstring for the mechanism):
    the engine's loop is the same on every rank; this says how a rank differs from one process."""

    def __init__(self, ranks: Ranks) -> None:
        self.ranks = ranks
        self.is_main = ranks.is_main
        self.world = ranks.world
        self.boundary_messages = StepBoundary(ranks)

    def wrap(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> torch.nn.Module:
        frozen_grads_to_none(optimizer)
        return wrap_model(model, self.ranks)

    def micro_batches(self, rows: Sequence[int], micro_batch: int) -> list[tuple[list[int], float]]:
        """Every world-th row of the global batch, in as many micro-batches on every rank (the ranks
        ask each other once per micro-batch, see `any_process`). A row's loss weighs world/rows,
        because DDP averages the gradients over ranks: the synced gradient is the global batch's
        mean whatever the shards' sizes. A rank short of rows for a micro-batch takes part with
        one row weighted 0 (its backward must join the others' all-reduce)."""
        mine = shard(rows, self.ranks)
        count = max(1, math.ceil(math.ceil(len(rows) / self.world) / micro_batch))
        chunks = [mine[i * micro_batch : (i + 1) * micro_batch] for i in range(count)]
        return [(chunk, len(chunk) * (self.world / len(rows))) if chunk else ([rows[0]], 0.0) for chunk in chunks]

    def accumulating(self, model: torch.nn.Module, last: bool) -> contextlib.AbstractContextManager:
        """Accumulation micro-batches skip the all-reduce; the last backward syncs them all."""
        return contextlib.nullcontext() if last else model.no_sync()  # type: ignore[operator]

    def global_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Each rank's loss carries world/rows per row (see `micro_batches`): the sum over ranks, over world."""
        total = loss / self.world
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def any_process(self, flag: bool) -> bool:
        return self.boundary_messages.any_rank(flag)

    def boundary(self, decide: Callable[[list[Applied]], None], follow: Callable[[Applied], None]) -> None:
        """Rank 0 runs the engine's own boundary (schedule, queue, inbox; waits while paused), noting
        each command it applies, then hands them on; the other ranks apply exactly those, in order."""
        if not self.is_main:
            for applied in self.boundary_messages.receive():
                follow(Applied(*applied))
            return
        self.boundary_messages.others_wait()
        applied: list[Applied] = []
        try:
            decide(applied)
        finally:
            self.boundary_messages.send([tuple(a) for a in applied])

    def main_works_alone(self) -> None:
        """Rank 0 evaluates, predicts and saves next while the others already wait at the boundary."""
        if self.is_main:
            self.boundary_messages.others_wait()

    def forget_partial_step(self, model: torch.nn.Module) -> None:
        """Every rank gave up this step after an out-of-memory: a rank whose forward finished had
        told DDP's reducer to expect a backward; without a reset its next forward would fail
        ("Expected to have finished reduction in the prior iteration"). `_reset_state` is the
        reducer's own reset (DDP calls it when its process group changes); with
        `find_unused_parameters=True` it rebuilds no buckets, so no collective is involved."""
        model.reducer._reset_state()  # type: ignore[union-attr]

    def close(self) -> None:
        """The run is over on this rank: wait for the others (rank 0 may still be saving) so that no
        rank tears its process group down while another still uses its connections, then stop
        the heartbeat. If rank 0 ended while the others waited at a boundary, they are told to stop
        first. A rank that died makes the barrier fail at once (gloo sees the closed connection):
        there is nothing left to wait for then."""
        with contextlib.suppress(RuntimeError):
            if self.is_main:
                # ended inside a step (an error): the others wait for a decision that would never come
                self.boundary_messages.release_waiting(Applied(Stop().text, "rank 0 ended", ""))
            self.boundary_messages.close()
            dist.barrier(group=self.boundary_messages.group)
