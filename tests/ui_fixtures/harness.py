"""What the UI tests share: a recording RunControl, the fixture's events, and readers of panels.

Imported as `ui_fixtures.harness` (pytest puts tests/ on sys.path, as for conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from cockpit.contract.commands import Command, Stop
from cockpit.contract.control import RunControl
from cockpit.contract.events import Event, RunEnded
from cockpit.rundir.journal import read_journal
from cockpit.ui.app import CockpitApp

FIXTURE = Path(__file__).parent / "journal.jsonl"


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in its own event loop (no pytest-asyncio needed)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class FakeControl:
    """A RunControl that records commands; Stop ends the 'run' as the engine would."""

    def __init__(
        self,
        events: queue.SimpleQueue[Event] | None = None,
        *,
        obey_stop: bool = True,
        fail: Exception | None = None,
    ) -> None:
        self.events = events
        self.obey_stop = obey_stop
        self.fail = fail
        self.commands: list[Command] = []
        self.sources: list[str] = []
        self._ended = threading.Event()

    def submit(self, command: Command, source: str = "ui") -> None:
        self.commands.append(command)
        self.sources.append(source)
        if isinstance(command, Stop) and self.obey_stop:
            if self.events is not None:
                self.events.put(RunEnded(step=59, reason="stopped", checkpoint="runs/x/checkpoints/step-59"))
            self._ended.set()

    def run(self) -> None:
        if self.fail is not None:
            raise self.fail
        self._ended.wait(timeout=30)

    def close(self) -> None:
        """Let the app's worker thread end, so the event loop can shut down."""
        self._ended.set()


def fixture_events() -> list[Event]:
    """The fixture run, finished."""
    return read_journal(FIXTURE)


def live_events() -> list[Event]:
    """The fixture run as if still training: everything before its last checkpoint and end."""
    events = fixture_events()
    return events[:-2]


def make_app(events: list[Event], control: RunControl | None, **kwargs: Any) -> CockpitApp:
    feed: queue.SimpleQueue[Event] = queue.SimpleQueue()
    for event in events:
        feed.put(event)
    if isinstance(control, FakeControl):
        control.events = feed
    return CockpitApp(feed, control, **kwargs)


@contextlib.asynccontextmanager
async def running_app(
    events: list[Event], control: RunControl | None = None, size: tuple[int, int] = (160, 48), **kwargs: Any
) -> AsyncIterator[tuple[CockpitApp, Pilot]]:
    """The app on these events, caught up; a FakeControl's run() is released at the end."""
    app = make_app(events, control, **kwargs)
    try:
        async with app.run_test(size=size) as pilot:
            app.catch_up()
            await pilot.pause()
            yield app, pilot
    finally:
        if isinstance(control, FakeControl):
            control.close()


def plain(static: Static) -> str:
    """The text a Static shows, whether it holds Content or a Rich renderable."""
    content = static.content
    if isinstance(content, Content):
        return content.plain
    if isinstance(content, str):
        return content
    console = Console(width=140, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()


def cell_text(table: DataTable, row: str, column: str) -> str:
    value = table.get_cell(row, column)
    return getattr(value, "plain", str(value))


def notifications(app: CockpitApp) -> list[str]:
    return [n.message for n in app._notifications]
