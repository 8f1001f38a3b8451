"""Everything that touches torch: the model and its layer groups, batches, instruments, the run core
every loop shares, `cockpit train`'s engine, steering, pins, several ranks, and `prepare` (a
RunConfig to a ready run). Knows nothing of Textual."""
