"""The run directory's lock and command inbox: what detach/attach, `send` and every trainer rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.contract.commands import Freeze, Pause, SetLearningRate
from cockpit.contract.errors import CockpitError
from cockpit.rundir.inbox import CommandInbox, send_command
from cockpit.rundir.lock import RunLock, live_pid


def test_lock_names_the_live_holder_and_frees_on_release(tmp_path: Path) -> None:
    assert live_pid(tmp_path) is None
    with RunLock(tmp_path):
        assert live_pid(tmp_path) == os.getpid()
        with pytest.raises(CockpitError, match=f"in use by a running trainer \\(pid {os.getpid()}\\)"):
            RunLock(tmp_path).acquire()
    assert live_pid(tmp_path) is None
    RunLock(tmp_path).acquire().release()  # free again


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    """kill -9 leaves trainer.lock behind, but the kernel lock is gone: nothing is blocked."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from cockpit.rundir.lock import RunLock; RunLock({str(tmp_path)!r}).acquire(); "
         "print('held', flush=True); import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert live_pid(tmp_path) == holder.pid
    holder.kill()
    holder.wait()
    assert (tmp_path / "trainer.lock").exists()
    assert live_pid(tmp_path) is None
    RunLock(tmp_path).acquire().release()


def test_inbox_delivers_in_order_and_is_owner_only(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path, fresh=True)
    assert (tmp_path / "inbox").stat().st_mode & 0o777 == 0o700
    first = send_command(tmp_path, Freeze(("layer.0",)), "attach pid 1")
    second = send_command(tmp_path, SetLearningRate(1e-5), "send")
    items = inbox.take()
    assert [(i.id, i.command, i.source, i.refused) for i in items] == [
        (first, Freeze(("layer.0",)), "attach pid 1", ""),
        (second, SetLearningRate(1e-5), "send", ""),
    ]
    assert inbox.take() == []  # taken once


def test_inbox_refuses_foreign_and_malformed_files(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    command_id = send_command(tmp_path, Pause(), "send")
    os.chown(tmp_path / "inbox" / f"{command_id}.json", 12345, -1)  # as if another user wrote it
    (tmp_path / "inbox" / "zz-bad.json").write_text(json.dumps({"id": "x", "command": "explode=now"}))
    (tmp_path / "inbox" / "zz-torn.json").write_text("{not json")
    items = inbox.take()
    assert [i.command for i in items] == [None, None, None]
    assert "uid 12345" in items[0].refused and items[0].id == command_id
    assert all(i.refused for i in items)


def test_sending_to_a_folder_without_inbox_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CockpitError, match="no command inbox"):
        send_command(tmp_path, Pause(), "send")
