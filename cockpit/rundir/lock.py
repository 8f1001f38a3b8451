"""Who owns a run directory: one trainer, held by a kernel lock that dies with its process.

A pid file alone cannot tell a live trainer from a dead one (pids are reused, and kill -9 leaves the
file behind). An `flock` on `trainer.lock` can: the kernel releases it when the process ends, however
it ends. So "is this run live?" is "can I take the lock?", and a stale file never blocks a new trainer,
an attach or a resume. The file also holds the holder's pid and host, for the messages.

flock is per host: on a run directory shared over NFS between machines, only the machine that runs
the trainer sees its lock reliably (the distributed launcher keeps the run directory on rank 0).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.contract.errors import CockpitError
from cockpit.rundir.layout import CONFIG_NAME, INBOX, LOCK_NAME, TRAINER_LOG

if TYPE_CHECKING:
    from cockpit.contract.config import RunConfig


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class RunLock:
    """Held by the one trainer of a run directory for its whole life (released on exit or kill)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or say, in one line, which live trainer has it."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CockpitError(
                f"--out {self.run_dir}: cannot write there ({exc.strerror}); choose another --out"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _read_holder(self.path).get("pid", "?")
            raise CockpitError(
                f"{self.run_dir} is in use by a running trainer (pid {pid}); "
                f"watch it with: cockpit attach {self.run_dir}, or pass another --out"
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


def lock_holder(run_dir: Path) -> dict[str, Any]:
    """What the run's last (or present) trainer wrote into the lock file: pid, host, `started` (a
    time.time()); {} when there is none. Live or not: `live_pid` says that."""
    return _read_holder(Path(run_dir) / LOCK_NAME)


def live_pid(run_dir: Path) -> int | None:
    """The pid of the trainer that holds `run_dir`, or None when no live process does."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_holder(path).get("pid")
        return int(pid) if isinstance(pid, int) else -1
    finally:
        os.close(fd)  # closing drops the shared lock too, if we took it
    return None


def run_dir_for(config: RunConfig) -> Path:
    if config.out:
        return Path(config.out)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(config.data).stem) or "data"
    base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}"
    path, suffix = base, 1
    while path.exists():  # two runs started in the same second
        suffix += 1
        path = base.with_name(f"{base.name}-{suffix}")
    return path


def check_new_run_dir(run_dir: Path) -> None:
    """A new run gets an empty directory: another run's checkpoints and journal are never mixed in."""
    starting = {LOCK_NAME, TRAINER_LOG, INBOX}  # what this run's own start writes before it gets here
    try:
        is_file = run_dir.exists() and not run_dir.is_dir()
        used = run_dir.is_dir() and any(p.name not in starting for p in run_dir.iterdir())
    except OSError as exc:
        raise CockpitError(
            f"--out {run_dir}: cannot be used ({exc.strerror or exc}); give a writable directory"
        ) from None
    if is_file:
        raise CockpitError(f"--out {run_dir}: is a file; give a directory for the run (it is created if missing)")
    if used:
        holds = "a cockpit run" if (run_dir / CONFIG_NAME).exists() else "files"
        raise CockpitError(
            f"--out {run_dir}: already holds {holds}; continue it with --resume {run_dir}, or give a new --out"
        )
