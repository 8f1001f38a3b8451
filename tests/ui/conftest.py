"""The UI tests see one terminal, whatever terminal runs pytest: a 256-colour xterm with true colour.

The cockpit picks its marks' colours by the terminal's colour depth (`cockpit.ui.look.low_colour`) and
its glyphs by `TERM` (`TERM=linux` draws ASCII), so a test run from a CI job without `TERM`, or from
the Linux console, would draw other screens than the snapshots hold. A test that wants another
terminal sets it itself (monkeypatch), after this.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _one_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLORTERM", "truecolor")
    for name in ("NO_COLOR", "COCKPIT_ASCII", "TEXTUAL_COLOR_SYSTEM"):
        monkeypatch.delenv(name, raising=False)
    yield
