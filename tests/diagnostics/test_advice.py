"""Every piece of advice names only keys, columns, flags, commands and alarms that exist (issue #25).

Advice told users about "the evaluation panel's `best thr` column" (the column is `thr`) and "the
`pos_weight=auto` command" with no key to send it. Here every string `cockpit.diagnostics.advice`
can produce (each function called on each branch; the test fails when a new function is not called
here) is read for its references in backticks and in "the X alarm", and each is checked against the
real thing: the keys the running cockpit binds, the columns its panels draw (read from the app on the
fixture run through Pilot), the options `cockpit train` parses, and the command grammar.
"""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Callable
from typing import Any

from textual.widgets import DataTable, Static
from ui_fixtures.harness import fixture_events, plain, run_async, running_app

from cockpit.cli.main import build_parser
from cockpit.contract.commands import CommandSyntaxError, parse_command
from cockpit.diagnostics import RULES, RunContext, advice
from cockpit.ui.examples_screen import ExamplesScreen

GROUPS = {"head": {"steps": 20, "reason": "head_lags", "update_ratio": 1e-7, "grad_norm": 1e-3}}
PIN_EVIDENCE = {
    "training_loss": 0.25, "pinned_loss": 1.25, "pinned_mean_loss": 1.7, "ratio": 5.0, "pin_updates": 2,
    "agreeing_rows": [0, 10], "lagging_rows": [20], "eval_metric": 0.9, "prob_on_targets": 0.4,
    "prob_off_targets": 0.35,
}  # fmt: skip
NOISE_EVIDENCE = {
    "noise": 0.25, "drop": 0.01, "window": 50, "smoothed_loss": 0.6, "loss_scale": 0.693, "progress": 0.093,
    "relative_noise": 0.42, "effective_batch": 8, "micro_batch": 1, "accumulation": 8,
}  # fmt: skip

# every public function of the advice module, with arguments that reach each of its branches
CALLS: dict[str, list[tuple[Any, ...]]] = {
    "head_output_count": [(1, 2), (3, 15)],
    "head_softmax_for_multilabel": [("single_label_classification",)],
    "head_classifies_a_score": [("single_label_classification", 2)],
    "regression_collapsed": [(2.5, 0.01, 1.2, 2, 1.44, 1.45), (2.5, 0.01, 1.2, 2, None, None)],
    "target_scale": [(1500.0, 300.0)],
    "target_scale_advice": [(1500.0, 300.0)],
    "head_mismatch": [(["a", "b"],)],
    "head_mismatch_advice": [(2, "single_label_classification")],
    "label_format": [("multilabel", "read as lists", "binary")],
    "collapsed_to_one_class": [(870, 872, 0.998, "neg", 0.49, 2)],
    "at_majority_share": [(0.4908, 0.4908, 2, "neg")],
    "all_negative": [(25, 2, 0.6, 0.2)],
    "collapse_advice": [
        ("multilabel", set()),
        ("multilabel", {"thresholds"}),
        ("binary", set()),
        ("binary", {"head_mismatch"}),
    ],  # fmt: skip
    "thresholds_beat_half": [({"race": {"threshold": 0.2, "f1": 0.6, "f1_at_half": 0.1}}, 15, 3)],
    "never_predicted": [(["ABBR"], {"ABBR": 9}, {"accuracy": 0.94}, 3)],
    "never_predicted_advice": [("multilabel",), ("multiclass",)],
    "predicted_again": [(["ABBR", "HUM"],)],
    "predictions_disagree": [(PIN_EVIDENCE,)],
    "predictions_disagree_advice": [(PIN_EVIDENCE,), ({**PIN_EVIDENCE, "prob_on_targets": 0.9},), ({},)],
    "pins_not_learned": [
        (PIN_EVIDENCE, [(20, ["ABBR"], 2.5)]),
        ({**PIN_EVIDENCE, "agreeing_rows": []}, [(20, [], 2.5)]),
    ],
    "pins_not_learned_advice": [({"ABBR": 0.016},), ({},)],
    "not_learning": [
        (["head"], GROUPS, 1e-4, 1e-6),
        (["layer.0"], {"layer.0": {**GROUPS["head"], "reason": "zero_gradient"}}, None, 1e-6),
        (["layer.0"], {"layer.0": {**GROUPS["head"], "reason": "no_update"}}, None, 1e-6),
    ],
    "learning_again": [(["head"],)],
    "not_learning_advice": [({"zero_gradient"},), ({"no_update", "head_lags"},)],
    "noisy_loss": [(NOISE_EVIDENCE,), ({**NOISE_EVIDENCE, "progress": 0.3, "drop": -0.01},)],
    "noisy_loss_advice": [(8, 8, 5e-5, 5e-5), (8, 8, 1e-5, 5e-5)],
    "noise_only_on_chart": [("binary", 0.85), ("multilabel", None)],
    "non_finite": [(12, "loss", float("nan"), ["head"])],
    "non_finite_advice": [(5e-5,)],
    "finite_again": [(5,)],
    "loss_rising": [(0.3, 0.5, True)],
    "loss_rising_advice": [(5e-5,)],
    "loss_exploded": [(5, 17.8, 0.69, 2, 5, 4.0)],
    "loss_exploded_advice": [(0.9,)],
}

BACKTICKED = re.compile(r"`([^`]+)`")
NAMED_ALARM = re.compile(r"\bthe (\w+) alarm\b")


def every_advice_string() -> list[str]:
    functions = {
        name: value
        for name, value in inspect.getmembers(advice, inspect.isfunction)
        if value.__module__ == advice.__name__ and not name.startswith("_")
    }
    assert set(functions) == set(CALLS), "call every advice function here (on each branch)"
    strings = [value for name, value in vars(advice).items() if name.isupper() and isinstance(value, str)]
    for name, calls in CALLS.items():
        function: Callable[..., str] = functions[name]
        strings += [function(*args) for args in calls]
    return strings


async def real_ui() -> tuple[set[str], set[str]]:
    """(keys the cockpit binds, column names its panels draw), read from the running app."""
    keys: set[str] = set()
    columns: set[str] = set()
    async with running_app(fixture_events()) as (app, pilot):
        for screen_class in (type(app), ExamplesScreen):
            keys |= {key for binding in screen_class.BINDINGS for key in binding.key.split(",")}
        for table in app.query(DataTable):
            keys |= {key for binding in type(table).BINDINGS for key in binding.key.split(",")}
            columns |= {plain_label for column in table.columns.values() for plain_label in _words(column.label)}
        columns |= set(plain(app.query_one("#eval-body", Static)).split())
        await pilot.press("e")
        await pilot.pause()
    symbols = {"question_mark": "?", "slash": "/", "colon": ":"}
    return {symbols.get(key, key) for key in keys}, columns


def _words(label: object) -> list[str]:
    text = getattr(label, "plain", str(label))
    return [text.replace("\n", " "), *text.split()]


def _is_command(reference: str) -> bool:
    try:
        parse_command(reference)
    except CommandSyntaxError:
        return False
    return True


def _is_train_option(reference: str) -> bool:
    words = shlex.split(reference)
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    if words[0] not in train._option_string_actions:
        return False
    try:
        build_parser().parse_args(["train", "data.csv", *words] + (["0.1"] if len(words) == 1 else []))
    except SystemExit:
        return len(words) == 1 and train._option_string_actions[words[0]].nargs == 0
    return True


@run_async
async def test_every_advice_names_only_keys_columns_flags_and_commands_that_exist() -> None:
    keys, columns = await real_ui()
    kinds = {make(RunContext()).kind for make in RULES}
    unknown: list[str] = []
    for text in every_advice_string():
        for reference in BACKTICKED.findall(text):
            if reference.startswith("--"):
                known = _is_train_option(reference)
            elif len(reference) == 1:
                known = reference in keys
            else:  # a command is only advice if the cockpit can send it: `:` takes any command
                known = reference in columns or (_is_command(reference) and ":" in keys)
            if not known:
                unknown.append(f"`{reference}` in: {text[:100]}")
        for name in NAMED_ALARM.findall(text):
            if not any(kind == name or kind.startswith(f"{name}_") or kind == f"{name}s" for kind in kinds):
                unknown.append(f"the {name} alarm in: {text[:100]}")
    assert not unknown, "\n".join(unknown)


def test_the_check_itself_catches_what_issue_25_found() -> None:
    """The control: the two references #25 found, and a key the cockpit does not bind."""
    assert not _is_command("best thr") and not _is_train_option("--best-thr")
    assert _is_command("pos_weight=auto") and _is_train_option("--grad-accum 32") and _is_train_option("--lr 5e-06")
    assert not _is_train_option("--pos-weigth auto")
