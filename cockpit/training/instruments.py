"""Measurements taken during training, built so that they do not slow it down.

Per-layer norms use fused `torch._foreach_norm` over all tensors at once and reduce to layer
groups on the device, so a step's numbers reach the host in one transfer. Predictions (pinned
examples and evaluation) go through `predict`, the same code path inference uses: eval mode, no
grad, sigmoid for multilabel and softmax otherwise, as `pipeline("text-classification")` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cockpit.contract.events import EvalResult, LayerStats, PinPredictions, StepMetrics
from cockpit.training.model import LayerGroup

THRESHOLD = 0.5


def training_loss(
    logits: torch.Tensor, targets: torch.Tensor, task: str, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss over the batch: BCE-with-logits for multilabel (positives weighed by `pos_weight`),
    cross-entropy otherwise."""
    logits = logits.float()
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)
    return F.cross_entropy(logits, targets.argmax(dim=1))


POS_WEIGHT_CAP = 100.0  # a label with 1 positive in 1,000 rows weighs 100, not 999: one row must not steer the head


def positive_weights(targets: Any, spec: str) -> torch.Tensor | None:
    """BCE `pos_weight` per label from `auto` (negatives/positives in these rows, capped; a label with
    no positive row keeps 1), a number (every label), or `off` (None: plain BCE).

    Seed 000's trap: with 15 rare labels, "no" everywhere already gives a low loss; weighing each
    label's positives by its negatives/positives makes a missed positive cost as much as all the
    rows it is outnumbered by."""
    if spec == "off":
        return None
    if spec != "auto":
        return torch.full((targets.shape[1],), float(spec))
    if isinstance(targets, torch.Tensor):
        positives = (targets >= 0.5).float().sum(dim=0)
    else:  # a data.LabelMatrix: per-label counts, without a dense [rows, labels] matrix
        positives = torch.as_tensor(np.asarray(targets.sum(axis=0)), dtype=torch.float32)
    negatives = targets.shape[0] - positives
    weights = torch.where(positives > 0, negatives / positives.clamp(min=1), torch.ones_like(positives))
    return weights.clamp(max=POS_WEIGHT_CAP)


def per_row_loss(logits: torch.Tensor, targets: torch.Tensor, task: str) -> torch.Tensor:
    logits = logits.float()
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=1)
    return F.cross_entropy(logits, targets.argmax(dim=1), reduction="none")


def probabilities(logits: torch.Tensor, task: str) -> torch.Tensor:
    logits = logits.float()
    return torch.sigmoid(logits) if task == "multilabel" else torch.softmax(logits, dim=-1)


# The update is measured on every 8th row of each large matrix. An exact ||w_after - w_before||
# reads and writes the weights about as often as AdamW's own step does (a copy, a subtraction and
# two norms): 3% of a MiniLM step on CPU and 9% of a roberta-large one at batch 4, and the copy held
# +21% of peak memory there. Every 8th row costs an eighth of that. Rows, not elements, so each
# read is contiguous. On real MiniLM training the estimate is within 5% of the exact value at lr
# 5e-5 and 9% at 3e-4 (benchmarks/sampled_update.py). Tensors under 65,536 elements (biases, norms,
# small heads) are measured whole, so a head that does not move reads exactly 0. The weight norm
# is read from the same rows, so the ratio compares like with like.
SAMPLE_EVERY = 8
SAMPLE_ABOVE = 65_536


class GroupNorms:
    """Per-layer-group gradient norm, weight norm and relative update, fused on the device.

    The lists of tensors are cached and rebuilt only when the frozen set changes, so a step does
    no Python work per parameter beyond gathering the gradients.
    """

    def __init__(
        self,
        groups: list[LayerGroup],
        device: torch.device,
        keep_snapshot: bool | None = None,
        sample_above: int = SAMPLE_ABOVE,
    ) -> None:
        self.names = [g.name for g in groups]
        self.params = [p for g in groups for p in g.params]
        self.group_index = torch.tensor([i for i, g in enumerate(groups) for _ in g.params], device=device)
        # What the weight norm and the update read of each tensor (views: they follow the
        # optimizer's in-place updates), and what a sum of squares over it is multiplied by.
        self._measured = [measured_rows(p.detach(), sample_above) for p in self.params]
        self._scale = torch.tensor([p.numel() / m.numel() for p, m in zip(self.params, self._measured)], device=device)
        # Where the copy taken before each update lives. On the CPU a fresh copy is mostly page
        # faults (blocks that large are mmapped and handed back on free), so a buffer is kept. On
        # CUDA the caching allocator makes a fresh copy cheap, and it is freed before the next
        # forward pass, so it adds nothing to the peak there.
        self.keep_snapshot = device.type == "cpu" if keep_snapshot is None else keep_snapshot
        self._buffer: list[torch.Tensor] | None = None  # allocated at the first update, dropped by refresh()
        self._snapshot: list[torch.Tensor] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Call after freezing or unfreezing: which tensors the optimizer can move."""
        self._trainable = [i for i, p in enumerate(self.params) if p.requires_grad]
        self._trainable_index = self.group_index[self._trainable] if self._trainable else self.group_index[:0]
        self._trainable_scale = self._scale[self._trainable] if self._trainable else self._scale[:0]
        self._trainable_measured = [self._measured[i] for i in self._trainable]
        self._buffer = None  # sized to the trainable set: frozen weights need no copy

    @property
    def snapshot_size(self) -> int:
        """Elements the kept copy holds (0 until the first update, or when copies are fresh)."""
        return sum(t.numel() for t in self._buffer) if self._buffer else 0

    def _by_group(
        self, norms: list[torch.Tensor], index: torch.Tensor, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Sum of squares per group, then the root: each group's norm over all its tensors."""
        squares = torch.zeros(len(self.names), device=self.group_index.device, dtype=torch.float32)
        if norms:
            per_tensor = torch.stack(norms).float().pow(2)
            squares.index_add_(0, index, per_tensor if scale is None else per_tensor * scale)
        return squares.sqrt()

    def gradient_norms(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(per-group norms, the gradient tensors). Frozen tensors have grad None and count 0."""
        with_grad = [i for i in self._trainable if self.params[i].grad is not None]
        grads = [self.params[i].grad for i in with_grad]
        norms = torch._foreach_norm(grads) if grads else []
        index = self.group_index[with_grad] if len(with_grad) != len(self._trainable) else self._trainable_index
        return self._by_group(list(norms), index), grads

    def before_update(self) -> None:
        """Copy the measured rows of the trainable weights, to subtract after the step."""
        measured = self._trainable_measured
        if not self.keep_snapshot:
            self._snapshot = torch._foreach_mul(measured, 1.0)
            return
        if self._buffer is None:
            self._buffer = [m.clone() for m in measured]
        else:
            torch._foreach_copy_(self._buffer, measured)
        self._snapshot = self._buffer

    def update_norms(self) -> torch.Tensor:
        """[relative update per group, weight norm per group] (both from the measured rows), on the device."""
        weights = self._by_group(list(torch._foreach_norm(self._measured)), self.group_index, self._scale)
        updates = torch.zeros_like(weights)
        if self._snapshot:
            torch._foreach_sub_(self._snapshot, self._trainable_measured)  # the buffer is refilled next step
            norms = list(torch._foreach_norm(self._snapshot))
            updates = self._by_group(norms, self._trainable_index, self._trainable_scale)
            self._snapshot = None
        ratio = updates / weights.clamp_min(1e-30)
        return torch.cat([ratio, weights])


def significant(value: float, digits: int = 6) -> float:
    """`value` to `digits` significant digits (NaN and inf as they are)."""
    return float(f"{value:.{digits}g}")


@dataclass
class PendingStep:
    """A step's numbers, waiting for its update sizes, which reach the host with the next step's
    transfer (so measuring them costs no device sync of its own).

    The per-group numbers (and the throughput) keep 6 significant digits: the relative update is
    read from sampled rows, within 5-9% of the exact value, the norms are drawn as sparklines, and
    the samples/s is noisy far above that; the other 11 digits carried no information and were a
    third of a step's journal line. Rounded here, before the event exists, so a live view and a
    replay of the journal see the same numbers.
    """

    step: int
    loss: float
    lr: float
    grad_norm: float
    group_grads: list[float]
    frozen: frozenset[str]
    epoch: float = 0.0
    samples_per_s: float = 0.0
    update: torch.Tensor | None = None  # on the device: update ratios, then weight norms, per group
    skipped: bool = False  # a non-finite step: no update was applied

    def metrics(
        self, group_names: list[str], update_values: list[float] | None, micro_batch: int, effective_batch: int
    ) -> StepMetrics:
        """The journal's StepMetrics, given the update sizes (ratios, then weight norms, per group)
        once they are on the host; a skipped step moved nothing and has no weight norms."""
        count = len(group_names)
        if self.skipped or update_values is None:
            update_values = [0.0] * count + [float("nan")] * count
        layers = {
            name: LayerStats(
                grad_norm=significant(self.group_grads[i]),
                weight_norm=significant(update_values[count + i]),
                update_ratio=significant(update_values[i]),
                frozen=name in self.frozen,
            )
            for i, name in enumerate(group_names)
        }
        return StepMetrics(
            step=self.step,
            epoch=self.epoch,
            loss=self.loss,
            lr=self.lr,
            samples_per_s=significant(self.samples_per_s),
            grad_norm=self.grad_norm,
            layers=layers,
            micro_batch=micro_batch,
            effective_batch=effective_batch,
        )


def measured_rows(weight: torch.Tensor, sample_above: int = SAMPLE_ABOVE) -> torch.Tensor:
    """What the update measure reads of a weight: every 8th row of a large matrix, else all of it."""
    if weight.dim() >= 2 and weight.numel() >= sample_above and weight.shape[0] >= 2 * SAMPLE_EVERY:
        return weight[::SAMPLE_EVERY]
    return weight


def clip_gradients(grads: list[torch.Tensor], total_norm: float, max_norm: float) -> None:
    """Scale gradients in place so their total norm is at most `max_norm` (as clip_grad_norm_)."""
    if grads and max_norm > 0 and total_norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (total_norm + 1e-6))


@dataclass
class Predictions:
    probs: np.ndarray  # [rows, labels]
    losses: np.ndarray  # [rows]

    def pinned(self, step: int) -> PinPredictions:
        """The pinned examples' predictions as the journal keeps them."""
        return PinPredictions(
            step=step, probs=self.probs.round(5).tolist(), losses=self.losses.tolist(), loss=float(self.losses.mean())
        )


def evaluation_result(
    probs: np.ndarray,
    targets: np.ndarray,
    train_targets: Any,
    task: str,
    label_names: list[str],
    *,
    step: int,
    epoch: float,
    loss: float,
    extra_metrics: dict[str, float] | None = None,
) -> EvalResult:
    """An evaluation judged one way wherever it ran (cockpit's own eval, or a Trainer's seen by the
    callback): metrics, per-label F1, both distributions, the baselines a constant predictor gets,
    and for multilabel the best threshold per label."""
    metrics, per_label, predicted, truth = classification_metrics(probs, targets, task, label_names)
    return EvalResult(
        step=step,
        epoch=epoch,
        loss=loss,
        metrics={**metrics, **(extra_metrics or {})},
        per_label_f1=per_label,
        predicted_distribution=predicted,
        true_distribution=truth,
        baselines={
            "majority_accuracy": majority_accuracy(targets, task),
            "constant_loss": constant_loss(train_targets, targets, task),
        },
        rows=len(targets),
        thresholds=best_thresholds(probs, targets, label_names) if task == "multilabel" else {},
    )


def predict(
    model: nn.Module,
    encode,  # callable(list[str]) -> dict of tensors on the device
    texts: list[str],
    targets: np.ndarray,
    task: str,
    batch_size: int = 64,
    autocast: torch.autocast | None = None,
) -> Predictions:
    """Predict as inference does (eval mode, no grad), then put the model back as it was."""
    was_training = model.training
    model.eval()
    probs, losses = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = encode(texts[start : start + batch_size])
                if autocast is not None:
                    with autocast:
                        logits = model(**batch).logits
                else:
                    logits = model(**batch).logits
                target = torch.as_tensor(targets[start : start + batch_size], device=logits.device)
                probs.append(probabilities(logits, task).cpu())
                losses.append(per_row_loss(logits, target, task).cpu())
    finally:
        model.train(was_training)
    return Predictions(torch.cat(probs).numpy(), torch.cat(losses).numpy())


# ---------------------------------------------------------------------------------------------
# Metrics and baselines (numpy, on the host)
# ---------------------------------------------------------------------------------------------


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def constant_loss(train_targets: np.ndarray, targets: np.ndarray, task: str) -> float:
    """The loss of always predicting the training label frequencies: the bar to beat."""
    eps = 1e-7
    prior = np.clip(np.asarray(train_targets.mean(axis=0), dtype=np.float64), eps, 1 - eps)
    share = np.asarray(targets.mean(axis=0), dtype=np.float64)  # the loss is linear in the targets: shares suffice
    if task == "multilabel":
        return float(-(share * np.log(prior) + (1 - share) * np.log(1 - prior)).mean())
    prior = prior / prior.sum()
    return float(-(share * np.log(prior)).sum())


def classification_metrics(
    probs: np.ndarray, targets: np.ndarray, task: str, label_names: list[str]
) -> tuple[dict[str, float], dict[str, float], dict[str, int], dict[str, int]]:
    """(metrics, per-label F1, predicted distribution, true distribution)."""
    if task == "multilabel":
        predicted = (probs >= THRESHOLD).astype(np.float32)
        truth = targets
    else:
        predicted = np.eye(probs.shape[1], dtype=np.float32)[probs.argmax(axis=1)]
        truth = np.eye(targets.shape[1], dtype=np.float32)[targets.argmax(axis=1)]
    tp = (predicted * truth).sum(axis=0)
    fp = (predicted * (1 - truth)).sum(axis=0)
    fn = ((1 - predicted) * truth).sum(axis=0)
    per_label = _f1(tp, fp, fn)
    micro = float(_f1(tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True))[0])
    metrics = {"micro_f1": micro, "macro_f1": float(per_label.mean())}
    if task == "multilabel":
        metrics["accuracy"] = float((predicted == truth).mean())  # label-wise (Hamming) accuracy
        metrics["exact_match"] = float((predicted == truth).all(axis=1).mean())
    else:
        metrics["accuracy"] = float((predicted * truth).sum(axis=1).mean())
        if task == "binary":
            metrics["f1"] = float(per_label[1])
    names = label_names
    return (
        metrics,
        {n: float(v) for n, v in zip(names, per_label)},
        {n: int(v) for n, v in zip(names, predicted.sum(axis=0))},
        {n: int(v) for n, v in zip(names, truth.sum(axis=0))},
    )


def majority_accuracy(targets: np.ndarray, task: str) -> float:
    """Accuracy of the best constant prediction (seed 003's 0.4908)."""
    if task == "multilabel":
        share = targets.mean(axis=0)
        return float(np.maximum(share, 1 - share).mean())
    return float(targets.mean(axis=0).max())


def best_thresholds(probs: np.ndarray, targets: np.ndarray, label_names: list[str]) -> dict[str, dict[str, float]]:
    """Per label, the threshold on a 0.05 grid that maximises F1 on the eval split."""
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    result = {}
    for j, name in enumerate(label_names):
        truth = targets[:, j] > 0.5
        scores = []
        for t in grid:
            pred = probs[:, j] >= t
            tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
            scores.append(float(_f1(np.array([tp]), np.array([fp]), np.array([fn]))[0]))
        best = int(np.argmax(scores))
        at_half = scores[int(np.argmin(np.abs(grid - THRESHOLD)))]
        result[name] = {"threshold": float(grid[best]), "f1": scores[best], "f1_at_half": at_half}
    return result


def is_finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)
