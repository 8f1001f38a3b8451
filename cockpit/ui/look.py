"""How the cockpit marks meaning so that it survives without colour and without Unicode.

Issue #25 read the cockpit under `TERM=xterm` (16 colours), `NO_COLOR=1` and `TERM=linux`: `✖ ERROR`,
`✗`, `✓`, `● train` and `❄ frozen` all came out in the same colour 37 (the theme's pale text colours
round to white), and the Linux console has no braille, snowflake or eighth blocks. So every mark here
differs by its glyph *and* its weight (an error is bold and reversed, a warning bold, a frozen layer
dim and italic), colour comes on top; and every glyph has an ASCII twin, used under `TERM=linux`,
`COCKPIT_ASCII=1` or `--ascii`.

`MARKS` is the one set in use (one terminal per process); `use_ascii` swaps its glyphs in place, so a
module that imported `MARKS` sees the change.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Marks:
    """Every glyph the cockpit draws, Unicode by default."""

    running: str = "▶"
    paused: str = "⏸"
    finished: str = "✔"
    stopped: str = "■"
    failed: str = "✖"
    waiting: str = "…"
    warning: str = "⚠"
    error: str = "✖"
    info: str = "ℹ"
    cleared: str = "✓"
    command: str = "⌘"
    checkpoint: str = "◆"
    state: str = "⏵"
    right: str = "✓"
    wrong: str = "✗"
    train: str = "●"
    frozen: str = "❄"
    pinned: str = "●"
    pending: str = "…"
    up: str = "↑"
    down: str = "↓"
    arrow: str = "→"
    ellipsis: str = "…"
    spark: str = "▁▂▃▄▅▆▇█"
    bar_full: str = "█"
    bar_parts: str = " ▏▎▍▌▋▊▉"  # eighths of a cell; index 0 is unused
    bar_empty: str = "░"
    raw_marker: str = "·"
    smooth_marker: str = "braille"  # plotext's braille dots: two per cell across, four down
    smooth_legend: str = "⢕"  # how the legend shows that line
    rule: str = "─"  # a horizontal line (the constant predictor's)
    dot: str = "·"  # between the parts of a chip ("multilabel · 15 labels")
    plot_frame: bool = True  # plotext's frame and tick marks are box drawing
    spinner: str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    pinned_marker: str = "+"
    eval_marker: str = "◆"
    border: str = "round"  # the panels' border (Textual border type)


UNICODE = Marks()
ASCII = Marks(
    running=">",
    paused="||",
    finished="ok",
    stopped="#",
    failed="X",
    waiting="...",
    warning="!",
    error="X",
    info="i",
    cleared="v",
    command="$",
    checkpoint="*",
    state=">",
    right="v",
    wrong="x",
    train="o",
    frozen="*",
    pinned="*",
    pending="~",
    up="+",
    down="-",
    arrow="->",
    ellipsis="~",
    spark=" .:-=+*#",
    bar_full="#",
    bar_parts="         ",  # no partial cells: a bar is whole cells of #
    bar_empty=".",
    raw_marker=".",
    smooth_marker="*",
    smooth_legend="*",
    rule="-",
    dot="-",
    plot_frame=False,
    spinner="|/-\\",
    pinned_marker="+",
    eval_marker="o",
    border="ascii",
)
MARKS = Marks()


def use_ascii(on: bool) -> None:
    """Swap the glyphs of `MARKS` in place (every module holding it sees the new ones)."""
    for field in dataclasses.fields(Marks):
        setattr(MARKS, field.name, getattr(ASCII if on else UNICODE, field.name))


def in_marks(text: str) -> str:
    """`text` written with Unicode marks (the help's tables), in the marks in use."""
    if MARKS == UNICODE:
        return text
    table: dict[str, str] = {}
    for field in dataclasses.fields(Marks):
        wide, narrow = getattr(UNICODE, field.name), getattr(MARKS, field.name)
        if field.name == "spark":
            table.update({a: b for a, b in zip(wide, narrow) if a not in table})
        elif len(wide) == 1 and wide not in table:
            table[wide] = narrow
    return "".join(table.get(char, char) for char in text)


def wants_ascii(flag: bool | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """`--ascii` (True) or its absence (None: decide from the terminal). `COCKPIT_ASCII=1` asks for it;
    the Linux console (`TERM=linux`) gets it, its font has no braille, snowflake or eighth blocks."""
    if flag is not None:
        return flag
    env = os.environ if environ is None else environ
    if env.get("COCKPIT_ASCII"):
        return env["COCKPIT_ASCII"] not in ("0", "")
    return env.get("TERM", "") == "linux"


# What each meaning looks like besides its colour: it must read under NO_COLOR and in 16 colours.
WEIGHT = {
    "error": "bold reverse",
    "warning": "bold",
    "success": "",
    "info": "italic",
    "muted": "dim",
}


def low_colour(app: Any) -> bool:
    """NO_COLOR, or a terminal with 16 colours (`TERM=xterm`, `linux`), where the theme's text colours
    round to the same grey: there the base colours (red, green, yellow) carry the meaning better."""
    system = getattr(getattr(app, "console", None), "color_system", None)
    return bool(getattr(app, "no_color", False)) or system in ("standard", "windows", None)


def tone(app: Any, meaning: str) -> str:
    """A Rich style for text that means `meaning` ("error", "warning", "success", "info", "muted"): its
    weight, and the theme colour that stays apart from the others at this terminal's colour depth."""
    variables = app.theme_variables
    if meaning == "muted":
        colour = variables.get("text-muted", "")
    elif low_colour(app):
        colour = variables.get(meaning if meaning != "info" else "secondary", "")
    else:
        colour = variables.get(f"text-{meaning}" if meaning != "info" else "text-secondary", "")
    return f"{WEIGHT.get(meaning, '')} {colour}".strip()


def content_tone(app: Any, meaning: str) -> str:
    """`tone` for Textual Content markup, whose colours are theme variables (`$text-error`)."""
    if meaning == "muted":
        colour = "$text-muted"
    elif low_colour(app):
        colour = f"${'secondary' if meaning == 'info' else meaning}"
    else:
        colour = f"$text-{'secondary' if meaning == 'info' else meaning}"
    return f"{WEIGHT.get(meaning, '')} {colour}".strip()
