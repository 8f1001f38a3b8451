"""Load the cockpit's colour themes from JSON files into Textual's own `Theme` objects.

Themes are data, not code, so a user can copy one and change a colour without touching Python;
they go through `App.register_theme`, so every Textual widget (and the plots) follows them. The
built-in themes live in the checkout's top-level `themes/` and ship inside the package
(`cockpit/themes` links to it; the wheel carries the files as package data); a user's own go in
`$COCKPIT_THEMES`, else `$XDG_CONFIG_HOME/cockpit/themes`, else `~/.config/cockpit/themes`, and one
there with a built-in theme's name replaces it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from textual.theme import BUILTIN_THEMES, Theme

from cockpit.contract.errors import CockpitError

THEMES_DIR = Path(__file__).resolve().parents[1] / "themes"  # cockpit/themes, shipped with the package
DEFAULT_THEME = "cockpit-dark"
FALLBACK_THEME = "textual-dark"  # used when no cockpit theme could be loaded

_THEME_FIELDS = {f.name for f in dataclasses.fields(Theme)}


def user_themes_dir() -> Path:
    """Where a user keeps their own themes (the folder need not exist)."""
    if os.environ.get("COCKPIT_THEMES"):
        return Path(os.environ["COCKPIT_THEMES"]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "cockpit" / "themes"


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


def load_themes(*directories: Path) -> tuple[list[Theme], list[str]]:
    """Every theme in the built-in and the user's folder (or in `directories`), and one message per
    file that could not be loaded. A later folder's theme replaces an earlier one of the same name."""
    found: dict[str, Theme] = {}
    problems = []
    for directory in directories or (THEMES_DIR, user_themes_dir()):
        try:
            paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
        except OSError as exc:  # a folder this user cannot read (a shared home, seteuid)
            problems.append(f"{directory}: cannot be read ({exc.strerror or exc})")
            continue
        for path in paths:
            try:
                theme = load_theme(path)
            except ValueError as exc:
                problems.append(str(exc))
            else:
                found[theme.name] = theme
    return list(found.values()), problems


def check_theme(name: str) -> None:
    """`--theme NAME`: a CockpitError (one line, exit 2) for a name no theme has, before anything starts.

    The cockpit used to start anyway with a toast (#25); a typo in a flag is an error like any other.
    """
    if name == DEFAULT_THEME or name in BUILTIN_THEMES:
        return
    ours = [theme.name for theme in load_themes()[0]]
    if name in ours:
        return
    raise CockpitError(
        f"--theme {name}: no such theme; cockpit's: {', '.join(ours)} (yours go in {user_themes_dir()}); "
        f"Textual's: {', '.join(BUILTIN_THEMES)}"
    )
