"""Bounded histories, the small text renderings (sparklines, numbers) and the redraw helper the panels share.

A run may last 100,000 steps while the UI shares the GIL with training, so every series the UI
keeps is bounded: appending is O(1) amortised, and drawing looks at most a plot's width of points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from cockpit.ui.look import MARKS


class History:
    """A series of (x, y) points that never holds more than `capacity` of them.

    Every point is kept until the capacity is reached; then every other point is dropped and from
    then on only every 2nd (later 4th, 8th, ...) new point is kept. The kept points stay evenly
    spread over the whole run, which is what a chart of the whole run needs, at a fixed cost.
    """

    __slots__ = ("capacity", "xs", "ys", "stride", "_seen", "last_x", "last_y")

    def __init__(self, capacity: int = 2048) -> None:
        if capacity < 2:
            raise ValueError("a history needs room for at least two points")
        self.capacity = capacity
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.stride = 1
        self._seen = 0
        self.last_x: float | None = None
        self.last_y: float | None = None

    def __len__(self) -> int:
        return len(self.xs)

    def append(self, x: float, y: float) -> None:
        """Add a point; the newest one is always remembered in `last_x`/`last_y`."""
        self.last_x, self.last_y = x, y
        seen, self._seen = self._seen, self._seen + 1
        if seen % self.stride:
            return
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) >= self.capacity:
            del self.xs[1::2]
            del self.ys[1::2]
            self.stride *= 2

    def drop_after(self, x: float) -> None:
        """Forget the points after `x` (a resumed run takes those steps again).

        Exact while no point was thinned out yet (the history then equals one fed only the points up
        to `x`); after thinning, what is kept is the same up to which of 2**k points survive.
        """
        kept = sum(1 for value in self.xs if value <= x)
        if kept == len(self.xs) and (self.last_x is None or self.last_x <= x):
            return
        del self.xs[kept:], self.ys[kept:]
        self._seen = kept * self.stride
        self.last_x, self.last_y = (self.xs[-1], self.ys[-1]) if self.xs else (None, None)

    def points(self, limit: int) -> tuple[list[float], list[float]]:
        """At most `limit` finite points spread evenly over the series, the newest included."""
        xs, ys = list(self.xs), list(self.ys)
        if self.last_x is not None and (not xs or xs[-1] != self.last_x):
            xs.append(self.last_x)
            ys.append(self.last_y)  # type: ignore[arg-type]
        pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        pairs = [pairs[i] for i in spread_indices(len(pairs), limit)]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def values(self, limit: int) -> list[float]:
        return self.points(limit)[1]


def spread_indices(count: int, limit: int) -> list[int]:
    """Indices of `limit` items spread evenly over `count`, first and last included."""
    if count <= limit:
        return list(range(count))
    if limit <= 1:
        return [count - 1] if limit == 1 else []
    return [round(i * (count - 1) / (limit - 1)) for i in range(limit)]


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
