"""cockpit: a terminal training cockpit for fine-tuning Hugging Face text classifiers."""

__version__ = "0.1.0"
