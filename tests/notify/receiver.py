"""A real HTTP server on 127.0.0.1 (never any other address) that records what it was sent.

Imported as `notify.receiver` (pytest puts tests/ on sys.path, as for conftest.py); benchmarks/notify_cost.py
uses it too.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    at: float  # time.time() when the body was read
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the server answers (`status`), whether it holds each request until `release` is set,
    and what it got."""

    status: int = 200
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)  # set while a request is held
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@contextlib.contextmanager
def receiver(status: int = 200, hold: bool = False) -> Iterator[Receiver]:
    state = Receiver(status=status, hold=hold)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(time.time(), self.path, dict(self.headers), body))
            if state.hold:
                state.holding.set()
                state.release.wait(30)
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook/secret-token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
