"""The run's control endpoint: a folder of command files, `run_dir/inbox/`, owner-only.

Why files and not a socket:
- nothing listens: no server thread in the trainer competes with training for the GIL, and no
  network port is ever opened;
- a client that crashes, hangs or is killed (kill -9 too) cannot stall the run: a command is one
  file, written to a hidden name and renamed into place, so the trainer sees it whole or not at all;
- who sent it is the file's owner, checked by the trainer (`st_uid`), and the folder is mode 0700;
- the trainer reads it at its step boundaries, the only place a command may take effect anyway
  (a `listdir` of an empty folder costs microseconds), so nothing is lost between boundaries.

The sender learns the outcome from the journal: the trainer journals each command as a
`CommandApplied` with the id `send_command` returned (refused ones too, with the reason).
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from cockpit.contract.commands import Command, CommandSyntaxError, parse_command
from cockpit.contract.errors import CockpitError
from cockpit.rundir.layout import INBOX

_sequence = itertools.count()


@dataclass(frozen=True)
class InboxItem:
    """One command file as the trainer read it; `refused` says why it must not be applied."""

    id: str
    source: str
    text: str
    command: Command | None
    refused: str = ""


def inbox_dir(run_dir: Path) -> Path:
    return Path(run_dir) / INBOX


def send_command(run_dir: Path, command: Command, source: str) -> str:
    """Drop one command into a live run's inbox; returns its id (journaled when applied)."""
    inbox = inbox_dir(run_dir)
    if not inbox.is_dir():
        raise CockpitError(f"{run_dir}: no command inbox there; is it a run directory with a live trainer?")
    # time first, so names sort in the order they were sent; pid and a counter keep them unique
    command_id = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence)}"
    payload = {"id": command_id, "command": command.text, "source": source, "sent": time.time()}
    hidden = inbox / f".{command_id}.tmp"
    try:
        with open(hidden, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(hidden, inbox / f"{command_id}.json")
    except OSError as exc:
        raise CockpitError(f"{inbox}: cannot write the command ({exc.strerror})") from None
    return command_id


class CommandInbox:
    """The trainer's side: creates the owner-only folder and takes what arrived, oldest first."""

    def __init__(self, run_dir: Path, fresh: bool = False) -> None:
        """`fresh`: the trainer is starting, so commands left for an earlier trainer of this run are void.

        The trainer opens it fresh as soon as it holds the run directory's lock, before loading data
        and model, so that a command sent while it loads waits for the first step instead of failing.
        """
        self.path = inbox_dir(run_dir)
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)  # mkdir's mode is masked by the umask, and the folder may be older
        self.owner = os.geteuid()
        for leftover in self.path.iterdir() if fresh else ():
            leftover.unlink(missing_ok=True)

    def take(self) -> list[InboxItem]:
        try:
            names = sorted(n for n in os.listdir(self.path) if n.endswith(".json") and not n.startswith("."))
        except OSError:
            return []
        return [item for item in map(self._read, names) if item is not None]

    def _read(self, name: str) -> InboxItem | None:
        path = self.path / name
        try:
            info = os.lstat(path)
            raw = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
            path.unlink()
        except OSError:
            return None  # gone already (another reader) or unreadable: nothing to apply
        fallback_id = name.removesuffix(".json")
        try:
            payload = json.loads(raw)
            command_id = str(payload.get("id", fallback_id))
            source = str(payload.get("source", "inbox"))
            text = str(payload["command"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return InboxItem(fallback_id, "inbox", name, None, refused="not a command file")
        if info.st_uid != self.owner:
            return InboxItem(command_id, source, text, None, refused=f"sent by uid {info.st_uid}, not the run's owner")
        try:
            command = parse_command(text)
        except CommandSyntaxError as exc:
            return InboxItem(command_id, source, text, None, refused=str(exc))
        return InboxItem(command_id, source, text, command)
