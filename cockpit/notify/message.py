"""What a notification says: one line for a phone's lock screen, and the event as JSON for a script.

A receiver gets the event and nothing else (no config, no paths but the run directory the event
belongs to). Webhooks that want their own shape get it, chosen by the URL's host:
- Slack (`hooks.slack.com`): `{"text": LINE}`;
- Discord (`discord.com/api/webhooks/...`): `{"content": LINE}`;
- ntfy (a host with `ntfy` in its name, e.g. `https://ntfy.sh/my-topic`): the line as the message
  body, the run as its title;
- any other URL, and a command's stdin: the generic document `{"text": LINE, "content": LINE,
  "kind": ..., "run": ..., "event": {...}}`, which Slack- and Discord-compatible receivers
  (Mattermost, Rocket.Chat, most chat bridges) also read.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

from cockpit.contract.events import Alarm, EvalResult, Event, RunEnded, headline_text

DISCORD_LIMIT = 2000  # characters in a Discord message


def kind_of(event: Event) -> str | None:
    """Which kind of notification `event` is, or None when it is not one."""
    if isinstance(event, Alarm):
        return "alarm" if event.active else None
    if isinstance(event, RunEnded):
        return "end"
    if isinstance(event, EvalResult):
        return "eval"
    return None


def summary(event: Event, run: str, last_eval: EvalResult | None = None) -> str:
    """One line: which run, what happened, at which step."""
    where = f"cockpit {run}" if run else "cockpit"
    if isinstance(event, Alarm):
        return f"{where}: ALARM {event.kind} at step {event.step}: {event.message}"
    if isinstance(event, RunEnded):
        said = f"{where}: run {event.reason} at step {event.step}"
        if last_eval is not None and headline_text(last_eval.metrics):
            said += f" (eval at step {last_eval.step}: {headline_text(last_eval.metrics)})"
        return said + (f": {event.message}" if event.message else "")
    if isinstance(event, EvalResult):
        metric = headline_text(event.metrics)
        return f"{where}: eval at step {event.step}: loss {event.loss:.4f}" + (f", {metric}" if metric else "")
    return f"{where}: {event.type} at step {event.step}"


def plain(value: Any) -> Any:
    """JSON has no NaN/inf, and receivers reject them: a non-finite number is sent as its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def document(event: Event, run: str, line: str) -> dict[str, Any]:
    """The generic payload: what a command reads on stdin and a generic webhook receives."""
    return {"text": line, "content": line, "kind": kind_of(event), "run": run, "event": plain(event.to_dict())}


def request_body(url: str, event: Event, run: str, line: str) -> tuple[bytes, dict[str, str]]:
    """The POST body and headers for `url`, in the shape its host expects (see the module docstring)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "hooks.slack.com":
        return _json({"text": line})
    if host in ("discord.com", "discordapp.com") and parts.path.startswith("/api/webhooks"):
        return _json({"content": line[:DISCORD_LIMIT]})
    if "ntfy" in host:
        title = f"cockpit {run}" if run else "cockpit"
        tags = "warning" if kind_of(event) == "alarm" else "white_check_mark"
        return line.encode(), {"Content-Type": "text/plain; charset=utf-8", "Title": title, "Tags": tags}
    return _json(document(event, run, line))


def _json(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return json.dumps(payload, allow_nan=False).encode(), {"Content-Type": "application/json"}
