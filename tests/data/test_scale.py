"""Large files (issue #14): texts and labels kept in Arrow / compact, capped eval, batches tokenized when drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cockpit.data.labeled import LabeledTexts
from cockpit.data.labels import LabelMatrix
from cockpit.data.loading import load_arrow_labeled_texts, load_labeled_texts
from cockpit.data.splits import EVAL_ROWS_CAP, default_pins, split_for_eval
from cockpit.training import batches
from tests.conftest import run_engine, write_parquet


def _same(a: LabeledTexts, b: LabeledTexts) -> None:
    assert list(a.texts) == list(b.texts) and list(a.row_ids) == list(b.row_ids)
    assert a.label_names == b.label_names and a.task == b.task
    assert np.array_equal(a.targets.dense(), b.targets.dense())
    assert [(n.kind, n.message) for n in a.notices] == [(n.kind, n.message) for n in b.notices]


@pytest.mark.parametrize(
    "columns",
    [
        {"text": ["good", None, "bad", "  ", "fine", "meh"], "label": ["pos", "neg", "neg", "pos", None, "pos"]},
        {"review": ["a", "b", "c", "d"], "y": [2, 0, 1, 2]},
        {"text": ["a", "b", "c"], "label": [1.0, float("nan"), 0.0]},
        {"text": ["a", "b", "c"], "toxic": [1, 0, 0], "insult": [0, 0, 1]},
    ],
)
def test_arrow_path_reads_a_file_as_the_general_path_does(tmp_path: Path, columns: dict) -> None:
    parquet = write_parquet(tmp_path / "data.parquet", columns)
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    jsonl = tmp_path / "data.jsonl"  # JSON always goes through the general (Python) path
    jsonl.write_text("\n".join(json.dumps(r).replace("NaN", "null") for r in rows) + "\n")
    fast = load_arrow_labeled_texts(parquet, None, None, None)
    assert fast is not None, "a clean parquet file should stay in Arrow"
    _same(fast, load_labeled_texts(jsonl))
    _same(fast, load_labeled_texts(parquet))


def test_arrow_path_leaves_lists_and_errors_to_the_general_path(tmp_path: Path, multilabel_file: Path) -> None:
    assert load_arrow_labeled_texts(multilabel_file, None, None, None) is None  # list<string> labels
    one_class = write_parquet(tmp_path / "one.parquet", {"text": ["a", "b"], "label": [1, 1]})
    assert load_arrow_labeled_texts(one_class, None, None, None) is None
    with pytest.raises(Exception, match="single class"):
        load_labeled_texts(one_class)


def test_label_matrix_reads_like_its_dense_matrix() -> None:
    rng = np.random.default_rng(0)
    dense = (rng.random((50, 7)) < 0.3).astype(np.float32)
    dense[3] = 0  # a row with no label
    multi = LabelMatrix.from_dense(dense, single=False)
    positions = [4, 0, 3, 49, 4]
    assert np.array_equal(multi[positions], dense[positions]) and np.array_equal(np.asarray(multi), dense)
    assert np.array_equal(multi.take(positions).dense(), dense[positions])
    assert np.array_equal(multi.sum(axis=0), dense.sum(axis=0)) and np.allclose(multi.mean(axis=0), dense.mean(0))
    assert np.array_equal(multi.argmax(axis=1), dense.argmax(axis=1)) and multi[7].tolist() == dense[7].tolist()
    single = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 40)]
    compact = LabelMatrix.from_dense(single, single=True)
    assert compact.indices.dtype == np.int32 and compact.offsets is None  # 4 bytes a row, whatever the labels
    assert np.array_equal(compact[:, 2], single[:, 2]) and np.array_equal(compact.argmax(axis=1), single.argmax(1))


def _pins_by_row_scan(data: LabeledTexts, count: int = 4, most: int = 8) -> list[int]:
    """The greedy cover as it was written before #14 (a Python scan over every row), going on past
    `count` rows until every label has a pinned row (#25: up to `most`, when the labels are few)."""
    targets = data.targets.dense()
    uncovered, chosen = set(range(len(data.label_names))), []
    never_pinned = set(uncovered)
    while len(chosen) < min(count, len(data)) or (never_pinned and len(chosen) < most):
        gains = [
            (len(uncovered & set(np.flatnonzero(targets[i]).tolist())), -i) for i in range(len(data)) if i not in chosen
        ]
        best_gain, neg_i = max(gains)
        if len(chosen) >= count and best_gain == 0:
            break
        chosen.append(-neg_i)
        uncovered -= set(np.flatnonzero(targets[-neg_i]).tolist())
        never_pinned -= set(np.flatnonzero(targets[-neg_i]).tolist())
        if best_gain == 0 and not uncovered:
            uncovered = set(range(len(data.label_names)))
    return [data.row_ids[i] for i in chosen]


@pytest.mark.parametrize("task", ["multilabel", "multiclass"])
def test_default_pins_are_the_rows_the_row_scan_chose(task: str) -> None:
    rng = np.random.default_rng(1)
    if task == "multilabel":
        dense = (rng.random((300, 9)) < 0.15).astype(np.float32)
    else:
        dense = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 300)]
    data = LabeledTexts(
        [f"t{i}" for i in range(300)], dense, [f"l{j}" for j in range(dense.shape[1])], task, "x", range(300)
    )
    pins = default_pins(data)
    assert pins == _pins_by_row_scan(data)
    covered = {int(j) for row in pins for j in np.flatnonzero(dense[row])}
    assert covered == set(range(dense.shape[1])) and len(pins) >= 4  # every class has a pinned row
    if task == "multiclass":
        assert len(pins) == 6


def test_eval_split_is_capped_and_eval_rows_sets_its_size() -> None:
    rows = 60_000
    classes = np.random.default_rng(2).integers(0, 3, rows)
    data = LabeledTexts(
        [f"t{i}" for i in range(rows)],
        np.eye(3, dtype=np.float32)[classes],
        ["a", "b", "c"],
        "multiclass",
        "x",
        range(rows),
    )
    train, evaluation = split_for_eval(data, 0.1, seed=0, keep_in_train=frozenset({5, 6, 7}))
    assert evaluation is not None and abs(len(evaluation) - EVAL_ROWS_CAP) <= 3 and len(train) + len(evaluation) == rows
    assert not {5, 6, 7} & set(evaluation.row_ids)
    share = evaluation.targets.counts() / len(evaluation)
    assert np.allclose(share, np.bincount(classes) / rows, atol=0.01)  # still stratified
    _, exact = split_for_eval(data, 0.1, seed=0, eval_rows=300)
    assert exact is not None and abs(len(exact) - 300) <= 2
    small = data.subset(np.arange(1000))
    _, tenth = split_for_eval(small, 0.1, seed=0)
    assert tenth is not None and len(tenth) == 100  # under the cap: the share, as before


def test_evaluator_gives_predict_results_in_row_order(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from cockpit.training.instruments import predict

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    texts = [("word " * (i % 11)) + f"row {i}" for i in range(37)]
    data = LabeledTexts(
        texts, np.eye(3, dtype=np.float32)[[i % 3 for i in range(37)]], ["a", "b", "c"], "multiclass", "x", range(37)
    )
    monkeypatch.setattr(batches, "PROGRESS_EVERY_S", 0.0)
    reports: list[tuple[int, int]] = []
    evaluator = batches.Evaluator(data, tokenizer, 32, batch_size=8)
    fast = evaluator.run(model, "multiclass", progress=lambda done, total: reports.append((done, total)))
    collate = batches.Collator(tokenizer, 32)
    slow = predict(model, collate, list(texts), np.asarray(data.targets), "multiclass")
    assert np.allclose(fast.probs, slow.probs, atol=1e-5) and np.allclose(fast.losses, slow.losses, atol=1e-5)
    assert reports and reports[0] == (8, 37) and all(total == 37 for _, total in reports)
    order = batches.EpochOrder(10, seed=3)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(3000)).tolist()
    assert order.batch(0, 3, 4) + order.batch(1, 3, 4) + order.batch(2, 3, 4) == expected  # the engine's old order


def test_a_long_evaluation_reports_progress_in_the_journal(tmp_path: Path, tiny_model: Path, monkeypatch) -> None:
    monkeypatch.setattr(batches, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(batches, "EVAL_BATCH_SIZE", 4)
    texts = [f"{'good' if i % 2 else 'bad'} thing number {i}" for i in range(40)]
    data = write_parquet(tmp_path / "d.parquet", {"text": texts, "label": [i % 2 for i in range(40)]})
    _, ended = run_engine(data, tmp_path / "run", tiny_model, max_steps=2, eval_rows=12)
    assert ended.reason == "finished"
    events = [json.loads(line) for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events]
    progress = [e for e in events if e["type"] == "eval_progress"]
    assert progress and progress[0]["rows_total"] == 12 and kinds.index("eval_progress") < kinds.index("eval")
    assert next(e for e in events if e["type"] == "eval")["rows"] == 12


def test_200k_rows_of_5000_labels_are_never_made_dense() -> None:
    """Dense, these labels would be 4 GB: split, pins, counts and the constant baseline must not build them."""
    import pyarrow as pa

    from cockpit.data.texts import RowNumbers, TextColumn
    from cockpit.training.instruments import constant_loss

    rows, width = 200_000, 5000
    rng = np.random.default_rng(3)
    per_row = rng.integers(1, 4, rows)
    offsets = np.concatenate([[0], np.cumsum(per_row)])
    labels = LabelMatrix(rng.integers(0, width, int(offsets[-1])), width, offsets)
    texts = TextColumn(pa.array(np.char.add("row ", np.arange(rows).astype(str)).tolist()))
    data = LabeledTexts(texts, labels, [f"l{j}" for j in range(width)], "multilabel", "x", RowNumbers(np.arange(rows)))
    train, evaluation = split_for_eval(data, 0.1, seed=0, keep_in_train=frozenset({10}))
    assert evaluation is not None and len(evaluation) == EVAL_ROWS_CAP and len(train) == rows - EVAL_ROWS_CAP
    assert train.texts.index is not None  # the split shares the text array
    pins = default_pins(train)
    assert len(pins) == 4 and len(set(pins)) == 4
    assert sum(train.label_counts.values()) == len(train.targets.indices)
    assert 0 < constant_loss(train.targets, evaluation.targets.dense(), "multilabel") < 1
    assert train.targets[[0, 5]].shape == (2, width) and train.texts[0] == f"row {train.row_ids[0]}"


def test_the_split_record_lists_eval_and_dropped_rows_and_gives_the_training_rows_by_rule(tmp_path: Path) -> None:
    """eval_rows.json stays small at any size (no list of training rows) and still gives the split exactly."""
    from types import SimpleNamespace

    from cockpit.contract.config import RunConfig
    from cockpit.training.prepare import split_record, split_train_rows

    rows = 3000
    texts = [None if i % 97 == 5 else f"text {i}" for i in range(rows)]
    labels = [None if i % 101 == 7 else i % 3 for i in range(rows)]
    path = write_parquet(tmp_path / "d.parquet", {"text": texts, "label": labels})
    full = load_labeled_texts(path)
    train, evaluation = split_for_eval(full, 0.1, seed=1, keep_in_train=frozenset({0}), eval_rows=200)
    config = RunConfig(data=str(path), eval_rows=200, seed=1)
    record = json.loads(json.dumps(split_record(SimpleNamespace(config=config, train=train, evaluation=evaluation))))
    dropped = [i for i in range(rows) if texts[i] is None or labels[i] is None]
    assert record["file_rows"] == rows and record["dropped_rows"] == dropped
    assert record["eval_rows"] == list(evaluation.row_ids) and "train_rows" not in record
    # without cockpit's code: every row that is neither eval nor dropped
    by_rule = sorted(set(range(rows)) - set(record["eval_rows"]) - set(record["dropped_rows"]))
    assert by_rule == list(train.row_ids) == split_train_rows(record).tolist()
    record["eval_rows"] = record["eval_rows"][1:]  # a damaged record is caught by the count and hash
    with pytest.raises(Exception, match="do not match"):
        split_train_rows(record)


def _search_file(tmp_path: Path, rows: int) -> tuple[Path, list[str | None]]:
    rng = np.random.default_rng(4)
    words = np.array(["Alpha", "beta", "GAMMA", "delta", "Epsilon", "zeta", "eta", "theta"])
    picked = words[rng.integers(0, len(words), (rows, 3))]
    texts: list[str | None] = [f"{a} {b} {c} row{i}" for i, (a, b, c) in enumerate(picked.tolist())]
    for i in range(3, rows, 1009):
        texts[i] = None  # dropped rows: the texts are then read through the split's row index
    return write_parquet(tmp_path / "search.parquet", {"text": texts, "label": [i % 2 for i in range(rows)]}), texts


def test_examples_search_on_50k_rows_runs_in_a_worker_and_finds_what_a_scan_finds(tmp_path: Path) -> None:
    """Through the real app: typing starts no search in the key handler; the worker's rows are the scan's."""
    import threading

    from textual.widgets import DataTable, Input
    from ui_fixtures.harness import FakeControl, live_events, run_async, running_app

    from cockpit.data.examples import TrainingExamples
    from cockpit.ui.examples_screen import MAX_SHOWN, SEARCH_IN_HANDLER_ROWS, ExamplesScreen

    rows = 50_000
    assert rows > SEARCH_IN_HANDLER_ROWS
    path, texts = _search_file(tmp_path, rows)
    data = load_labeled_texts(path)
    assert data.texts.index is not None  # the Arrow path kept the file's text array

    class Recorded(TrainingExamples):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            self.calls: list[tuple[str, bool]] = []

        def search(self, query: str, limit: int):
            self.calls.append((query, threading.current_thread() is threading.main_thread()))
            return super().search(query, limit)

    examples = Recorded(data)

    def scan(query: str) -> list[int]:
        words = query.lower().split()
        return [i for i, t in enumerate(texts) if t is not None and all(w in t.lower() for w in words)]

    @run_async
    async def drive() -> None:
        async with running_app(live_events(), FakeControl(), examples=examples) as (app, pilot):
            await pilot.press("e")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ExamplesScreen)
            table = screen.query_one(DataTable)
            for query in ("gamma ALPHA", "gamma alpha row4"):
                screen.query_one(Input).value = query
                for _ in range(600):  # until typing's timer fired and the worker's rows are shown
                    await pilot.pause(0.05)
                    if not screen.searching:
                        break
                assert not screen.searching
                expected = scan(query)
                shown = [int(str(key.value)) for key in table.rows]
                assert shown == expected[:MAX_SHOWN] and len(shown) == min(len(expected), MAX_SHOWN)
                info = str(screen.query_one("#examples-info").render())
                assert info.startswith(f"{len(expected)} of {len(data)} rows")
            await pilot.press("escape")

    drive()
    searched = [call for call in examples.calls if call[0]]
    assert searched and searched[-1][0] == "gamma alpha row4"
    assert not any(in_main for _, in_main in searched)  # every search ran off the event loop's thread


def _mapped_from(column, path: Path) -> bool:
    """Every data buffer of the text column lies in a memory mapping of `path` (/proc/self/maps): zero-copy."""
    spans = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == str(path.resolve()):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            spans.append((start, end))
    chunks = column.array.chunks if hasattr(column.array, "chunks") else [column.array]
    buffers = [b for chunk in chunks for b in chunk.buffers()[1:] if b is not None and b.size]
    return bool(buffers) and all(any(s <= b.address and b.address + b.size <= e for s, e in spans) for b in buffers)


def _texts_file(tmp_path: Path, rows: int = 4000) -> tuple[Path, dict]:
    texts = [None if i % 211 == 9 else f"{'good' if i % 2 else 'bad'} thing number {i} " * 3 for i in range(rows)]
    columns = {"text": texts, "label": [i % 2 for i in range(rows)]}
    return write_parquet(tmp_path / "d.parquet", columns), columns


def test_arrow_ipc_files_are_memory_mapped_not_copied(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.feather as feather

    parquet, columns = _texts_file(tmp_path)
    expected = load_labeled_texts(parquet)
    plain = tmp_path / "d.arrow"
    feather.write_feather(pa.table(columns), plain, compression="uncompressed", chunksize=1000)
    mapped = load_labeled_texts(plain)
    _same(mapped, expected)
    assert mapped.texts.index is not None and _mapped_from(mapped.texts, plain)  # the file's pages, in place
    packed = tmp_path / "d.feather"  # Feather's default lz4: decoded (not zero-copy), still read
    feather.write_feather(pa.table(columns), packed)
    _same(load_labeled_texts(packed), expected)
    assert not _mapped_from(load_labeled_texts(packed).texts, packed)
    fake = tmp_path / "fake.arrow"
    fake.write_text("text,label\na,1\n")
    with pytest.raises(Exception, match="not an Arrow IPC / Feather v2 file"):
        load_labeled_texts(fake)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_large_parquet_and_csv_are_cached_as_arrow_once_and_memory_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from cockpit.data import formats as data_module

    parquet, columns = _texts_file(tmp_path)
    path = parquet
    if suffix == ".csv":
        path = tmp_path / "d.csv"
        pcsv.write_csv(pa.table(columns), path)
    monkeypatch.setenv("COCKPIT_ARROW_CACHE", "off")
    expected = load_labeled_texts(path)
    assert not _mapped_from(expected.texts, path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("COCKPIT_ARROW_CACHE", str(cache))
    monkeypatch.setattr(data_module, "ARROW_CACHE_MIN_BYTES", 0)
    first = load_labeled_texts(path)
    [entry] = list(cache.glob("*.arrow"))
    _same(first, expected)
    assert _mapped_from(first.texts, entry)
    again = load_labeled_texts(path)  # a later run: the same entry, nothing rewritten
    assert list(cache.glob("*.arrow")) == [entry] and _mapped_from(again.texts, entry)
    columns["label"] = [1 - v for v in columns["label"]]  # the file changes: a new entry replaces the old one
    if suffix == ".csv":
        pcsv.write_csv(pa.table(columns), path)
    else:
        write_parquet(path, columns)
    changed = load_labeled_texts(path)
    assert [p.name for p in cache.glob("*.arrow")] != [entry.name] and len(list(cache.glob("*.arrow"))) == 1
    assert np.array_equal(changed.targets.classes(), 1 - expected.targets.classes())


def test_a_batch_of_a_chunked_text_column_copies_its_rows_not_the_column() -> None:
    """Arrow's take on a chunked string column concatenates every chunk first (a copy of all the text per
    batch); TextColumn takes chunk by chunk. Measured on a proxy Arrow pool: bytes, not RSS."""
    import pyarrow as pa

    from cockpit.data.texts import TextColumn

    chunks = [[f"chunk {c} row {i} " + "y" * 60 for i in range(5000)] for c in range(16)]
    flat = [t for chunk in chunks for t in chunk]
    column = TextColumn(pa.chunked_array([pa.array(c) for c in chunks]))
    split = column.take(np.arange(3, len(flat), 2))  # a split: positions through an index
    rng = np.random.default_rng(0)
    default = pa.default_memory_pool()
    proxy = pa.proxy_memory_pool(default)
    pa.set_memory_pool(proxy)
    try:
        for _ in range(5):
            positions = rng.integers(0, len(split), 16)
            assert split.batch(positions) == [flat[3 + 2 * int(p)] for p in positions]
        assert column.batch(np.arange(7000, 9000)) == flat[7000:9000]  # a run across two chunks: a slice
    finally:
        pa.set_memory_pool(default)
    assert proxy.max_memory() < 100_000  # the whole column is 1.3 MB


def test_a_damaged_cache_entry_is_dropped_and_a_lone_surrogate_is_kept_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit.data import formats as data_module

    parquet, _ = _texts_file(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("COCKPIT_ARROW_CACHE", str(cache))
    monkeypatch.setattr(data_module, "ARROW_CACHE_MIN_BYTES", 0)
    expected = load_labeled_texts(parquet)
    [entry] = list(cache.glob("*.arrow"))
    damaged = tmp_path / "damaged"  # replaced, not truncated in place: `expected` still maps the old file
    damaged.write_bytes(entry.read_bytes()[:100])
    damaged.replace(entry)
    _same(load_labeled_texts(parquet), expected)  # decoded in memory this time, the entry dropped
    assert not entry.exists()
    jsonl = tmp_path / "s.jsonl"  # JSON's "\ud800" escape is a lone surrogate: not UTF-8, yet a valid file
    jsonl.write_text("\n".join(json.dumps({"text": t, "label": i % 2}) for i, t in enumerate(["\ud800 x"] + ["y"] * 9)))
    assert load_labeled_texts(jsonl).texts[0] == "\\ud800 x"
