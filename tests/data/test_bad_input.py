"""Bad input: one clear line on stderr (`cockpit: error: ...`), exit status 2, never a traceback.

Every case goes through the real entry point, `cockpit.cli.main`; a few also run as a separate
process, because only there would a stray traceback or a library's warning reach the terminal.
Most cases fail while reading the data or the flags and never load a model; those that need one
use the tiny BERT from conftest.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from conftest import write_parquet
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cockpit.cli.main import main
from cockpit.contract.config import RunConfig
from cockpit.contract.errors import CockpitError
from cockpit.data.labeled import LabeledTexts
from cockpit.data.labels import TASKS
from cockpit.data.loading import load_labeled_texts
from cockpit.training.prepare import prepare

ROWS = 20


def expect_error(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    """Run `cockpit ARGV` in-process; check the one-line, exit-2 contract; return the message."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("cockpit: error: "), err
    assert "Traceback" not in err
    return lines[0].removeprefix("cockpit: error: ")


def run_cockpit(
    *argv: object, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`python -m cockpit.cli ARGV` as a user would run it (a hang fails the test, not the suite)."""
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def assert_one_line_exit_2(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cockpit: error: ")
    return lines[0]


def write_csv(path: Path, columns: dict[str, list]) -> Path:
    pcsv.write_csv(pa.table(columns), path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a case wrongly start training, its runs/ folder lands here, not in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A valid binary table: the flag and model cases fail on their own input, not on the data."""
    texts = [f"a short review number {i}" for i in range(ROWS)]
    return write_parquet(tmp_path / "good.parquet", {"text": texts, "label": [i % 2 for i in range(ROWS)]})


# ---------------------------------------------------------------------------------------------
# The data file
# ---------------------------------------------------------------------------------------------


def _empty_parquet(p: Path) -> None:
    write_parquet(p, {"text": pa.array([], pa.string()), "label": pa.array([], pa.int64())})


DATA_CASES = {
    # name: (file name, writer, words the message must contain)
    "directory": ("folder.csv", lambda p: p.mkdir(), ["folder.csv", "is a directory"]),
    "text named .parquet": (
        "fake.parquet",
        lambda p: p.write_text("text,label\nhi,1\n"),
        ["fake.parquet", "not a Parquet"],
    ),
    "binary named .csv": (
        "blob.csv",
        lambda p: p.write_bytes(bytes(range(256)) * 8),
        ["blob.csv", "not csv text"],
    ),
    "parquet named .csv": (
        "real.csv",
        lambda p: write_parquet(p, {"text": ["a", "b"], "label": [0, 1]}),
        ["real.csv", "rename it to real.parquet"],
    ),
    "parquet named .jsonl": (
        "real.jsonl",
        lambda p: write_parquet(p, {"text": ["a", "b"], "label": [0, 1]}),
        ["real.jsonl", "Parquet"],
    ),
    "gzip named .jsonl": (
        "packed.jsonl",
        lambda p: p.write_bytes(b"\x1f\x8b\x08\x00rest"),
        ["packed.jsonl", "gzip"],
    ),
    "unsupported .txt": (
        "notes.txt",
        lambda p: p.write_text("hi"),
        ["notes.txt", ".txt", ".parquet, .csv, .jsonl, .json"],
    ),
    "unsupported .xlsx": (
        "sheet.xlsx",
        lambda p: p.write_bytes(b"PK\x03\x04"),
        ["sheet.xlsx", ".parquet, .csv"],
    ),
    "no extension": ("data", lambda p: p.write_text("text,label\n"), ["data", "(no extension)"]),
    "0-row parquet": ("empty.parquet", _empty_parquet, ["empty.parquet", "empty (0 rows)"]),
    "0-row csv": ("empty.csv", lambda p: p.write_text("text,label\n"), ["empty.csv", "empty (0 rows)"]),
    "0-byte csv": ("zero.csv", lambda p: p.write_text(""), ["zero.csv", "empty"]),
    "blank jsonl": ("blank.jsonl", lambda p: p.write_text("\n\n"), ["blank.jsonl", "empty"]),
    "empty json array": ("none.json", lambda p: p.write_text("[]"), ["none.json", "empty (0 rows)"]),
    "broken csv": (
        "ragged.csv",
        lambda p: p.write_text("text,label\na,1\nb,0,extra\n"),
        ["ragged.csv", "cannot be read as csv"],
    ),
    "broken jsonl line": (
        "bad.jsonl",
        lambda p: p.write_text('{"text": "a", "label": 1}\n{"text": oops}\n'),
        ["bad.jsonl", "line 2", "not valid JSON"],
    ),
    "jsonl of lists": (
        "lists.jsonl",
        lambda p: p.write_text('["a", 1]\n["b", 0]\n'),
        ["lists.jsonl", "line 1", "not an object"],
    ),
    "pandas column-oriented json": (
        "frame.json",
        lambda p: p.write_text(json.dumps({"text": {"0": "a", "1": "b"}, "label": {"0": 0, "1": 1}})),
        ["frame.json", "orient='records'"],
    ),
    "duplicate csv header": (
        "twice.csv",
        lambda p: p.write_text("text,label,label\na,1,0\nb,0,1\n"),
        ["'label'", "more than once"],
    ),
    "no usable text column": (
        "numbers.parquet",
        lambda p: write_parquet(p, {"score": [1, 2, 3], "label": [0, 1, 0]}),
        ["no usable text column", "score", "--text-column"],
    ),
    "text column holds numbers": (
        "ints.jsonl",
        lambda p: write_jsonl(p, [{"text": i, "label": i % 2} for i in range(4)]),
        ["column 'text' holds int values", "--text-column"],
    ),
    "no label column": (
        "unlabeled.parquet",
        lambda p: write_parquet(p, {"text": ["a", "b"], "author": ["x", "y"], "stars": [1.5, 2.5]}),
        ["no label column", "text, author, stars", "--label-columns"],
    ),
    "single class": (
        "one.parquet",
        lambda p: write_parquet(p, {"text": ["a", "b", "c"], "label": [1, 1, 1]}),
        ["column 'label'", "single class"],
    ),
    "single class in csv": (
        "one.csv",
        lambda p: p.write_text("text,label\na,spam\nb,spam\n"),
        ["'spam'", "single class"],
    ),
    "mixed label types": (
        "mixed.jsonl",
        lambda p: write_jsonl(p, [{"text": f"t{i}", "label": v} for i, v in enumerate([1, "pos", 0, "neg"])]),
        ["column 'label'", "mixes label types", "1", "'pos'"],
    ),
    "mixed label types in .json": (
        "mixed.json",
        lambda p: p.write_text(json.dumps([{"text": "a", "label": 1}, {"text": "b", "label": "neg"}])),
        ["mixed.json", "mixes label types"],
    ),
    "lists and single labels": (
        "both.jsonl",
        lambda p: write_jsonl(p, [{"text": "a", "labels": ["x"]}, {"text": "b", "labels": "y"}]),
        ["column 'labels'", "mixes lists and single values"],
    ),
    "only empty label lists": (
        "nolabels.jsonl",
        lambda p: write_jsonl(p, [{"text": "a", "labels": []}, {"text": "b", "labels": []}]),
        ["only empty lists"],
    ),
    "every row misses text or label": (
        "holes.parquet",
        lambda p: write_parquet(p, {"text": [None, "", "  ", "d"], "label": [0, 1, 1, None]}),
        ["holes.parquet", "no row has both a text in 'text' and a label", "nothing to train on"],
    ),
}


@pytest.mark.parametrize("case", DATA_CASES, ids=list(DATA_CASES))
def test_bad_data_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, write, words = DATA_CASES[case]
    path = tmp_path / name
    write(path)
    message = expect_error(capsys, "train", path, "--headless")
    for word in words:
        assert word in message, message


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", tmp_path / "nope.parquet", "--headless")
    assert "nope.parquet" in message and "no such file" in message


def test_missing_eval_file(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--eval", tmp_path / "held_out.csv")
    assert "held_out.csv" in message and "no such file" in message


def test_text_column_flag_names_a_missing_column(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--text-column", "body")
    assert "'body'" in message and "--text-column" in message and "columns: text, label" in message


def test_text_column_flag_names_a_column_without_text(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--text-column", "label")
    assert "--text-column 'label'" in message and "not text" in message


def test_label_columns_flag_names_a_missing_column(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--label-columns", "toxic,insult")
    assert "'toxic'" in message and "--label-columns" in message and "columns: text, label" in message


def test_label_columns_must_be_0_1_when_several(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_parquet(tmp_path / "t.parquet", {"text": ["a", "b"], "toxic": [0, 1], "kind": ["x", "y"]})
    message = expect_error(capsys, "train", path, "--label-columns", "toxic,kind")
    assert "'kind'" in message and "0/1" in message


def test_label_names_repeated(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--label-names", "neg,neg")
    assert "--label-names" in message and "'neg'" in message


# ---------------------------------------------------------------------------------------------
# Rows with missing text or labels: dropped with a notice, an error only if none remain
# ---------------------------------------------------------------------------------------------


def _holey_rows() -> dict[str, list]:
    texts = [f"text {i}" for i in range(12)]
    labels: list = [i % 2 for i in range(12)]
    texts[1], texts[4], labels[7] = None, "   ", None
    return {"text": texts, "label": labels}


def test_rows_with_missing_text_or_label_are_dropped_with_a_notice(tmp_path: Path, tiny_model: Path) -> None:
    path = write_parquet(tmp_path / "holes.parquet", _holey_rows())
    data = load_labeled_texts(path)
    assert len(data) == 9 and 1 not in data.row_ids and 4 not in data.row_ids and 7 not in data.row_ids
    config = RunConfig(data=str(path), model=str(tiny_model), out=str(tmp_path / "run"), eval_split=0.2, max_length=16)
    notices = prepare(config).notices
    dropped = [n.message for n in notices if n.kind == "rows_dropped"]
    assert dropped == ["dropped 3 of 12 rows with missing text or labels (an empty cell, null or NaN)"]


def test_blank_csv_labels_and_nan_count_as_missing(tmp_path: Path) -> None:
    """A CSV's empty field and pandas' NaN mean "no label", not a class "" or a fractional number."""
    csv = tmp_path / "blank.csv"
    csv.write_text("text,label\na,pos\nb,\nc,neg\nd,neg\n")
    data = load_labeled_texts(csv)
    assert data.label_names == ["neg", "pos"] and data.row_ids == [0, 2, 3]
    assert [n.message for n in data.notices if n.kind == "rows_dropped"] == [
        "dropped 1 of 4 rows with missing text or labels (an empty cell, null or NaN)"
    ]
    nan = write_parquet(tmp_path / "nan.parquet", {"text": ["a", "b", "c"], "label": [0.0, float("nan"), 1.0]})
    data = load_labeled_texts(nan)
    assert data.task == "binary" and data.row_ids == [0, 2]


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------

FLAG_CASES = {
    "batch size 0": (["--batch-size", "0"], ["--batch-size", "at least 1", "got 0"]),
    "negative lr": (["--lr", "-0.001"], ["--lr", "between 0 and 1", "got -0.001"]),
    "negative lr, exponent": (["--lr=-1e-4"], ["--lr", "got -0.0001"]),  # `--lr -1e-4` reads as a flag
    "lr 5": (["--lr", "5"], ["--lr", "got 5"]),
    "lr nan": (["--lr", "nan"], ["--lr"]),
    "max steps 0": (["--max-steps", "0"], ["--max-steps", "at least 1"]),
    "eval split 1.5": (["--eval-split", "1.5"], ["--eval-split", "1.5"]),
    "max length 2": (["--max-length", "2"], ["--max-length", "between 8 and 8192", "got 2"]),
    "infinite epochs": (["--epochs", "inf"], ["--epochs"]),
    "negative weight decay": (["--weight-decay", "-0.1"], ["--weight-decay"]),
    "negative seed": (["--seed", "-1"], ["--seed"]),
    "keep no checkpoints": (["--keep-checkpoints", "0"], ["--keep-checkpoints"]),
    "--at without a step": (["--at", "foo"], ["--at 'foo'", "STEP:COMMAND"]),
    "--at unknown command": (
        ["--at", "5:explode"],
        ["--at 5:explode", "unknown command 'explode'", "unfreeze="],
    ),
    "--at lr not a number": (["--at", "5:lr=abc"], ["--at 5:lr=abc", "lr needs a number"]),
    "--at freeze nothing": (["--at", "5:freeze="], ["--at 5:freeze=", "layer groups"]),
}


@pytest.mark.parametrize("case", FLAG_CASES, ids=list(FLAG_CASES))
def test_bad_flag_value(case: str, good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags, words = FLAG_CASES[case]
    message = expect_error(capsys, "train", good, *flags)
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    "flags",
    [["--batch-size", "abc"], ["--lr", "fast"], ["--no-such-flag"], ["--precision", "fp8"], ["--pin", "3,x"]],
    ids=["int", "float", "unknown flag", "choice", "pin rows"],
)
def test_argparse_rejects_in_one_line_exit_2(flags: list[str], good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One line like every other error (was a 17-line usage block), pointing at --help."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(good), *flags])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert re.match(r"cockpit: error: .*\(see cockpit( train)? --help\)$", err.strip()), err


def test_train_without_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert "needs a data file" in expect_error(capsys, "train", "--headless")


# ---------------------------------------------------------------------------------------------
# The model and its layer groups
# ---------------------------------------------------------------------------------------------


def test_model_path_that_does_not_exist(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--model", "./nope")
    assert "--model ./nope" in message and "no such folder" in message


def test_model_folder_without_config(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty_model").mkdir()
    message = expect_error(capsys, "train", good, "--model", tmp_path / "empty_model")
    assert "empty_model" in message and "config.json" in message


def test_model_with_damaged_weights(
    good: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for file in tiny_model.iterdir():
        (damaged / file.name).write_bytes(
            file.read_bytes()[:100] if file.suffix == ".safetensors" else file.read_bytes()
        )
    message = expect_error(capsys, "train", good, "--model", damaged)
    assert "damaged" in message and "cannot load weights" in message


def test_hub_name_while_offline_fails_fast(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants
    import transformers  # noqa: F401  (its import time is not what is measured)

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    slept: list[float] = []  # a retry loop waits with time.sleep between tries (huggingface_hub's backoff does)
    monkeypatch.setattr(time, "sleep", slept.append)
    message = expect_error(capsys, "train", good, "--model", "some-org/some-model")
    assert slept == []
    assert "--model some-org/some-model" in message and "local model folder" in message


def test_unknown_layer_in_freeze(good: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--model", tiny_model, "--freeze", "embeddings,layer.7")
    assert "--freeze embeddings,layer.7" in message and "'layer.7'" in message
    assert "valid: embeddings, layer.0, layer.1, pooler, head" in message


def test_unknown_layer_in_scheduled_command(good: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--model", tiny_model, "--at", "5:freeze=layer.99")
    assert message.startswith("--at 5:freeze=layer.99: unknown layer group 'layer.99'; valid: embeddings, layer.0")


def test_pin_that_is_not_a_training_row(good: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--model", tiny_model, "--pin", "99999")
    assert "--pin 99999" in message and "not a training row" in message


def test_device_that_does_not_exist(good: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", good, "--model", tiny_model, "--device", "warp-drive")
    assert "--device warp-drive" in message


# ---------------------------------------------------------------------------------------------
# --resume
# ---------------------------------------------------------------------------------------------


def test_resume_directory_without_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = expect_error(capsys, "train", "--resume", tmp_path)
    assert f"--resume {tmp_path}" in message and "config.json" in message


def test_resume_directory_without_checkpoints(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    RunConfig(data=str(good)).save(run / "config.json")
    message = expect_error(capsys, "train", "--resume", run)
    assert f"--resume {run}" in message and "no checkpoint" in message


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", ["cannot be read"]),
        ("[1, 2]", ["not a cockpit config.json"]),
        ('{"data": "x.csv", "batch_size": "16"}', ["'batch_size'", "'16'"]),
    ],
    ids=["broken json", "not an object", "wrong type"],
)
def test_resume_with_a_damaged_config(
    content: str, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.json").write_text(content)
    message = expect_error(capsys, "train", "--resume", tmp_path)
    assert "config.json" in message and all(word in message for word in words), message


# ---------------------------------------------------------------------------------------------
# As a real process: nothing but the one line reaches the terminal
# ---------------------------------------------------------------------------------------------


def test_process_missing_file(tmp_path: Path) -> None:
    line = assert_one_line_exit_2(run_cockpit("train", "missing.csv", "--headless", cwd=tmp_path))
    assert "missing.csv" in line


def test_process_unknown_layer_after_loading_the_model(good: Path, tiny_model: Path, tmp_path: Path) -> None:
    """Loading a model must not leak transformers' warnings or progress bars around the error."""
    line = assert_one_line_exit_2(
        run_cockpit("train", good, "--model", tiny_model, "--freeze", "layer.9", cwd=tmp_path)
    )
    assert "'layer.9'" in line


@pytest.mark.parametrize(
    "env",
    [{"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}],
    ids=["HF_HUB_OFFLINE=1", "hub unreachable"],
)
def test_process_hub_name_that_cannot_be_fetched(env: dict[str, str], good: Path, tmp_path: Path) -> None:
    """No retry loop: without this, an unreachable Hub meant ~30 s of retry warnings, then the error.

    The warnings ("Retrying in 1s [Retry 1/5]") go to stderr, so one stderr line says there was no
    retry; a time limit would say the same but fail on a busy machine."""
    env = {**env, "HF_HOME": str(tmp_path / "hf-home")}
    line = assert_one_line_exit_2(run_cockpit("train", good, "--model", "some-org/some-model", env=env, cwd=tmp_path))
    assert "some-org/some-model" in line and "local model folder" in line


def test_process_argparse_error(tmp_path: Path) -> None:
    result = run_cockpit("train", "data.csv", "--batch-size", "abc", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == "cockpit: error: argument --batch-size: invalid int value: 'abc' (see cockpit train --help)"
    )


# ---------------------------------------------------------------------------------------------
# Valid formats (so that the errors above are errors about the input, not about the reader)
# ---------------------------------------------------------------------------------------------


def test_csv_with_class_names_is_multiclass(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "topics.csv", {"text": ["a", "b", "c", "d"], "label": ["sport", "art", "tech", "art"]})
    data = load_labeled_texts(path)
    assert data.task == "multiclass" and data.label_names == ["art", "sport", "tech"]
    assert data.targets.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]]


def test_jsonl_with_lists_of_names_is_multilabel(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "tags.jsonl",
        [{"text": "a", "labels": ["x", "y"]}, {"text": "b", "labels": []}, {"text": "c", "labels": ["z"]}],
    )
    data = load_labeled_texts(path)
    assert data.task == "multilabel" and data.label_names == ["x", "y", "z"]
    assert data.targets.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_multi_hot_list_column_is_multilabel(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "hot.parquet", {"text": ["a", "b"], "labels": [[1, 0, 1], [0, 1, 0]]})
    data = load_labeled_texts(path)
    assert data.task == "multilabel" and data.label_names == ["label_0", "label_1", "label_2"]
    assert data.targets.tolist() == [[1, 0, 1], [0, 1, 0]]


def test_several_0_1_columns_by_flag_are_multilabel(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "tox.parquet", {"comment": ["a", "b", "c"], "toxic": [1, 0, 0], "insult": [0, 0, 1]}
    )
    data = load_labeled_texts(path, label_columns=["toxic", "insult"])
    assert data.task == "multilabel" and data.label_names == ["toxic", "insult"] and data.texts == ["a", "b", "c"]
    assert data.targets.tolist() == [[1, 0], [0, 0], [0, 1]]


def test_one_label_column_by_flag(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "s.parquet", {"text": ["a", "b", "c"], "sentiment": ["pos", "neg", "pos"], "id": [7, 8, 9]}
    )
    data = load_labeled_texts(path, label_columns=["sentiment"])
    assert data.task == "binary" and data.label_names == ["neg", "pos"]


def test_int_0_1_is_binary_and_sentence_is_the_text(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "sst.parquet", {"idx": [0, 1, 2], "sentence": ["good", "bad", "fine"], "label": [1, 0, 1]}
    )
    data = load_labeled_texts(path)
    assert data.task == "binary" and data.texts == ["good", "bad", "fine"] and data.label_names == ["0", "1"]


def test_json_array_of_records(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"text": "a", "label": "x"}, {"text": "b", "label": "y"}, {"label": "y", "text": "c"}]))
    data = load_labeled_texts(path)
    assert data.task == "binary" and data.texts == ["a", "b", "c"] and data.label_names == ["x", "y"]


def test_csv_with_json_lists_is_multilabel(tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_text('text,labels\na,"[""x"", ""y""]"\nb,"[""y""]"\n')
    data = load_labeled_texts(path)
    assert data.task == "multilabel" and data.targets.tolist() == [[1, 1], [0, 1]]


# ---------------------------------------------------------------------------------------------
# Any small table: a LabeledTexts that keeps its promises, or a CockpitError, nothing else
# ---------------------------------------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(["text", "sentence", "label", "labels", "y", "comment", "toxic", "insult", "a", ""]),
    st.text(min_size=1, max_size=6),
)
VALUES = {
    "str": st.one_of(st.sampled_from(["pos", "neg", "spam", "", " ", "[1, 0]", "['x']"]), st.text(max_size=8)),
    "int": st.integers(-1, 3),
    "0/1": st.sampled_from([0, 1]),
    "float": st.one_of(st.sampled_from([0.0, 1.0, 0.5, math.nan, math.inf]), st.floats(width=32)),
    "bool": st.booleans(),
    "list_str": st.lists(st.sampled_from(["x", "y", "z", ""]), max_size=3),
    "list_int": st.lists(st.integers(0, 2), min_size=2, max_size=3),
    "multi-hot": st.lists(st.sampled_from([0, 1]), min_size=3, max_size=3),
}


@st.composite
def columns(draw: st.DrawFn, rows: int, kinds: list[str]) -> list:
    kind = draw(st.sampled_from(kinds))
    value = st.one_of(*VALUES.values()) if kind == "mixed" else VALUES[kind]
    if draw(st.booleans()):
        value = st.one_of(st.none(), value)  # some rows missing
    return draw(st.lists(value, min_size=rows, max_size=rows))


@st.composite
def tables(draw: st.DrawFn) -> dict[str, list]:
    """Random columns, half the time around a plausible text column and label column."""
    rows = draw(st.integers(0, 20))
    table = {}
    if draw(st.booleans()):
        text = st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(["", " ", None]))
        table[draw(st.sampled_from(["text", "sentence", "comment"]))] = draw(
            st.lists(text, min_size=rows, max_size=rows)
        )
        kinds = ["str", "int", "0/1", "bool", "list_str", "multi-hot", "float", "mixed"]
        table[draw(st.sampled_from(["label", "labels", "y", "toxic"]))] = draw(columns(rows, kinds))
    for name in draw(st.lists(NAMES, max_size=3, unique=True)):
        table.setdefault(name, draw(columns(rows, [*VALUES, "mixed"])))
    return table


def _write_all_formats(folder: Path, table: dict[str, list]) -> list[Path]:
    """The table as JSON lines and a JSON array, and, where Arrow can type it, as parquet and csv."""
    rows = [dict(zip(table, values, strict=True)) for values in zip(*table.values(), strict=True)]
    paths = [write_jsonl(folder / "t.jsonl", rows)]
    (folder / "t.json").write_text(json.dumps(rows))
    paths.append(folder / "t.json")
    try:
        pa.table(table)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return paths  # a column mixing types: only JSON can hold it
    paths.append(write_parquet(folder / "t.parquet", table))
    as_text = {n: [json.dumps(v) if isinstance(v, list) else v for v in vs] for n, vs in table.items()}
    try:
        paths.append(write_csv(folder / "t.csv", as_text))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    return paths


def _check_promises(data: LabeledTexts) -> None:
    rows, labels = data.targets.shape
    assert len(data.texts) == rows == len(data.row_ids)
    assert all(isinstance(t, str) and t.strip() for t in data.texts)
    assert data.row_ids == sorted(set(data.row_ids))
    dense = data.targets.dense()
    assert dense.dtype == np.float32 and data.task in TASKS
    if data.task == "regression":  # one finite score per row, named by its column
        assert labels == len(data.label_names) == 1 and np.isfinite(dense).all()
        return
    assert set(np.unique(dense).tolist()) <= {0.0, 1.0} and labels == len(data.label_names) >= 2
    if data.task != "multilabel":
        assert (data.targets.sum(axis=1) == 1).all()
        assert (labels == 2) == (data.task == "binary")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(table=tables(), pick=st.data())
def test_any_small_table_loads_or_fails_with_a_cockpit_error(table: dict[str, list], pick: st.DataObject) -> None:
    names = list(table)

    def sometimes(strategy: st.SearchStrategy, label: str) -> object:
        """The flag is given in a quarter of the examples (and only where there are columns to name)."""
        return pick.draw(strategy, label=label) if names and pick.draw(st.integers(0, 3)) == 0 else None

    text_column = sometimes(st.sampled_from(names), "--text-column")
    label_columns = sometimes(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True), "--label-columns")
    label_names = sometimes(st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=4), "--label-names")
    with tempfile.TemporaryDirectory() as folder:
        for path in _write_all_formats(Path(folder), table):
            try:
                data = load_labeled_texts(path, text_column, label_columns, label_names)
            except CockpitError as exc:
                assert len(str(exc).splitlines()) == 1, str(exc)
                event(f"{path.suffix}: CockpitError")
                continue
            _check_promises(data)
            event(f"{path.suffix}: {data.task}")
