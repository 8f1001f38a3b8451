"""cockpit: a terminal training cockpit for fine-tuning Hugging Face text classifiers."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`from cockpit import CockpitCallback` without importing transformers for everything else."""
    if name == "CockpitCallback":
        from cockpit.bridge.trainer_callback import CockpitCallback

        return CockpitCallback
    raise AttributeError(f"module 'cockpit' has no attribute {name!r}")
