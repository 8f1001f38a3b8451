"""What a non-editable install gets: the built wheel carries the themes, and the cockpit finds them there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = {"cockpit-dark", "cockpit-light", "cockpit-high-contrast"}


def test_the_wheel_ships_the_themes_and_an_install_from_it_loads_them(tmp_path: Path) -> None:
    source = tmp_path / "src"  # build from a copy: a build writes build/ and *.egg-info beside the sources
    # as in the checkout: cockpit/themes is a link to the top-level themes/ folder
    shutil.copytree(ROOT / "cockpit", source / "cockpit", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "themes", source / "themes")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", "dist"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("cockpit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"cockpit/themes/{theme}.json" for theme in BUILT_IN} <= names
    assert "cockpit/ui/app.tcss" in names

    site = tmp_path / "site"  # what pip install puts in site-packages, without a venv or the network
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "COCKPIT_THEMES": str(tmp_path / "no-user-themes")}
    probe = (
        "import cockpit.ui.themes as t; themes, problems = t.load_themes(); "
        "print(t.THEMES_DIR); print(','.join(sorted(x.name for x in themes))); print(problems)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert found.returncode == 0, found.stderr[-2000:]
    where, themes, problems = found.stdout.splitlines()
    assert Path(where).is_relative_to(site)  # not the checkout's folder
    assert BUILT_IN <= set(themes.split(",")) and problems == "[]"


def test_a_user_theme_is_found_and_replaces_a_built_in_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cockpit.ui.themes import THEMES_DIR, load_themes

    own = {**json.loads((THEMES_DIR / "cockpit-dark.json").read_text()), "secondary": "#123456"}
    (tmp_path / "mine.json").write_text(json.dumps(own))
    (tmp_path / "broken.json").write_text("{")
    monkeypatch.setenv("COCKPIT_THEMES", str(tmp_path))
    themes, problems = load_themes()
    by_name = {t.name: t for t in themes}
    assert BUILT_IN <= set(by_name) and by_name["cockpit-dark"].secondary == "#123456"
    assert len(problems) == 1 and "broken.json" in problems[0]
