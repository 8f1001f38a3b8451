"""Bounded series: what a chart of a whole run needs, at a fixed cost whatever the run's length.

A run may last a million steps. Every series kept for the screen (and in the run's summary file)
holds at most `capacity` points, spread evenly over the whole run, so appending is O(1) amortised,
drawing looks at most a plot's width of points, and the summary stays the same size at step 1,000
and at step 1,000,000.
"""

from __future__ import annotations

import base64
import math
import sys
from array import array
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        """The whole state, exactly: numbers as little-endian binary in base64 (NaN and all, and
        about 20 times faster to write and read than JSON's decimal floats)."""
        return {
            "capacity": self.capacity,
            "stride": self.stride,
            "seen": self._seen,
            "xs": _pack(self.xs),
            "ys": _pack(self.ys),
            "last_x": _pack([] if self.last_x is None else [self.last_x]),
            "last_y": _pack([] if self.last_y is None else [self.last_y]),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        history = cls(int(data["capacity"]))
        history.stride, history._seen = int(data["stride"]), int(data["seen"])
        history.xs, history.ys = _unpack(data["xs"]), _unpack(data["ys"])
        last_x, last_y = _unpack(data["last_x"]), _unpack(data["last_y"])
        if len(history.xs) != len(history.ys) or len(last_x) != len(last_y) or len(last_x) > 1:
            raise ValueError("a history whose columns differ in length")
        if last_x:
            history.last_x, history.last_y = last_x[0], last_y[0]
        return history


def _pack(values: list[float]) -> str:
    """Integers (steps) as int64 ("q:"), anything else as float64 ("d:"), little-endian, base64."""
    code = "q" if all(type(v) is int for v in values) else "d"
    packed = array(code, values)
    if sys.byteorder != "little":
        packed.byteswap()
    return f"{code}:{base64.b64encode(packed.tobytes()).decode('ascii')}"


def _unpack(text: str) -> list[Any]:
    code, _, payload = text.partition(":")
    if code not in ("q", "d"):
        raise ValueError(f"a series packed as {code!r}")
    values = array(code)
    values.frombytes(base64.b64decode(payload, validate=True))
    if sys.byteorder != "little":
        values.byteswap()
    return values.tolist()


def spread_indices(count: int, limit: int) -> list[int]:
    """Indices of `limit` items spread evenly over `count`, first and last included."""
    if count <= limit:
        return list(range(count))
    if limit <= 1:
        return [count - 1] if limit == 1 else []
    return [round(i * (count - 1) / (limit - 1)) for i in range(limit)]
