"""Shared fixtures: a tiny real BERT (random weights, offline tokenizer) and run helpers.

The tiny model is a real `BertModel` saved with `save_pretrained`, loaded by cockpit exactly as a
user's model folder would be; only its size (2 layers, hidden 32) is unrealistic, so a training
step takes milliseconds.
"""

from __future__ import annotations

import math
import os
import random
from collections import deque
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


def plain(value: Any) -> Any:
    """A state as comparable data: NaN equal to NaN, tuples as lists, objects as their fields."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, str | int | float | None):  # StrEnums as their strings
        return str(value) if isinstance(value, str) else value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, deque)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if hasattr(value, "__dict__"):
        return {k: plain(v) for k, v in vars(value).items() if k != "changed"}
    if hasattr(value, "__slots__"):
        return {k: plain(getattr(value, k)) for k in value.__slots__}
    return value


SAMPLES = ROOT / "sample_data"


def _sample_texts() -> list[str]:
    texts = []
    for name in ("dei.parquet", "sentiment.parquet"):
        texts += pq.read_table(SAMPLES / name).column("text").to_pylist()
    texts += [line.split(",", 1)[0] for line in (SAMPLES / "topics.csv").read_text().splitlines()[1:]]
    return texts


def _wordpiece_vocab(normalizer, pre_tokenizer, size: int = 1500) -> dict[str, int]:
    """The same vocabulary in every session: the specials, every character seen (alone and as a
    continuation piece), then the most frequent words of the sample texts, ties broken by spelling.
    (The `tokenizers` WordPiece trainer breaks ties in a hash map's order, so its vocabulary, and
    with it every tiny-model run, changed from one test session to the next.)"""
    from collections import Counter

    counts: Counter[str] = Counter()
    for text in _sample_texts():
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for word in counts for c in word})
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    words = [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if w not in pieces]
    return {token: i for i, token in enumerate(pieces + words[: size - len(pieces)])}


def wordpiece_tokenizer():
    """A BERT-style WordPiece tokenizer ([CLS] text [SEP]) over the sample texts, built offline; the
    model zoo (tests/training/test_model_zoo.py) gives it to every architecture."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    tok = Tokenizer(models.WordPiece(_wordpiece_vocab(normalizer, pre_tokenizer), unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A:0 [SEP]:0 $B:1 [SEP]:1",  # segment ids as BERT's own tokenizer gives them
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def build_tiny_model(target: Path, layers: int = 2, kind: str = "bert") -> Path:
    """Save a tiny random model + a WordPiece tokenizer trained on the sample texts."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, PreTrainedTokenizerFast

    target.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # the same random weights in every test session
    if kind == "gpt2":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.train_from_iterator(
            _sample_texts(), trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<unk>"])
        )
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", unk_token="<unk>")
        config = GPT2Config(vocab_size=tok.get_vocab_size(), n_embd=32, n_layer=layers, n_head=2, n_positions=128)
        model = GPT2Model(config)
    else:
        tokenizer = wordpiece_tokenizer()
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=layers,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        model = BertModel(config)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path to a tiny BERT folder (2 layers), built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"), kind="gpt2")


def write_parquet(path: Path, columns: dict[str, list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def write_colors(path: Path) -> Path:
    """A small learnable multilabel table, 60 rows: each colour label has its own words."""
    rng = random.Random(0)
    words = {"red": ["crimson", "scarlet"], "blue": ["navy", "azure"], "green": ["olive", "emerald"]}
    texts, labels = [], []
    for i in range(60):
        chosen = rng.sample(sorted(words), rng.randint(1, 2))
        texts.append(" ".join(rng.choice(words[c]) for c in chosen) + f" item {i}")
        labels.append(chosen)
    return write_parquet(path, {"text": texts, "labels": labels})


def sentiment_pairs(path: Path, rows: int = 80, score: bool = False) -> Path:
    """Two sample sentences per row; the label says whether they share a sentiment (or a score does)."""
    table = pq.read_table(SAMPLES / "sentiment.parquet").to_pydict()
    rng = random.Random(3)
    first, second, labels = [], [], []
    for _ in range(rows):
        a, b = rng.randrange(len(table["text"])), rng.randrange(len(table["text"]))
        same = table["label"][a] == table["label"][b]
        first.append(table["text"][a])
        second.append(table["text"][b])
        labels.append(round((4.0 if same else 1.0) + rng.uniform(-0.7, 0.7), 2) if score else int(same))
    return write_parquet(path, {"sentence1": first, "sentence2": second, ("score" if score else "label"): labels})


@pytest.fixture
def multilabel_file(tmp_path: Path) -> Path:
    return write_colors(tmp_path / "colors.parquet")


# What the tests train with unless they say otherwise: small, fast and seeded.
TINY_RUN = {"batch_size": 8, "lr": 1e-3, "eval_split": 0.2, "max_length": 32, "seed": 0}


def tiny_engine(data: Path, out: Path, model: Path | str, *, on_nonfinite: str = "stop", **overrides):
    """A real Engine, prepared and not yet run, on `TINY_RUN` settings with `overrides` on top."""
    from cockpit.contract.config import RunConfig
    from cockpit.training.engine import Engine
    from cockpit.training.prepare import prepare

    config = RunConfig(data=str(data), model=str(model), out=str(out), **{**TINY_RUN, **overrides})
    return Engine(prepare(config), on_nonfinite=on_nonfinite)


def run_engine(data: Path, out: Path, model: Path, *, observers: list | None = None, **overrides):
    """Prepare and run a real Engine headless in this thread; returns (engine, ended event)."""
    engine = tiny_engine(data, out, model, **{"max_steps": 6, **overrides})
    engine.observers.extend(observers or [])
    return engine, engine.run()


UI_TESTS = Path(__file__).parent / "ui"


@pytest.fixture(autouse=True)
def _one_terminal_for_ui_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI tests see one terminal, whatever terminal runs pytest: a 256-colour xterm with true colour.

    The cockpit picks its marks' colours by the terminal's colour depth (`cockpit.ui.look.low_colour`)
    and its glyphs by `TERM` (`TERM=linux` draws ASCII), so a CI job without `TERM`, or the Linux
    console, would draw other screens than the snapshots hold. A test that wants another terminal
    sets it itself (monkeypatch), after this.
    """
    if UI_TESTS not in Path(str(request.node.fspath)).parents:
        return
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLORTERM", "truecolor")
    for name in ("NO_COLOR", "COCKPIT_ASCII", "TEXTUAL_COLOR_SYSTEM"):
        monkeypatch.delenv(name, raising=False)
