"""Rows -> tensors: training batches tokenized when they are drawn, and an evaluation that scales.

Nothing here holds a token id per training row: a batch's texts are taken from the Arrow column
and tokenized together (truncation at --max-length, padding to the batch's longest row), which
costs ~1 ms for 16 short texts against a MiniLM step of ~1 s on CPU, and makes the time to the
first step independent of the file's size. The eval set is small (capped, see
`data.EVAL_ROWS_CAP`), so it is tokenized once, kept as flat int32 arrays, and predicted in
batches of similar length under `torch.inference_mode`.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from typing import Any

import numpy as np
import torch

from cockpit.data.labeled import LabeledTexts
from cockpit.training.instruments import Predictions, per_row_loss, probabilities

EVAL_BATCH_SIZE = 64
"""Rows per evaluation batch: no activations are kept for a backward pass, so 4x the default training
batch fits wherever training fits; sorted by length, a larger batch wastes no padding. On CPU the gain
from batching flattens out above ~32 rows; on CUDA larger is faster still (halved on out-of-memory)."""

PROGRESS_EVERY_S = 2.0
"""An evaluation shorter than this reports nothing; a longer one reports every this many seconds."""


def token_limit(tokenizer: Any, max_length: int) -> int:
    """--max-length, or the model's own limit when that is smaller."""
    return min(max_length, getattr(tokenizer, "model_max_length", max_length) or max_length)


def model_inputs(tokenizer: Any) -> set[str]:
    """The tokenizer outputs the model takes (`token_type_ids` for BERT-style pairs, none for RoBERTa),
    as `pipeline()` passes them."""
    return set(getattr(tokenizer, "model_input_names", None) or ("input_ids", "attention_mask"))


def spare_cores(device: torch.device) -> bool:
    """Whether tokenizing the next batch beside a step can take a core the step does not use: on
    CUDA the step runs on the device; on a CPU only when torch's threads leave a core free (on a
    machine whose every core trains, a second thread only takes one from the step)."""
    return device.type == "cuda" or (os.cpu_count() or 1) > torch.get_num_threads()


class Collator:
    """Texts (or sentence pairs) -> the model's inputs on the device, exactly as inference tokenizes them.

    A pair is encoded as the tokenizer's pair, `tokenizer(a, b)`: its separator between the segments,
    `token_type_ids` where the model has them, and `longest_first` truncation (the longer segment loses
    tokens first), as `pipeline({"text": a, "text_pair": b})` does.

    With `ahead`, the engine asks for the next step's batch early (`prefetch`) and it is tokenized in
    a thread of its own while the current step runs, with a tokenizer of its own (a fast tokenizer
    sets its truncation and padding on every call, so two threads must not share one). Tokenizing
    16 texts of a few hundred characters took 4-12 ms of a 0.4-1.1 s MiniLM step on CPU
    (benchmarks/README.md, user_path.py), and a larger share of a GPU's step.
    """

    def __init__(
        self, tokenizer: Any, max_length: int, device: torch.device | str = "cpu", ahead: bool = False
    ) -> None:
        self.tokenizer = tokenizer
        self.max_length = token_limit(tokenizer, max_length)
        self.device = torch.device(device)
        self.inputs = model_inputs(tokenizer)
        # Seconds spent drawing training batches (texts, tokens, targets) so far: the "data wait" of
        # the step-time split (training/system.py). Two clock reads a batch, well under a microsecond.
        self.seconds = 0.0
        self.ahead = ahead
        self._worker: ThreadPoolExecutor | None = None
        self._worker_tokenizer: Any = None
        self._pending: dict[tuple[int, ...], Future[Any]] = {}
        self.served_ahead = 0  # batches `rows` found tokenized already

    def _encode(self, tokenizer: Any, texts: Sequence[str], pairs: Sequence[str] | None) -> Any:
        return tokenizer(
            list(texts),
            list(pairs) if pairs is not None else None,
            padding=True,
            truncation="longest_first",
            max_length=self.max_length,
            return_tensors="pt",
        )

    def _on_device(self, batch: Any) -> dict[str, torch.Tensor]:
        return {key: value.to(self.device, non_blocking=True) for key, value in batch.items() if key in self.inputs}

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        return self._on_device(self._encode(self.tokenizer, texts, pairs))

    def rows(self, data: LabeledTexts, positions: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """The batch of `data`'s rows at `positions` (tokenized ahead if `prefetch` asked for it)."""
        started = time.perf_counter()
        pending = self._pending.pop(tuple(int(p) for p in positions), None)
        if pending is not None:
            self.served_ahead += 1
            batch = self._on_device(pending.result())
        else:
            batch = self(*data.batch_texts(positions))
        self.seconds += time.perf_counter() - started
        return batch

    def prefetch(self, data: LabeledTexts, positions: Sequence[int] | np.ndarray) -> None:
        """Start tokenizing the batch of `data`'s rows at `positions` for a later `rows` (with `ahead` only)."""
        key = tuple(int(p) for p in positions)
        if not self.ahead or key in self._pending:
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="cockpit-tokenize")
            self._worker_tokenizer = copy.deepcopy(self.tokenizer)
        while len(self._pending) >= 2:  # asked for and never used (a micro-batch halved on OOM): dropped
            self._pending.pop(next(iter(self._pending)))
        texts, pairs = data.batch_texts(key)
        self._pending[key] = self._worker.submit(self._encode, self._worker_tokenizer, texts, pairs)

    def close(self) -> None:
        """Stop the tokenizing thread (the run has ended)."""
        self._pending.clear()
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def targets(self, data: LabeledTexts, positions: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The rows' float32 one/multi-hot targets, densified for this batch only."""
        started = time.perf_counter()
        targets = torch.from_numpy(data.targets.dense(positions)).to(self.device, non_blocking=True)
        self.seconds += time.perf_counter() - started
        return targets


class EpochOrder:
    """The seeded shuffle of the training rows, drawn once per epoch (not per step): the only per-epoch
    work that grows with the data is this permutation (8 bytes a row, ~10 ms at 1M rows)."""

    def __init__(self, rows: int, seed: int) -> None:
        self.rows, self.seed = rows, seed
        self._epoch = -1
        self._order = torch.zeros(0, dtype=torch.int64)

    def batch(self, step: int, steps_per_epoch: int, batch_size: int) -> list[int]:
        """Rows of optimizer step `step` (0-based); depends only on the step, so resuming needs nothing else."""
        epoch, position = divmod(step, steps_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1000 + epoch)
            self._order, self._epoch = torch.randperm(self.rows, generator=generator), epoch
        return self._order[position * batch_size : (position + 1) * batch_size].tolist()


class RowTokens(Sequence[list[int]]):
    """Token ids by row, tokenized when asked (for code that indexes rows one by one, e.g. benchmarks)."""

    def __init__(self, data: LabeledTexts, tokenizer: Any, max_length: int) -> None:
        self.data, self.tokenizer = data, tokenizer
        self.max_length = token_limit(tokenizer, max_length)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, row):  # int -> list[int]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        text, pair = self.data.text_at(int(row))
        return self.tokenizer(text, pair, truncation="longest_first", max_length=self.max_length)["input_ids"]


def sample_token_lengths(data: LabeledTexts, tokenizer: Any, rows: int, seed: int) -> tuple[np.ndarray, bool]:
    """Untruncated token lengths (of the pair, for sentence pairs) of a seeded sample of `rows` rows (all
    when fewer); True if sampled."""
    total = len(data)
    if total <= rows:
        positions, sampled = np.arange(total), False
    else:
        positions, sampled = np.sort(np.random.default_rng(seed).choice(total, size=rows, replace=False)), True
    texts, pairs = data.batch_texts(positions)
    ids = tokenizer(texts, pairs, truncation=False, verbose=False)["input_ids"]
    return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)), sampled


class Evaluator:
    """Predicts one fixed eval set as inference does (eval mode, no grad), as fast as it can.

    - tokenized once, on the first evaluation, into flat int32 arrays (no Python list per row kept);
    - batches of similar length (sorted, longest first: a CUDA out-of-memory shows on the first batch),
      so padding costs almost nothing, at `batch_size` rows, halved on CUDA out-of-memory;
    - `torch.inference_mode`, one host transfer per batch;
    - `progress(done, total)` every `PROGRESS_EVERY_S` seconds of a long evaluation.
    Results come back in the eval set's row order.
    """

    def __init__(
        self,
        data: LabeledTexts,
        tokenizer: Any,
        max_length: int,
        device: torch.device | str = "cpu",
        batch_size: int | None = None,
    ) -> None:
        self.data = data
        self.tokenizer = tokenizer
        self.max_length = token_limit(tokenizer, max_length)
        self.device = torch.device(device)
        self.batch_size = batch_size or EVAL_BATCH_SIZE
        self.pad_id = tokenizer.pad_token_id or 0
        self.segments = "token_type_ids" in model_inputs(tokenizer) and data.second_texts is not None
        self._ids: np.ndarray | None = None  # all rows' token ids, end to end
        self._types: np.ndarray | None = None  # their segment ids (a pair's second segment: 1), if the model reads them
        self._starts: np.ndarray | None = None
        self._lengths: np.ndarray | None = None

    def _encode(self) -> None:
        chunks, types, lengths = [], [], []
        for start in range(0, len(self.data), 4096):
            texts, pairs = self.data.batch_texts(np.arange(start, min(start + 4096, len(self.data))))
            encoded = self.tokenizer(
                texts, pairs, truncation="longest_first", max_length=self.max_length, verbose=False
            )
            ids = encoded["input_ids"]
            lengths.append(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)))
            chunks.append(np.fromiter(chain.from_iterable(ids), dtype=np.int32))
            if self.segments:
                types.append(np.fromiter(chain.from_iterable(encoded["token_type_ids"]), dtype=np.int8))
        self._lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        self._ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
        self._types = np.concatenate(types) if types else None
        self._starts = np.concatenate([[0], np.cumsum(self._lengths)[:-1]]).astype(np.int64)

    def _batch(self, positions: np.ndarray) -> dict[str, torch.Tensor]:
        assert self._ids is not None and self._starts is not None and self._lengths is not None
        lengths = self._lengths[positions]
        width = int(lengths.max())
        input_ids = np.full((len(positions), width), self.pad_id, dtype=np.int64)
        mask = np.arange(width)[None, :] < lengths[:, None]
        gather = self._starts[positions][:, None] + np.arange(width)[None, :]
        input_ids[mask] = self._ids[gather[mask]]
        batch = {"input_ids": input_ids, "attention_mask": mask.astype(np.int64)}
        if self._types is not None:
            segments = np.zeros((len(positions), width), dtype=np.int64)
            segments[mask] = self._types[gather[mask]]
            batch["token_type_ids"] = segments
        return {key: torch.from_numpy(value).to(self.device, non_blocking=True) for key, value in batch.items()}

    def run(
        self,
        model: torch.nn.Module,
        task: str,
        autocast: contextlib.AbstractContextManager | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Predictions:
        if self._ids is None:
            self._encode()
        assert self._lengths is not None
        total = len(self.data)
        order = np.argsort(-self._lengths, kind="stable")
        probs = np.zeros((total, len(self.data.label_names)), dtype=np.float32)
        losses = np.zeros(total, dtype=np.float32)
        was_training = model.training
        model.eval()
        started = last_report = time.monotonic()
        done = 0
        try:
            with torch.inference_mode():
                while done < total:
                    positions = order[done : done + self.batch_size]
                    try:
                        batch = self._batch(positions)
                        with autocast if autocast is not None else contextlib.nullcontext():
                            logits = model(**batch).logits
                        logits = logits.float()
                        target = torch.from_numpy(self.data.targets.dense(positions)).to(logits.device)
                        both = torch.cat([probabilities(logits, task), per_row_loss(logits, target, task)[:, None]], 1)
                    except torch.cuda.OutOfMemoryError:
                        if self.batch_size == 1:
                            raise
                        self.batch_size = max(1, self.batch_size // 2)
                        torch.cuda.empty_cache()
                        continue
                    host = both.cpu().numpy()
                    probs[positions], losses[positions] = host[:, :-1], host[:, -1]
                    done += len(positions)
                    now = time.monotonic()
                    if progress is not None and now - last_report >= PROGRESS_EVERY_S and done < total:
                        last_report = now
                        progress(done, total)
        finally:
            model.train(was_training)
        self.seconds = time.monotonic() - started
        return Predictions(probs, losses)
