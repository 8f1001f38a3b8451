"""Sending one notification: POST to a URL, or run a command, each bounded by a timeout.

Both run in the notifier's worker thread, never in the training loop. A failure is a
`DeliveryError` whose message is one line naming the target (its URL shown without the path,
which is a webhook's secret) and what went wrong.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.error
import urllib.request

from cockpit import __version__
from cockpit.contract.commands import redact_target

TAIL_CHARS = 200  # of a failing command's stderr, in the failure's message


class DeliveryError(RuntimeError):
    """A notification did not reach its target."""


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    """POST `body`; any answer but 2xx is a failure. `timeout_s` bounds the connection and each read."""
    safe = {k: v.encode("ascii", "replace").decode() for k, v in headers.items()}  # headers are latin-1
    request = urllib.request.Request(url, data=body, method="POST", headers={"User-Agent": f"cockpit/{__version__}"})
    for name, value in safe.items():
        request.add_header(name, value)
    shown = redact_target(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read(4096)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"POST {shown}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"POST {shown}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # a timeout mid-read, a reset connection, a malformed answer
        raise DeliveryError(f"POST {shown}: {exc or type(exc).__name__}") from None


def run_command(command: str, stdin: bytes, env: dict[str, str], timeout_s: float) -> None:
    """Run `command` through /bin/sh with `stdin`; a non-zero exit or a timeout is a failure.

    It runs in its own session, so that on a timeout the whole group (the shell and what it
    started) is killed, and a Ctrl-C meant for the trainer never reaches it.
    """
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
            start_new_session=True,
        )
    except OSError as exc:
        raise DeliveryError(f"command {command!r}: cannot start ({exc.strerror or exc})") from None
    try:
        _, err = process.communicate(stdin, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.communicate()
        raise DeliveryError(f"command {command!r}: still running after {timeout_s:g} s; killed") from None
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
        said = f": {tail[0][:TAIL_CHARS]}" if tail else ""
        raise DeliveryError(f"command {command!r}: exit status {process.returncode}{said}")
