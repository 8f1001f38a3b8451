"""When the cockpit itself crashes: keep the traceback and say so, never as a detach (issue #25).

The trainer does not share the cockpit's fate: in the default mode it is another process, and with
`--foreground` the training thread goes on without the UI. What the user must learn is that the UI
crashed (not that it detached), where its traceback is, and what happened to the run.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from cockpit.rundir.layout import CRASH_LOG


def keep_traceback(run_dir: Path | None, traceback_text: str) -> Path | None:
    """Append the traceback to RUN_DIR/cockpit-crash.log (a replay of a read-only run: the temp folder).

    Textual prints the traceback on the terminal as it closes; a file keeps it for a bug report after
    the terminal's scrollback is gone. None if it could be written nowhere.
    """
    header = f"--- cockpit crashed at {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()})\n"
    folders = [run_dir] if run_dir is not None and run_dir.is_dir() else []
    for folder in [*folders, Path(tempfile.gettempdir())]:
        path = folder / CRASH_LOG
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(header + traceback_text.rstrip("\n") + "\n")
        except OSError:
            continue
        return path
    return None


def crashed_line(traceback_text: str, kept: Path | None) -> str:
    """`cockpit: the cockpit crashed (ZeroDivisionError: division by zero); its traceback is above and in X.`"""
    last = next((line.strip() for line in reversed(traceback_text.splitlines()) if line.strip()), "unknown error")
    where = f"above and in {kept}" if kept is not None else "above"
    return f"cockpit: the cockpit crashed ({last}); its traceback is {where}."
