"""The command line a git or kubectl user expects (issue #25): `--version`, a grouped `train --help`
with every default and examples, and a flag typo as one line with exit status 2, `--theme` included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cockpit import __version__
from cockpit.cli.main import build_parser


def cockpit(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *map(str, argv)], capture_output=True, text=True, timeout=120
    )


def test_version_is_one_line() -> None:
    done = cockpit("--version")
    assert done.returncode == 0 and done.stdout == f"cockpit {__version__}\n"


def test_train_help_is_grouped_with_every_default_and_examples() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()  # type: ignore[union-attr]
    for group in ("what to train:", "evaluation:", "optimisation:", "how it runs:", "examples:"):
        assert group in text, group
    flat = " ".join(text.split())
    for flag, default in (
        ("--epochs", "3.0"), ("--seed", "42"), ("--weight-decay", "0.01"), ("--warmup-ratio", "0.1"),
        ("--keep-checkpoints", "3"), ("--theme", "cockpit-dark"),
    ):  # fmt: skip
        assert flag in flat and f"(default: {default})" in flat[flat.index(flag) :], flag
    assert ".arrow or .feather" in flat and "--ascii" in flat
    assert text.index("usage:") == 0 and text.index("what to train:") < 400  # no 20-line usage block first


@pytest.mark.parametrize("command", ["train", "attach", "replay"])
def test_an_unknown_theme_is_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    """#25: `--theme nope` started the cockpit anyway, with a toast."""
    target = [str(tmp_path / "data.csv")] if command == "train" else [str(tmp_path)]
    done = cockpit(command, *target, "--theme", "nope", *(["--headless"] if command == "train" else []))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("cockpit: error: --theme nope: no such theme; cockpit's: cockpit-dark")
    assert "ansi-dark" in line and "Traceback" not in done.stderr
