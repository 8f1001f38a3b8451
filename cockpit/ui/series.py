"""The small text renderings (sparklines, numbers) and the redraw helper the panels share.

The series they draw are bounded (`cockpit.rundir.series.History`): drawing looks at most a plot's
width of points, whatever the run's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from cockpit.rundir.series import spread_indices
from cockpit.ui.look import MARKS


def sparkline(values: Sequence[float], width: int, low: float | None = None, high: float | None = None) -> str:
    """A one-line block chart of `values` squeezed (by taking evenly spaced points) into `width`.

    `low`/`high` fix the scale (probabilities use 0..1, so a flat 0.3 looks like 0.3); without
    them the series' own range is used. Non-finite values show as a space.
    """
    picked = [values[i] for i in spread_indices(len(values), width)]
    blocks = MARKS.spark
    finite = [v for v in picked if math.isfinite(v)]
    if not finite:
        return " " * len(picked)
    lo = min(finite) if low is None else low
    hi = max(finite) if high is None else high
    span = hi - lo
    top = len(blocks) - 1
    chars = []
    for value in picked:
        if not math.isfinite(value):
            chars.append(" ")
            continue
        level = 0 if span <= 0 else round((min(max(value, lo), hi) - lo) / span * top)
        chars.append(blocks[level])
    return "".join(chars)


def bar(value: float, maximum: float, width: int) -> str:
    """A horizontal bar in eighths of a cell, for distributions and the progress bar."""
    if maximum <= 0 or width <= 0 or not math.isfinite(value):
        return ""
    eighths = round(max(0.0, min(value / maximum, 1.0)) * width * 8)
    full, part = divmod(eighths, 8)
    return (MARKS.bar_full * full + (MARKS.bar_parts[part] if part else "")).rstrip()


def fmt_number(value: float | None, digits: int = 4) -> str:
    """A loss-like number: fixed decimals, or scientific when tiny or huge; `-` when unknown."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 10 ** -(digits - 1) or abs(value) >= 10**5):
        return f"{value:.{max(digits - 2, 1)}e}"
    return f"{value:.{digits}f}"


def fmt_sci(value: float | None) -> str:
    """Learning rates and relative updates: always scientific, so 1e-4 and 1e-6 line up."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.1e}"


def fmt_count(count: int) -> str:
    """Parameter counts as people say them: 590k, 23.8M, 1.3B."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= limit:
            scaled = count / limit
            return f"{scaled:.1f}{suffix}" if scaled < 100 else f"{scaled:.0f}{suffix}"
    return str(count)


def fmt_duration(seconds: float | None) -> str:
    """An ETA: 45s, 3m05s, 1h02m; `-` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    return flat[: max(width - len(MARKS.ellipsis), 0)] + MARKS.ellipsis


def update_static(widget: Static, content: Content) -> None:
    """Replace a Static's content; lay the screen out again only if its height changes.

    `Static.update` re-lays out the whole screen by default, ~70 ms of the GIL at 160x48; panels
    updated every step (pinned predictions) keep their height, so they need only a repaint.
    """
    width = widget.content_region.width
    same_height = width > 0 and content.get_height(widget.styles, width) == widget.content_region.height
    widget.update(content, layout=not same_height)
