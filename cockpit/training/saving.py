"""When checkpoints are written, and how without stalling training for more than the write.

Nothing is lost by default (issue 23): with no flag a run saves a checkpoint every
`--save-minutes 10` of training, so `kill -9`, an OOM kill, a reboot or a full disk cost at most that
much; `--save-every N` adds one every N steps, `--save-every 0` turns both off (the end still saves).

A checkpoint is serialized in the training thread at a step boundary (`rundir.checkpoint.write_checkpoint`):
that is the consistent snapshot (weights, optimizer, scheduler and RNG of one boundary), and it
costs no memory beyond the page cache the files go through. Making it durable (fsync of every file
and of the folder, the rename to `step-N/`, the rotation) waits on the disk, not on the CPU, and runs
in a background thread (`commit_checkpoint`). Safe by construction:
- one checkpoint at a time: the next one (due, asked for with `save`, or the run's last) waits
  until the one before is committed;
- until its rename a checkpoint is `.step-N.partial/`, which nothing resumes from, so a crash, a
  kill or a power cut mid-write leaves the previous good checkpoint the newest whole one;
- a failed commit (a full disk) reaches the training thread at its next boundary and ends the
  run, as a failed write in the training thread does.

Why not copy the state in memory and serialize that in the background, as `torch.distributed.checkpoint`'s
async save does: measured on 2 CPU cores (benchmarks/checkpoint_cost.py), the copy alone (fresh
memory for 0.25 GiB of MiniLM state, 4 GiB of roberta-large's) took longer than serializing the same
bytes to the page cache, and it doubles the state's memory while it lives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from cockpit.rundir import checkpoint as ckpt


class SaveCadence:
    """When a periodic checkpoint is due: every `every` steps and every `minutes` of training.

    Training time is wall time less the time the loop waited at a boundary (a paused run), so a run
    paused over lunch does not save as soon as it resumes, and a run never trains longer than
    `minutes` past its last checkpoint (the worst-case loss after a kill -9).
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


class CheckpointSaver:
    """Writes a run's checkpoints, one at a time; commits them in a background thread.

    The training thread calls `save` at a step boundary, and `collect` at every boundary: it hands
    back the checkpoints committed since (to journal) and raises a failed commit's error.
    """

    def __init__(self, run_dir: Path, keep: int, background: bool = True) -> None:
        self.run_dir = run_dir
        self.keep = keep
        self.background = background
        self._thread: threading.Thread | None = None
        self._done: list[tuple[int, Path]] = []
        self._error: ckpt.CheckpointWriteError | None = None
        self._lock = threading.Lock()
        self.committing: int | None = None  # the step whose checkpoint is being committed
        # Each commit's wall and CPU seconds (its thread's): the disk's time, and what it took from training.
        self.commit_seconds: list[tuple[float, float]] = []
        ckpt.remove_partial_checkpoints(run_dir)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def save(self, save_model: Callable[[Path], None], state: ckpt.TrainingState, wait: bool = False) -> None:
        """Write the run's checkpoint at this boundary; commit it in the background unless `wait`.

        Waits first for the commit in flight (never two at once). Raises CheckpointWriteError (this
        write's, or the previous commit's).
        """
        self.wait()
        temporary = ckpt.write_checkpoint(self.run_dir, save_model, state)
        if wait or not self.background:
            self._commit(temporary, state.step)
            self.wait()
            return
        self.committing = state.step
        self._thread = threading.Thread(
            target=self._commit, args=(temporary, state.step), name="cockpit-checkpoint-commit", daemon=True
        )
        self._thread.start()

    def _commit(self, temporary: Path, step: int) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            path = ckpt.commit_checkpoint(self.run_dir, temporary, step, self.keep)
        except ckpt.CheckpointWriteError as exc:
            with self._lock:
                self._error = exc
            return
        with self._lock:
            self._done.append((step, path))
            self.commit_seconds.append((time.perf_counter() - started, time.thread_time() - cpu))

    def wait(self) -> None:
        """Until the commit in flight is done; raises its error if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self.committing = None
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def collect(self) -> list[tuple[int, Path]]:
        """(step, path) of each checkpoint committed since the last call; raises a failed commit's error."""
        if self._thread is not None and not self._thread.is_alive():
            self.wait()
        with self._lock:
            done, self._done = self._done, []
        return done
