"""One run directory's files: their names (`layout`), the journal, the command inbox, checkpoints,
thresholds and the trainer's lock. Imports only the contract."""
