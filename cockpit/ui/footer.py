"""Textual's footer, with the keys people look for first at its left: a narrow terminal cuts a
footer at its right end, and at 80x24 it cut off `? Help` and `q Quit` (#25)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

FIRST_KEYS = ("question_mark", "q")


class CockpitFooter(Footer):
    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        first = [w for key in FIRST_KEYS for w in keys if getattr(w, "key", None) == key]
        yield from first + [w for w in keys if w not in first]
