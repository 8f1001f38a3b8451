"""The data layer: a data file to `LabeledTexts` (texts, a label matrix, label names, the task), the
eval split and pinnable rows, with a one-line CockpitError for every bad input. Imports only the
contract; never torch."""
