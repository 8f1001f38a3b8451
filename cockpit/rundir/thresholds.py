"""Per-label decision thresholds kept beside the saved model, where a user of the model finds them.

`pipeline("text-classification", ...)` ignores anything cockpit-specific in `config.json`, so the
thresholds go in their own file, `model/thresholds.json`, with the evaluation they came from and
how to apply them to `pipeline(..., top_k=None)` output (README shows the same lines).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cockpit.rundir.layout import THRESHOLDS_NAME

USAGE = (
    "scores = pipeline('text-classification', model=MODEL_DIR, top_k=None)(text); "
    "labels = [s['label'] for s in scores if s['score'] >= thresholds.get(s['label'], 0.5)]"
)


def _document(best: dict[str, dict[str, float]], eval_step: int, eval_rows: int) -> dict[str, Any]:
    """What thresholds.json holds: label -> threshold, and where they came from."""
    return {
        "thresholds": {label: float(entry["threshold"]) for label, entry in best.items()},
        "source": {
            "eval_step": eval_step,
            "eval_rows": eval_rows,
            "f1_at_threshold": {label: float(entry.get("f1", 0.0)) for label, entry in best.items()},
            "f1_at_0.5": {label: float(entry.get("f1_at_half", 0.0)) for label, entry in best.items()},
        },
        "usage": USAGE,
    }


def _write(model_dir: Path | str, document: dict[str, Any]) -> Path:
    """Write `model_dir/thresholds.json` atomically (a reader never sees half a file)."""
    target = Path(model_dir) / THRESHOLDS_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".thresholds-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def save_thresholds(model_dir: Path | str, best: dict[str, dict[str, float]], eval_step: int, eval_rows: int) -> Path:
    """The one way thresholds are kept (the trainer at a model save, the cockpit after a run ended):
    `model_dir/thresholds.json` with the evaluation they came from."""
    return _write(model_dir, _document(best, eval_step, eval_rows))


def load_thresholds(model_dir: Path | str) -> dict[str, float]:
    """label -> threshold from `model_dir/thresholds.json`."""
    data = json.loads((Path(model_dir) / THRESHOLDS_NAME).read_text(encoding="utf-8"))
    return {str(label): float(value) for label, value in data["thresholds"].items()}


def apply_thresholds(scores: list[dict[str, Any]], thresholds: dict[str, float]) -> list[str]:
    """The labels of one text, from `pipeline(..., top_k=None)` scores and per-label thresholds."""
    return [s["label"] for s in scores if s["score"] >= thresholds.get(s["label"], 0.5)]
