"""Every file and folder of a run directory, named once.

A run directory belongs to one run (`--out`, default `runs/<time>-<data name>`). Its trainer
writes everything in it; clients (`cockpit attach`, `replay`, `runs`, `send`) read the journal, its
summary and the lock, and write only into the inbox (and a replay writes the summary of a run that
no trainer holds and that had none).
"""

from __future__ import annotations

JOURNAL_NAME = "journal.jsonl"  # one JSON event per line: the run's source of truth
SUMMARY_SUFFIX = ".summary.jsonl"  # journal.jsonl -> journal.summary.jsonl beside it: the run folded so far
CONFIG_NAME = "config.json"  # the RunConfig (cockpit train) or the Trainer's settings (CockpitCallback)
FINGERPRINT_NAME = "fingerprint.json"  # what --resume checks the data against
EVAL_ROWS_NAME = "eval_rows.json"  # the eval split as file row numbers
TRAINER_LOG = "trainer.log"  # a detached trainer's stdout and stderr
LOCK_NAME = "trainer.lock"  # flock'd by the live trainer for its whole life
INBOX = "inbox"  # commands from other processes, one small JSON file each
CHECKPOINTS = "checkpoints"  # checkpoints/step-N/
STATE_FILE = "training_state.pt"  # inside a checkpoint: optimizer, scheduler, rng, frozen groups, pins
MODEL_DIR = "model"  # the final model, loadable with pipeline()
THRESHOLDS_NAME = "thresholds.json"  # per-label thresholds, inside MODEL_DIR

# Not ours: Hugging Face's name for a model folder's configuration (a checkpoint is such a folder).
MODEL_CONFIG_NAME = "config.json"
