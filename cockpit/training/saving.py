"""When checkpoints are written, and how without stalling training for the write.

Nothing is lost by default (issue 23): with no flag a run saves a checkpoint every
`--save-minutes 10` of training, so `kill -9`, an OOM kill, a reboot or a full disk cost at most that
much; `--save-every N` adds one every N steps, `--save-every 0` turns both off (the end still saves).

A write costs what the disk takes (the MiniLM: ~270 MB of weights and AdamW state; a roberta-large
shape: ~4 GB), so the training thread only takes a snapshot at the step boundary (a copy of the
weights and the optimizer state in host memory: the state exactly as it was after that step) and
the tokenizer's small files; a background thread writes the rest. Safe by construction:
- the snapshot is taken between two optimizer steps, so weights, optimizer, scheduler and RNG agree;
- one write at a time: a checkpoint due while one is being written waits for the next boundary
  after it (`save` and the run's end wait for it, then write theirs);
- the write is atomic (`rundir.checkpoint.finish_checkpoint`): until its rename, the previous good
  checkpoint stays the newest whole one, whatever happens to the process or the machine;
- a failure (a full disk) reaches the training thread at its next boundary and ends the run, as a
  failure in the training thread would.
Where the snapshot would not fit in the free memory (its size is known before it is taken), the
checkpoint is written in the training thread, as before: training then waits for the write, and a
notice says so once.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cockpit.rundir import checkpoint as ckpt

# The snapshot must leave this share of the free memory free (the page cache the write itself
# needs, the next batches), or the checkpoint is written in the training thread instead.
SNAPSHOT_MEMORY_SHARE = 0.5


class SaveCadence:
    """When a periodic checkpoint is due: every `every` steps and every `minutes` of training.

    Training time is wall time less the time the loop waited at a boundary (a paused run), so a run
    paused over lunch does not save as soon as it resumes, and a run never waits longer than
    `minutes` of training for its next checkpoint (the worst-case loss after a kill -9).
    """

    def __init__(self, every: int | None, minutes: float, now: float) -> None:
        self.every = every or None  # 0 and None: no step cadence
        self.minutes = minutes if every != 0 else 0.0  # --save-every 0 turns off every periodic checkpoint
        self._since = now
        self._waited = 0.0

    def waited(self, seconds: float) -> None:
        """The loop waited this long without training (at a boundary, paused)."""
        self._waited += seconds

    def due(self, step: int, now: float) -> bool:
        by_steps = self.every is not None and step % self.every == 0
        by_time = self.minutes > 0 and (now - self._since - self._waited) >= self.minutes * 60
        return by_steps or by_time

    def saved(self, now: float) -> None:
        self._since, self._waited = now, 0.0


@dataclass
class Snapshot:
    """What a checkpoint holds, as it was at one step boundary: the weights and the training state."""

    state: ckpt.TrainingState
    weights: dict[str, torch.Tensor] | None  # None: the model's own (the training thread writes it)
    temporary: Path  # the checkpoint's partial folder, with the tokenizer already in it


def state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Bytes a snapshot of the model and its optimizer state takes in host memory."""
    tensors = list(model.state_dict().values())
    tensors += [t for state in optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (bytes), None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def copied(value: Any, memo: dict[tuple, torch.Tensor] | None = None) -> Any:
    """`value` with every tensor in it copied to host memory (dataclasses, dicts, lists and tuples
    rebuilt; the same tensor copied once, so that tied weights stay tied for `save_pretrained`)."""
    memo = {} if memo is None else memo
    if isinstance(value, torch.Tensor):
        key = (value.untyped_storage().data_ptr(), value.storage_offset(), value.shape, value.stride(), value.dtype)
        if key not in memo:
            memo[key] = value.detach().to("cpu", copy=True)
        return memo[key]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: copied(getattr(value, f.name), memo) for f in dataclasses.fields(value)}
        )
    if isinstance(value, dict):
        return {k: copied(v, memo) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(copied(v, memo) for v in value)
    return copy.deepcopy(value)


class CheckpointSaver:
    """Writes a run's checkpoints, one at a time, in a background thread (see the module docstring).

    The training thread calls `save` at a step boundary and `collect` at every boundary: `collect`
    hands back the checkpoints written since (to journal) and raises the write's error if one failed.
    """

    def __init__(self, run_dir: Path, keep: int, background: bool = True) -> None:
        self.run_dir = run_dir
        self.keep = keep
        self.background = background
        self._thread: threading.Thread | None = None
        self._done: list[tuple[int, Path]] = []
        self._error: ckpt.CheckpointWriteError | None = None
        self._lock = threading.Lock()
        self.writing_step: int | None = None  # the step whose checkpoint is being written
        self.seconds: list[float] = []  # how long each background write took (for the notices and benchmarks)
        ckpt.remove_partial_checkpoints(run_dir)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def save(self, model: Any, tokenizer: Any, state: ckpt.TrainingState, optimizer: Any, wait: bool = False) -> bool:
        """Snapshot the run at this boundary and write it; True if it is written in the background.

        Waits first for a write in flight (never two at once). `wait`: write it here, now (the
        run's end, where nothing trains meanwhile). Raises CheckpointWriteError (this write's, or
        the previous one's).
        """
        self.wait()
        temporary = ckpt.start_checkpoint(self.run_dir, state.step, tokenizer)
        if wait or not self.background or not self.fits(model, optimizer):
            path = ckpt.finish_checkpoint(self.run_dir, temporary, model, None, state, self.keep)
            with self._lock:
                self._done.append((state.step, path))
            return False
        snapshot = Snapshot(copied(state), copied(model.state_dict()), temporary)
        self.writing_step = state.step
        self._thread = threading.Thread(
            target=self._write, args=(model, snapshot), name="cockpit-checkpoint-writer", daemon=True
        )
        self._thread.start()
        return True

    def fits(self, model: Any, optimizer: Any) -> bool:
        free = available_memory()
        return free is None or state_bytes(model, optimizer) <= free * SNAPSHOT_MEMORY_SHARE

    def _write(self, model: Any, snapshot: Snapshot) -> None:
        started = time.perf_counter()
        try:
            path = ckpt.finish_checkpoint(self.run_dir, snapshot.temporary, model, snapshot.weights, snapshot.state,
                                          self.keep)  # fmt: skip
        except ckpt.CheckpointWriteError as exc:
            with self._lock:
                self._error = exc
            return
        with self._lock:
            self._done.append((snapshot.state.step, path))
            self.seconds.append(time.perf_counter() - started)

    def wait(self) -> None:
        """Until the write in flight is done; raises its error if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self.writing_step = None
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def collect(self) -> list[tuple[int, Path]]:
        """(step, path) of each checkpoint written since the last call; raises a failed write's error."""
        if self._thread is not None and not self._thread.is_alive():
            self.wait()
        with self._lock:
            done, self._done = self._done, []
            error, self._error = self._error, None
        if error is not None:
            raise error
        return done
