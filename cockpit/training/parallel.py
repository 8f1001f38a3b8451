"""What the training loop asks of its peers: nothing, in one process; a lot, under DDP.

The engine is written once for both. Where a step depends on other processes it asks its
`Parallel`: which rows of a global batch are its own, whether to sync gradients after this
micro-batch, the loss over every process, whether any process ran out of memory, and who
decides what happens at a step boundary. `SingleProcess` answers each with the identity;
`cockpit.distributed.DataParallelRanks` answers them for one rank of a torch.distributed job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from cockpit.training.steering import Applied


class Parallel(Protocol):
    """The engine's view of the other processes training the same run."""

    is_main: bool  # writes the run directory, predicts the pinned examples, evaluates, decides
    world: int

    def wrap(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> torch.nn.Module:
        """The module the training forward runs through (predictions always use the bare model)."""
        ...

    def micro_batches(self, rows: Sequence[int], micro_batch: int) -> list[tuple[list[int], float]]:
        """This process's micro-batches of a global batch, each with the share of the step's loss
        its mean loss carries (rows in it / rows in the batch, in one process)."""
        ...

    def accumulating(self, model: torch.nn.Module, last: bool) -> contextlib.AbstractContextManager:
        """Around one micro-batch's forward and backward: only the last one syncs gradients."""
        ...

    def global_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The step's loss over every process, from this process's weighted share of it."""
        ...

    def any_process(self, flag: bool) -> bool:
        """Whether `flag` is set on any process (every process must ask at the same point)."""
        ...

    def boundary(self, decide: Callable[[list[Applied]], None], follow: Callable[[Applied], None]) -> None:
        """At a step boundary: the main process decides (applies commands, noting each in the list),
        every other process follows the same commands in the same order."""
        ...

    def main_works_alone(self) -> None:
        """From here to the next boundary only the main process works (evaluation, pinned
        predictions, checkpoint): the others wait for its decision there."""
        ...

    def forget_partial_step(self, model: torch.nn.Module) -> None:
        """After every process gave up a step half-way (out of memory): let the next one start clean."""
        ...

    def close(self) -> None: ...


class SingleProcess:
    """One process, no peers: every answer is the identity."""

    is_main = True
    world = 1

    def wrap(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> torch.nn.Module:
        return model

    def micro_batches(self, rows: Sequence[int], micro_batch: int) -> list[tuple[list[int], float]]:
        chunks = [list(rows[i : i + micro_batch]) for i in range(0, len(rows), micro_batch)]
        return [(chunk, len(chunk) / len(rows)) for chunk in chunks]

    def accumulating(self, model: torch.nn.Module, last: bool) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def global_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return loss

    def any_process(self, flag: bool) -> bool:
        return flag

    def boundary(self, decide: Callable[[list[Applied]], None], follow: Callable[[Applied], None]) -> None:
        decide([])

    def main_works_alone(self) -> None:
        pass

    def forget_partial_step(self, model: torch.nn.Module) -> None:
        pass

    def close(self) -> None:
        pass
