"""`cockpit compare RUN RUN [RUN...]`: which run is better, and where did they part?

Each run's journal is read as `cockpit replay` reads it (`read_journal`, or followed while its
trainer is live) and folded by the same `RunState`; `ui.compare_state` adds what a comparison
needs. Without RUNs, the newest runs under ./runs are compared. `--json` prints the comparison
(a row per run: state, steps, wall time, final and best eval, commands; the config diff; the shared
pinned examples) and opens nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cockpit.cli.attach import resolve_attach_target
from cockpit.contract.errors import CockpitError
from cockpit.notify.message import plain
from cockpit.rundir.journal import read_journal
from cockpit.rundir.layout import JOURNAL_NAME
from cockpit.rundir.lock import live_pid
from cockpit.ui.compare_state import ComparedRun, compared_runs, comparison

MAX_RUNS = 8  # glyphs that read apart; more runs than that are no longer a comparison at a glance


def resolve_runs(given: list[str], newest: int, root: Path = Path("runs")) -> list[Path]:
    """The run directories to compare: those given, else the `newest` under `root`."""
    if len(given) == 1:
        raise CockpitError(f"compare needs two runs or more, got only {given[0]}; or none for the newest {newest}")
    if given:
        runs = [resolve_attach_target(g) for g in given]
    elif not 2 <= newest <= MAX_RUNS:
        raise CockpitError(f"--newest {newest}: compare 2 to {MAX_RUNS} runs")
    else:
        if not root.is_dir():
            raise CockpitError(f"no runs under {root}/; give the run directories: cockpit compare RUN RUN")
        found = sorted(root.glob(f"*/{JOURNAL_NAME}"), key=lambda p: p.stat().st_mtime, reverse=True)
        runs = [p.parent for p in found[:newest]]
        if len(runs) < 2:
            raise CockpitError(
                f"{len(runs)} run(s) under {root}/: compare needs two; give them: cockpit compare RUN RUN"
            )
    seen = {}
    for run in runs:
        key = run.resolve()
        if key in seen:
            raise CockpitError(f"{run}: given twice (as {seen[key]}); compare different runs")
        seen[key] = run
    if len(runs) > MAX_RUNS:
        raise CockpitError(f"{len(runs)} runs: compare at most {MAX_RUNS} at a time")
    return runs


def fold_journals(runs: list[Path]) -> list[ComparedRun]:
    """Each run's journal as it is now, folded."""
    folded = compared_runs([str(run) for run in runs])
    for run, compared in zip(runs, folded, strict=True):
        for event in read_journal(run / JOURNAL_NAME):
            compared.apply(event)
    return folded


def comparison_json(runs: list[Path]) -> str:
    """`--json`: the comparison of the runs' journals as they are now (each row says if it is live)."""
    table: dict[str, Any] = comparison(fold_journals(runs))
    for row, run in zip(table["runs"], runs, strict=True):
        row["live"] = live_pid(run) is not None
    return json.dumps(plain(table), indent=2, allow_nan=False, ensure_ascii=False)


def run_compare(runs: list[Path], theme: str) -> int:
    """Open the comparison; a live run's journal is followed, so its curves keep growing."""
    from cockpit.ui.compare_app import CompareApp

    CompareApp([(str(run), run / JOURNAL_NAME, live_pid(run) is not None) for run in runs], theme_name=theme).run()
    return 0
