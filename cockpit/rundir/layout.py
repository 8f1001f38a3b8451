"""Every file and folder of a run directory, named once.

A run directory belongs to one run (`--out`, default `runs/<time>-<data name>`). Its trainer
writes everything in it; clients (`cockpit attach`, `replay`, `runs`, `send`) read the journal, its
summary and the lock, and write only into the inbox (and a replay writes the summary of a run that
no trainer holds and that had none).
"""

from __future__ import annotations

from pathlib import Path

JOURNAL_NAME = "journal.jsonl"  # one JSON event per line: the run's source of truth
SUMMARY_SUFFIX = ".summary.jsonl"  # journal.jsonl -> journal.summary.jsonl beside it: the run folded so far
CONFIG_NAME = "config.json"  # the RunConfig (cockpit train) or the Trainer's settings (CockpitCallback)
FINGERPRINT_NAME = "fingerprint.json"  # what --resume checks the data against
EVAL_ROWS_NAME = "eval_rows.json"  # the eval split as file row numbers
TRAINER_LOG = "trainer.log"  # a detached trainer's stdout and stderr
CRASH_LOG = "cockpit-crash.log"  # the traceback of a cockpit (the UI, not the trainer) that crashed
LOCK_NAME = "trainer.lock"  # flock'd by the live trainer for its whole life
INBOX = "inbox"  # commands from other processes, one small JSON file each
CHECKPOINTS = "checkpoints"  # checkpoints/step-N/
STATE_FILE = "training_state.pt"  # inside a checkpoint: optimizer, scheduler, rng, frozen groups, pins
MODEL_DIR = "model"  # the final model, loadable with pipeline() (a LoRA run: the adapter, see lora.py)
MERGED_MODEL_DIR = "model-merged"  # a LoRA run with --merge-lora: the adapter merged into the base model
HEAD_CONFIG_NAME = "head_config.json"  # beside an adapter: the model config with the head fitted to the labels
BASE_WEIGHTS_NAME = "base_weights.safetensors"  # beside an adapter: base weights trained by full= (LoRA runs)
THRESHOLDS_NAME = "thresholds.json"  # per-label thresholds, inside MODEL_DIR

# Not ours: Hugging Face's name for a model folder's configuration (a checkpoint is such a folder).
MODEL_CONFIG_NAME = "config.json"
# PEFT's names for an adapter folder (what save_pretrained of a PeftModel writes).
ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"


def is_adapter_folder(path: str | Path) -> bool:
    """A PEFT adapter folder (it holds adapter_config.json); False where it cannot be looked into:
    the model loader then says why, in one line."""
    try:
        return (Path(path).expanduser() / ADAPTER_CONFIG_NAME).is_file()
    except (OSError, ValueError):
        return False
