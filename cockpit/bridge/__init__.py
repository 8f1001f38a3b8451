"""The cockpit inside someone else's training loop: `LiveRun` (the run core without the loop) and
`CockpitCallback`, its adapter for `transformers.Trainer`."""
