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

Anything of the owner's uid can write into the folder, so the trainer treats what it finds there
as hostile (issue 23: a symlinked inbox made it delete and chmod files elsewhere, a FIFO swapped
in blocked it for ever, a 200 MB file went whole into the journal):
- the folder is opened with `O_NOFOLLOW | O_DIRECTORY` and every file through that descriptor, so
  a name swapped for a link between two looks can never lead outside the folder; a run directory
  whose `inbox` is a symbolic link gets its own folder instead (the link is removed; its target is
  never read, deleted or chmodded), and says so;
- a file is opened with `O_NOFOLLOW | O_NONBLOCK` and judged by `fstat` of what was opened (a
  regular file, its owner, its size), never by a path looked at before; a FIFO opens at once and is
  refused, it cannot block;
- at most `COMMAND_FILE_CAP` bytes are read; a larger file is refused unread, and the journal
  gets its name and size, never its content;
- only regular files are removed, and only the very file that was judged; a directory, a link, a
  FIFO or a socket is refused once (journaled) and left in place;
- a folder whose mode was loosened (`chmod 0777`) is put back to 0700 with a notice.
"""

from __future__ import annotations

import contextlib
import errno
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

# A command file from `send_command` is about 200 bytes; anything past this is not a command.
COMMAND_FILE_CAP = 4096
# What of a refused file's text or source reaches the journal (a command's text is far shorter).
JOURNALED_CHARS = 200
OWNER_ONLY = 0o700

_sequence = itertools.count()
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class InboxItem:
    """One command file as the trainer read it; `refused` says why it must not be applied."""

    id: str
    source: str
    text: str
    command: Command | None
    refused: str = ""


class InboxFolderError(CockpitError):
    """`run_dir/inbox` is not a folder this trainer can trust: it is not read."""


def inbox_dir(run_dir: Path) -> Path:
    return Path(run_dir) / INBOX


def _clipped(text: str) -> str:
    return text if len(text) <= JOURNALED_CHARS else text[: JOURNALED_CHARS - 1] + "…"


def _kind(mode: int) -> str:
    """A non-regular file in words, for the refusal."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device file"


def _open_folder(path: Path) -> int:
    """The inbox folder itself, never what a link in its place points to; InboxFolderError if it is not one."""
    try:
        fd = os.open(path, _OPEN_FOLDER)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():
            raise InboxFolderError(
                f"{path} is a symbolic link (to {os.readlink(path)}), not the run's folder"
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise InboxFolderError(f"{path} is not a folder") from None
        raise
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise InboxFolderError(f"{path} belongs to uid {info.st_uid}, not to the run's owner (uid {os.geteuid()})")
    return fd


def send_command(run_dir: Path, command: Command, source: str) -> str:
    """Drop one command into a live run's inbox; returns its id (journaled when applied)."""
    inbox = inbox_dir(run_dir)
    try:
        folder = _open_folder(inbox)
    except FileNotFoundError:
        raise CockpitError(f"{run_dir}: no command inbox there; is it a run directory with a live trainer?") from None
    except InboxFolderError as exc:
        raise CockpitError(f"{exc}: not sending through it (the trainer replaces a link at its next step)") from None
    except OSError as exc:
        raise CockpitError(f"{inbox}: cannot open the command inbox ({exc.strerror})") from None
    # time first, so names sort in the order they were sent; pid and a counter keep them unique
    command_id = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence)}"
    payload = json.dumps({"id": command_id, "command": command.text, "source": source, "sent": time.time()})
    hidden = f".{command_id}.tmp"
    try:
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
        try:
            os.write(fd, payload.encode())
        finally:
            os.close(fd)
        os.rename(hidden, f"{command_id}.json", src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        raise CockpitError(f"{inbox}: cannot write the command ({exc.strerror})") from None
    finally:
        os.close(folder)
    return command_id


class CommandInbox:
    """The trainer's side: the owner-only folder, and what arrived in it, oldest first.

    `take()` returns the command files; what it had to do to the folder itself (put its mode back,
    replace a link) waits in `notices` for the trainer to journal (`drain_notices`).
    """

    def __init__(self, run_dir: Path, fresh: bool = False) -> None:
        """`fresh`: the trainer is starting, so commands left for an earlier trainer of this run are void.

        The trainer opens it fresh as soon as it holds the run directory's lock, before loading data
        and model, so that a command sent while it loads waits for the first step instead of failing.
        A folder that cannot be trusted is left as it is here: the first `take()` deals with it and
        says so in the journal.
        """
        self.path = inbox_dir(run_dir)
        self.owner = os.geteuid()
        self.notices: list[str] = []
        # Entries refused and left in place, by name: journaled once, again only if replaced.
        self._refused: dict[str, tuple[int, int]] = {}
        self._folder_said = ""  # the folder's problem last said, so that it is said once
        try:
            folder = _open_folder(self.path) if self.path.exists() or self.path.is_symlink() else self._make()
        except (InboxFolderError, OSError):
            return
        try:
            for name in os.listdir(folder) if fresh else ():
                with contextlib.suppress(FileNotFoundError):
                    self._remove_if_regular(folder, name)
        finally:
            os.close(folder)

    def drain_notices(self) -> list[str]:
        said, self.notices = self.notices, []
        return said

    def take(self) -> list[InboxItem]:
        folder = self._folder()
        if folder is None:
            return []
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
            self._refused = {n: key for n, key in self._refused.items() if n in names}
            return [item for item in (self._read(folder, name) for name in names) if item is not None]
        except OSError:
            return []
        finally:
            os.close(folder)

    # ------------------------------------------------------------------ the folder

    def _make(self) -> int:
        """A new owner-only folder, opened."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(self.path, OWNER_ONLY)
        fd = os.open(self.path, _OPEN_FOLDER)
        os.fchmod(fd, OWNER_ONLY)  # mkdir's mode is masked by the umask
        return fd

    def _folder(self) -> int | None:
        """The inbox folder's descriptor, made or put right where needed; None (and a notice) if untrustworthy."""
        try:
            try:
                fd = _open_folder(self.path)
            except FileNotFoundError:
                fd = self._make()
            except InboxFolderError:
                if not self.path.is_symlink():
                    raise
                target = os.readlink(self.path)
                os.unlink(self.path)  # the link only: unlink never follows it
                fd = self._make()
                self.notices.append(
                    f"{self.path} was a symbolic link (to {target}): replaced by the run's own folder; "
                    "nothing it pointed to was read, deleted or changed"
                )
        except (InboxFolderError, OSError) as exc:
            why = str(exc) if isinstance(exc, InboxFolderError) else f"{self.path}: {exc.strerror or exc}"
            if why != self._folder_said:
                self._folder_said = why
                self.notices.append(f"{why}: commands are not read until it is the run's own folder again")
            return None
        self._folder_said = ""
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode != OWNER_ONLY:
            os.fchmod(fd, OWNER_ONLY)
            self.notices.append(
                f"{self.path} was mode {mode:04o} (others could drop or read commands): put back to {OWNER_ONLY:04o}"
            )
        return fd

    # ------------------------------------------------------------------ the files

    def _read(self, folder: int, name: str) -> InboxItem | None:
        fallback_id = _clipped(name.removesuffix(".json"))
        try:
            fd = os.open(name, _OPEN_FILE, dir_fd=folder)
        except FileNotFoundError:
            return None  # gone already
        except OSError as exc:
            try:
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except OSError:
                return None
            why = _kind(info.st_mode) if exc.errno == errno.ELOOP else f"cannot be opened ({exc.strerror})"
            return self._refuse_once(name, info, f"{why}, not a command file (left in place)")
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return self._refuse_once(name, info, f"{_kind(info.st_mode)}, not a command file (left in place)")
            raw = os.read(fd, COMMAND_FILE_CAP + 1) if info.st_size <= COMMAND_FILE_CAP else b""
        except OSError:  # an I/O error: left as it is, for the next look
            return None
        finally:
            os.close(fd)
        try:
            if not self._remove_if_regular(folder, name, info):
                return self._refuse_once(name, info, "cannot be removed from the inbox, so it is not applied")
        except FileNotFoundError:
            return None  # taken away meanwhile: applied at most once
        if info.st_size > COMMAND_FILE_CAP or len(raw) > COMMAND_FILE_CAP:
            size = max(info.st_size, len(raw))
            return InboxItem(fallback_id, "inbox", name, None, refused=f"{size} bytes, not a command file (not read)")
        try:
            payload = json.loads(raw)
            command_id = _clipped(str(payload.get("id", fallback_id)))
            source = _clipped(str(payload.get("source", "inbox")))
            text = str(payload["command"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return InboxItem(fallback_id, "inbox", name, None, refused="not a command file")
        if info.st_uid != self.owner:
            return InboxItem(
                command_id, source, _clipped(text), None, refused=f"sent by uid {info.st_uid}, not the run's owner"
            )
        try:
            command = parse_command(text)
        except CommandSyntaxError as exc:
            return InboxItem(command_id, source, _clipped(text), None, refused=_clipped(str(exc)))
        return InboxItem(command_id, source, text, command)

    def _refuse_once(self, name: str, info: os.stat_result, why: str) -> InboxItem | None:
        key = (info.st_dev, info.st_ino)
        if self._refused.get(name) == key:
            return None
        self._refused[name] = key
        return InboxItem(_clipped(name.removesuffix(".json")), "inbox", name, None, refused=why)

    @staticmethod
    def _remove_if_regular(folder: int, name: str, judged: os.stat_result | None = None) -> bool:
        """Remove `name` if it is a regular file (and the very one judged, if given); True if removed.

        FileNotFoundError when it is already gone."""
        now = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if not stat.S_ISREG(now.st_mode):
            return False
        if judged is not None and (now.st_dev, now.st_ino) != (judged.st_dev, judged.st_ino):
            return False
        try:
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            raise
        except OSError:
            return False
        return True
