"""Load the cockpit's colour themes from `themes/*.json` into Textual's own `Theme` objects.

Themes are data, not code, so a user can copy one and change a colour without touching Python;
they go through `App.register_theme`, so every Textual widget (and the plots) follows them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from textual.theme import Theme

THEMES_DIR = Path(__file__).resolve().parents[2] / "themes"
DEFAULT_THEME = "cockpit-dark"
FALLBACK_THEME = "textual-dark"  # used when the themes folder is missing (e.g. an odd install)

_THEME_FIELDS = {f.name for f in dataclasses.fields(Theme)}


def load_theme(path: Path) -> Theme:
    """One theme file -> Theme; raises ValueError naming the file and what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read theme: {exc}") from exc
    if not isinstance(data, dict) or "name" not in data or "primary" not in data:
        raise ValueError(f'{path}: a theme needs at least "name" and "primary"')
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        raise ValueError(f"{path}: unknown theme fields {', '.join(unknown)}")
    return Theme(**data)


def load_themes(directory: Path = THEMES_DIR) -> tuple[list[Theme], list[str]]:
    """Every theme in `directory`, and one message per file that could not be loaded."""
    themes, problems = [], []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            themes.append(load_theme(path))
        except ValueError as exc:
            problems.append(str(exc))
    return themes, problems
