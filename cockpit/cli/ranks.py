"""`cockpit train --nproc N` and `torchrun ... -m cockpit train`: the launcher, and one rank's life.

`cockpit train DATA --nproc N` starts N ranks through torchrun's elastic agent
(`torch.distributed.run`), each running `python -m cockpit train DATA ...`; plain
`torchrun --nproc_per_node N -m cockpit train DATA ...` starts the very same ranks. How the ranks
train one run together is `cockpit.training.distributed`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch.distributed as dist

from cockpit.training.distributed import DataParallelRanks, setup, teardown
from cockpit.training.engine import Engine

# torchrun's options that `cockpit train` passes through, with the launcher's spelling.
LAUNCH_FLAGS = {"--nproc": "--nproc_per_node", "--nnodes": "--nnodes", "--node-rank": "--node_rank"}


RDZV_FLAG = "--rdzv-endpoint"


# ---------------------------------------------------------------------------------------------
# The launcher
# ---------------------------------------------------------------------------------------------


def split_launch_args(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(torchrun options, the rest): `--nproc 4 --nnodes 2 ...` out of a `cockpit train` command line."""
    wanted = {*LAUNCH_FLAGS, RDZV_FLAG}
    options: dict[str, str] = {}
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        name, eq, value = item.partition("=")
        if name in wanted:
            if not eq:
                i += 1
                value = items[i] if i < len(items) else ""
            options[name] = value
        else:
            rest.append(item)
        i += 1
    return options, rest


def torchrun_args(options: dict[str, str], worker_args: Sequence[str], shutdown_timeout: int = 600) -> list[str]:
    """The `torch.distributed.run` command line that starts `python -m cockpit <worker_args>` on each rank."""
    args = [f"{LAUNCH_FLAGS[k]}={v}" for k, v in options.items() if k in LAUNCH_FLAGS]
    if options.get(RDZV_FLAG):
        args += ["--rdzv_backend=c10d", f"--rdzv_endpoint={options[RDZV_FLAG]}"]
    elif int(options.get("--nnodes", "1") or 1) == 1:
        args.append("--standalone")  # one machine: a free local port, no endpoint to give
    # The agent forwards SIGINT/SIGTERM to the ranks, then waits this long before SIGKILL: time for
    # rank 0 to finish its step and save a checkpoint (torchrun's default is 30 s).
    args += [f"--shutdown_timeout={shutdown_timeout}", "-m", "cockpit", *worker_args]
    return args


def launch(argv: Sequence[str]) -> int:
    """Run this `cockpit train ...` command line, less the launcher's flags, on every rank; the job's exit status."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    options, worker_args = split_launch_args(argv)
    try:
        run(parse_args(torchrun_args(options, worker_args)))
    except ChildFailedError as exc:
        codes = [f.exitcode for f in exc.failures.values()]
        interrupted = all(code in (130, -2, -15) for code in codes)
        if not interrupted:
            print(f"cockpit: a rank failed (exit status {codes}); see its output above", file=sys.stderr)
        return 130 if interrupted else next((c for c in codes if c > 0), 1)
    except SignalException:
        return 130
    return 0


def run_rank(args: Any, make_prepared: Callable[[], Any], watchers: Callable[[Engine], list] | None = None) -> int:
    """One rank of `cockpit train` under torchrun: join the group, prepare, train headless, leave.

    Rank 0 journals, prints the progress line and handles signals (the agent forwards SIGINT and
    SIGTERM to every rank: rank 0 turns its first one into a `stop` that every rank applies at the
    same boundary; the other ranks wait for that decision rather than act on their own).
    `watchers(engine)` gives extra observers (the tests' checksums).
    """
    from cockpit.cli.launch import EXIT_CODES, ProgressPrinter, SignalGuard, print_outcome
    from cockpit.rundir.inbox import CommandInbox
    from cockpit.rundir.lock import RunLock, check_new_run_dir
    from cockpit.training.prepare import record_run

    ranks = setup(args.device)
    try:
        prepared = make_prepared()
        if ranks.is_main:
            # Rank 0 is the run's trainer for `cockpit attach`, `runs` and `send`: it holds the lock
            # (until this process exits) and the inbox, and writes what a resume checks against.
            if prepared.resume is None:
                check_new_run_dir(prepared.run_dir)
            lock = RunLock(prepared.run_dir).acquire()  # noqa: F841
            CommandInbox(prepared.run_dir, fresh=True)
            record_run(prepared)
        prepared.device = ranks.device
        engine = Engine(prepared, on_nonfinite="stop", parallel=DataParallelRanks(ranks))
        engine.observers.extend(watchers(engine) if watchers else [])
        if ranks.is_main:
            engine.observers.append(ProgressPrinter(engine.total_steps))
            print(
                f"cockpit: {ranks.world} ranks ({dist.get_backend()} on {ranks.device.type}), global batch "
                f"{engine.effective_batch}; watch it with: cockpit attach {prepared.run_dir}",
                file=sys.stderr,
            )
            SignalGuard(engine).install()
        else:
            for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    signal.signal(sig, signal.SIG_IGN)
        # In the main thread, as run_headless does: one OpenMP pool; signals only set a flag.
        ended = engine.run()
        if ranks.is_main:
            return print_outcome(ended, prepared)
        return EXIT_CODES.get(ended.reason, 1)
    finally:
        teardown()
