"""The data a Hugging Face user already has: `datasets` folders and Hub names, sentence pairs, columns
joined into one text, regression scores, "no label" markers; every inference said in a notice.

Real files and real `save_to_disk` / Hub-layout folders written by `datasets`; no model is loaded here
(the training side is tests/training/test_pairs_and_regression.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_parquet

from cockpit.cli.main import main
from cockpit.data.loading import DataSpec, load_labeled_texts
from cockpit.data.sources import read_data

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()  # the tests' own save_to_disk would print bars into the captured stderr


def expect_error(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    """`cockpit ARGV` in-process: one line, exit 2, no traceback; the message."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("cockpit: error: "), err
    return lines[0].removeprefix("cockpit: error: ")


def pairs_table(rows: int = 40) -> dict[str, list]:
    first = [f"the cat sat on mat number {i}" for i in range(rows)]
    second = [f"a dog ran to park number {i % 7}" for i in range(rows)]
    return {"sentence1": first, "sentence2": second, "label": [i % 2 for i in range(rows)], "idx": list(range(rows))}


def save_dataset_dict(folder: Path, splits: dict[str, dict[str, list]], names: list[str] | None = None) -> Path:
    features = None
    if names is not None:
        columns = next(iter(splits.values()))
        features = datasets.Features(
            {
                **{c: datasets.Value("string") for c in columns if isinstance(columns[c][0], str)},
                "label": datasets.ClassLabel(names=names),
                "idx": datasets.Value("int32"),
            }
        )
    dd = datasets.DatasetDict({k: datasets.Dataset.from_dict(v, features=features) for k, v in splits.items()})
    dd.save_to_disk(str(folder))
    return folder


# ---------------------------------------------------------------------------------------------
# `datasets` inputs
# ---------------------------------------------------------------------------------------------


def test_a_datasetdict_trains_on_train_evaluates_on_validation_with_its_classlabel_names(tmp_path: Path) -> None:
    table = pairs_table(40)
    validation = {k: v[:10] for k, v in pairs_table(10).items()}
    folder = save_dataset_dict(tmp_path / "dd", {"train": table, "validation": validation}, ["no", "yes"])
    read = read_data(str(folder), DataSpec())
    assert read.train.label_names == ["no", "yes"] and read.train.task == "binary"
    assert len(read.train) == 40 and read.evaluation is not None and len(read.evaluation) == 10
    assert read.train.text.mode == "pair" and read.train.text.columns == ("sentence1", "sentence2")
    assert read.evaluation.second_texts is not None  # the eval split is read as pairs too
    said = [n.message for n in read.notices]
    assert any("trains on split 'train'" in m and "evaluates on split 'validation'" in m for m in said)


def test_an_unlabeled_test_split_is_not_evaluated_on(tmp_path: Path) -> None:
    """GLUE's test splits have -1 labels: evaluating there would measure nothing."""
    test = {**pairs_table(10), "label": [-1] * 10}
    folder = save_dataset_dict(tmp_path / "dd", {"train": pairs_table(40), "test": test}, ["no", "yes"])
    read = read_data(str(folder), DataSpec())
    assert read.evaluation is None
    assert any("cannot be evaluated on" in n.message and "-1" in n.message for n in read.notices)


def test_a_hub_layout_folder_is_read_through_load_dataset(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    names = ["different", "same"]
    features = datasets.Features(
        {"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
         "label": datasets.ClassLabel(names=names), "idx": datasets.Value("int32")}
    )  # fmt: skip
    for split, rows in (("train", 40), ("validation", 12)):
        data = datasets.Dataset.from_dict(pairs_table(rows), features=features)
        data.to_parquet(str(repo / "data" / f"{split}-00000-of-00001.parquet"))
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n"
        "  - split: validation\n    path: data/validation-*\n---\n# a dataset in the Hub's layout\n"
    )
    read = read_data(str(repo), DataSpec())
    assert len(read.train) == 40 and len(read.evaluation) == 12
    assert read.train.label_names == names  # ClassLabel names, kept in the parquet files' metadata


def test_a_save_to_disk_shard_keeps_its_classlabel_names(tmp_path: Path) -> None:
    folder = save_dataset_dict(tmp_path / "dd", {"train": pairs_table(40)}, ["negative", "positive"])
    [shard] = (folder / "train").glob("*.arrow")
    assert load_labeled_texts(shard).label_names == ["negative", "positive"]  # not '0', '1'


def test_a_single_saved_dataset_is_split_like_a_file(tmp_path: Path) -> None:
    datasets.Dataset.from_dict(pairs_table(40)).save_to_disk(str(tmp_path / "one"))
    read = read_data(str(tmp_path / "one"), DataSpec())
    assert read.evaluation is None and len(read.train) == 40


def test_a_list_of_classlabel_reads_as_multilabel_names(tmp_path: Path) -> None:
    names = ["red", "green", "blue"]
    features = datasets.Features(
        {"text": datasets.Value("string"), "labels": datasets.Sequence(datasets.ClassLabel(names=names))}
    )
    rows = {"text": [f"colour text {i}" for i in range(30)], "labels": [[i % 3, (i + 1) % 3] for i in range(30)]}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features)}).save_to_disk(
        str(tmp_path / "dd")
    )
    read = read_data(str(tmp_path / "dd"), DataSpec())
    assert read.train.task == "multilabel" and read.train.label_names == names  # the ClassLabel's order
    assert read.train.targets[0].tolist() == [1.0, 1.0, 0.0]


# ---------------------------------------------------------------------------------------------
# pairs, joined columns, and what is left out
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [("sentence1", "sentence2"), ("question", "sentence"), ("question1", "question2"), ("premise", "hypothesis")],
)
def test_known_pair_columns_are_found_on_their_own(tmp_path: Path, first: str, second: str) -> None:
    path = write_parquet(tmp_path / "p.parquet", {first: ["a b c"] * 10, second: ["d e"] * 10, "label": [0, 1] * 5})
    data = load_labeled_texts(path)
    assert data.text.mode == "pair" and data.text.columns == (first, second)
    assert data.text_at(0) == ("a b c", "d e")
    assert any(n.kind == "text_columns" and f"pairs: {first} + {second}" in n.message for n in data.notices)


def test_text_column_a_comma_b_is_a_pair_and_a_plus_b_is_joined(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "t.parquet", {"title": ["Big news"] * 10, "body": ["the body text"] * 10, "label": [0, 1] * 5}
    )
    pair = load_labeled_texts(path, text_column="title,body")
    assert pair.text.mode == "pair" and pair.text_at(3) == ("Big news", "the body text")
    joined = load_labeled_texts(path, text_column="title+body")
    assert joined.text.mode == "joined" and joined.text_at(3) == ("Big news\nthe body text", None)
    assert joined.second_texts is None


def test_a_text_column_chosen_by_name_says_which_columns_are_left_out(tmp_path: Path) -> None:
    """`title` + `body`: `body` is a usual text column name; `title` is never dropped in silence."""
    path = write_parquet(
        tmp_path / "t.parquet", {"title": ["Big news"] * 10, "body": ["the body text"] * 10, "label": [0, 1] * 5}
    )
    data = load_labeled_texts(path)
    assert data.text.columns == ("body",)
    [notice] = [n for n in data.notices if n.kind == "text_columns"]
    assert "left out: title" in notice.message and "--text-column title+body" in notice.message


# ---------------------------------------------------------------------------------------------
# regression, and the readings that could go either way
# ---------------------------------------------------------------------------------------------


def test_fractional_scores_are_regression(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "s.parquet", {"text": [f"t {i}" for i in range(20)], "score": [i / 4 for i in range(20)]}
    )
    data = load_labeled_texts(path)
    assert data.task == "regression" and data.label_names == ["score"] and data.targets.shape == (20, 1)
    assert np.allclose(data.targets.values, [i / 4 for i in range(20)])


def test_whole_number_float_scores_are_regression_with_the_notice_and_the_flag_that_flips_it(tmp_path: Path) -> None:
    scores = [float(i % 6) for i in range(30)]  # 0.0 ... 5.0: the case once trained as 6 classes
    path = write_parquet(tmp_path / "s.parquet", {"text": [f"t {i}" for i in range(30)], "label": scores})
    data = load_labeled_texts(path)
    assert data.task == "regression"
    [notice] = [n for n in data.notices if n.kind == "task"]
    assert "whole numbers stored as floats" in notice.message and "--task multiclass" in notice.message
    assert load_labeled_texts(path, task="multiclass").task == "multiclass"


def test_many_distinct_integers_stay_classes_with_a_notice(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "r.parquet", {"text": [f"t {i}" for i in range(60)], "label": [i % 30 for i in range(60)]}
    )
    data = load_labeled_texts(path)
    assert data.task == "multiclass" and len(data.label_names) == 30
    assert any(n.kind == "task" and "--task regression" in n.message for n in data.notices)
    assert load_labeled_texts(path, task="regression").task == "regression"


def test_a_column_mixing_whole_and_fractional_numbers_is_regression_not_an_error(tmp_path: Path) -> None:
    """JSON reads 5.0 as a whole number and 3.8 as a fraction: once "mixes label types"."""
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(f'{{"text": "t {i}", "label": {v}}}' for i, v in enumerate([5.0, 3.8] * 8)))
    assert load_labeled_texts(path).task == "regression"


def test_minus_one_labels_are_dropped_and_counted(tmp_path: Path) -> None:
    labels = [0, 1, 2, -1] * 10
    path = write_parquet(tmp_path / "m.parquet", {"text": [f"t {i}" for i in range(40)], "label": labels})
    data = load_labeled_texts(path)
    assert len(data) == 30 and data.label_names == ["0", "1", "2"]
    assert -1 not in [int(r) for r in data.row_ids if labels[r] == -1]
    assert any(
        n.kind == "rows_dropped" and "dropped 10 of 40" in n.message and "'-1'" in n.message for n in data.notices
    )


def test_a_dash_label_is_no_gold_label(tmp_path: Path) -> None:
    """SNLI writes "-" where the annotators did not agree."""
    labels = ["entailment", "neutral", "contradiction", "-"] * 5
    path = write_parquet(
        tmp_path / "n.parquet", {"premise": ["p"] * 20, "hypothesis": ["h"] * 20, "gold_label": labels}
    )
    data = load_labeled_texts(path, label_columns=["gold_label"])
    assert len(data) == 15 and "-" not in data.label_names


# ---------------------------------------------------------------------------------------------
# bad input: one line, exit 2
# ---------------------------------------------------------------------------------------------


def test_a_datasetdict_without_a_train_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = save_dataset_dict(tmp_path / "dd", {"validation": pairs_table(20), "test": pairs_table(20)}, ["a", "b"])
    message = expect_error(capsys, "train", folder, "--dry-run")
    assert "no 'train' split" in message and "validation, test" in message and "--train-split" in message


def test_a_pair_column_missing_in_the_eval_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    validation = {k: v for k, v in pairs_table(10).items() if k != "sentence2"}
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(pairs_table(40)), "validation": datasets.Dataset.from_dict(validation)}
    ).save_to_disk(str(tmp_path / "dd"))
    message = expect_error(capsys, "train", tmp_path / "dd", "--dry-run")
    assert (
        "[validation]" in message and "no column 'sentence2'" in message and "pairs: sentence1 + sentence2" in message
    )


def test_a_regression_column_with_inf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = [0.5 * i for i in range(20)]
    scores[7] = float("inf")
    path = write_parquet(tmp_path / "s.parquet", {"text": [f"t {i}" for i in range(20)], "score": scores})
    message = expect_error(capsys, "train", path, "--dry-run")
    assert "'score'" in message and "inf" in message and "not finite" in message


def test_a_nan_score_is_a_missing_label_dropped_and_counted(tmp_path: Path) -> None:
    """NaN is how pandas writes a missing number: the row is dropped with the others that have no label,
    and the notice says so (inf, which no writer means as "missing", is refused above)."""
    scores = [0.5 * i + 0.25 for i in range(20)]
    scores[3] = scores[11] = float("nan")
    path = write_parquet(tmp_path / "s.parquet", {"text": [f"t {i}" for i in range(20)], "score": scores})
    data = load_labeled_texts(path)
    assert data.task == "regression" and len(data) == 18 and 3 not in data.row_ids and 11 not in data.row_ids
    dropped = [n.message for n in data.notices if n.kind == "rows_dropped"]
    assert dropped == ["dropped 2 of 20 rows with missing text or labels (an empty cell, null or NaN)"]


def test_an_offline_hub_name_not_in_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    message = expect_error(capsys, "train", "nyu-mll/glue:mrpc", "--dry-run")
    assert "nyu-mll/glue:mrpc" in message and "not in the local Hugging Face cache" in message
    assert "save_to_disk" in message


def test_task_regression_on_text_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_parquet(tmp_path / "t.parquet", {"text": ["a", "b"] * 10, "label": ["pos", "neg"] * 10})
    message = expect_error(capsys, "train", path, "--task", "regression", "--dry-run")
    assert "--task regression" in message and "'label'" in message and "'pos'" in message


def test_fractional_scores_read_as_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before round 3 fractional labels were refused outright; now they are regression, unless the user
    asks for classes, which they cannot be."""
    path = write_parquet(tmp_path / "s.parquet", {"text": ["a", "b", "c"] * 4, "label": [0.25, 0.5, 0.75] * 4})
    message = expect_error(capsys, "train", path, "--task", "multiclass", "--dry-run")
    assert "column 'label'" in message and "fractional" in message and "0.25" in message
    assert "--task regression" in message


def test_a_split_name_for_a_plain_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_parquet(tmp_path / "t.parquet", {"text": ["a", "b"] * 10, "label": ["pos", "neg"] * 10})
    message = expect_error(capsys, "train", path, "--eval-split", "validation", "--dry-run")
    assert "--eval-split validation" in message and "is a file" in message


# ---------------------------------------------------------------------------------------------
# --dry-run: what the cockpit understood, in seconds, nothing written
# ---------------------------------------------------------------------------------------------


def test_dry_run_says_what_was_understood_and_writes_nothing(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scores = [round(0.37 * i, 2) for i in range(40)]
    table = {**pairs_table(40), "score": scores}
    del table["label"]
    path = write_parquet(tmp_path / "sts.parquet", table)
    assert main(["train", str(path), "--dry-run", "--model", str(tiny_model)]) == 0
    out = capsys.readouterr().out
    assert "task regression, target 'score'" in out
    assert "texts: pairs: sentence1 + sentence2" in out
    assert "targets: mean" in out and "tokens per pair" in out
    assert "read as regression scores" in out  # the task notice
    assert "dry run: nothing was trained or written" in out
    assert not (tmp_path / "runs").exists()
