"""Step lines: written compact (one array per layer group), read back exactly, and the key form of older
journals still read as the same event."""

from __future__ import annotations

import json
import math

import pytest

from cockpit.contract.events import LayerStats, StepMetrics
from cockpit.rundir.journal_lines import BadLine, encode_event, parse_event, tag_floats


def step(loss: float = 0.6931) -> StepMetrics:
    layers = {
        "embeddings": LayerStats(0.0, 31.4159, 0.0, True),
        "layer.0": LayerStats(0.123457, 12.3457, 1.23457e-05, False),
        "head": LayerStats(2.5, 0.75, 0.00123457, False),
    }
    return StepMetrics(
        step=1234, time=1765100000.25, epoch=1.5, loss=loss, lr=2e-05, samples_per_s=14.5, grad_norm=2.75,
        layers=layers, micro_batch=8, effective_batch=16,
    )  # fmt: skip


def test_a_step_line_holds_each_group_as_one_array_and_reads_back_the_same() -> None:
    line = encode_event(step())
    record = json.loads(line)
    assert record["layers"]["embeddings"] == [0.0, 31.4159, 0.0, 1]
    assert record["layers"]["layer.0"] == [0.123457, 12.3457, 1.23457e-05, 0]
    assert '"grad_norm":0.123457' not in line and ", " not in line  # no repeated keys, no spaces
    assert parse_event(line) == step()


def test_a_diverged_step_keeps_its_nan_loss() -> None:
    event = parse_event(encode_event(step(loss=float("nan"))))
    assert isinstance(event, StepMetrics) and math.isnan(event.loss) and event.layers == step().layers


def test_a_step_line_of_an_older_journal_in_the_key_form_reads_as_the_same_step() -> None:
    older = json.dumps(tag_floats(step().to_dict()))  # `asdict`: four keys per group, per step
    assert '"layers": {"embeddings": {"grad_norm": 0.0' in older
    assert parse_event(older) == step()
    assert len(encode_event(step())) < 0.7 * len(older)


@pytest.mark.parametrize(
    ("values", "said"),
    [([0.1, 1.0, 0.001], "layers.head is"), ([0.1, 1.0, "x", 0], "layers.head is"), ([0.1, 1.0, 0.001, 2], "head")],
)
def test_a_broken_group_array_is_refused_naming_the_group(values: list, said: str) -> None:
    record = json.loads(encode_event(step()))
    record["layers"]["head"] = values
    with pytest.raises(BadLine, match=said):
        parse_event(json.dumps(record))
