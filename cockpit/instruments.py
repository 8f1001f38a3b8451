"""Measurements taken during training, built so that they do not slow it down.

Per-layer norms use fused `torch._foreach_norm` over all tensors at once and reduce to layer
groups on the device, so a step's numbers reach the host in one transfer. Predictions (pinned
examples and evaluation) go through `predict`, the same code path inference uses: eval mode, no
grad, sigmoid for multilabel and softmax otherwise, as `pipeline("text-classification")` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cockpit.model import LayerGroup

THRESHOLD = 0.5


def training_loss(logits: torch.Tensor, targets: torch.Tensor, task: str) -> torch.Tensor:
    """Mean loss over the batch: BCE-with-logits for multilabel, cross-entropy otherwise."""
    logits = logits.float()
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, targets)
    return F.cross_entropy(logits, targets.argmax(dim=1))


def per_row_loss(logits: torch.Tensor, targets: torch.Tensor, task: str) -> torch.Tensor:
    logits = logits.float()
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=1)
    return F.cross_entropy(logits, targets.argmax(dim=1), reduction="none")


def probabilities(logits: torch.Tensor, task: str) -> torch.Tensor:
    logits = logits.float()
    return torch.sigmoid(logits) if task == "multilabel" else torch.softmax(logits, dim=-1)


class GroupNorms:
    """Per-layer-group gradient norm, weight norm and relative update, fused on the device.

    The lists of tensors are cached and rebuilt only when the frozen set changes, so a step does
    no Python work per parameter beyond gathering the gradients.
    """

    def __init__(self, groups: list[LayerGroup], device: torch.device, keep_snapshot: bool | None = None) -> None:
        self.names = [g.name for g in groups]
        self.params = [p for g in groups for p in g.params]
        self.group_index = torch.tensor([i for i, g in enumerate(groups) for _ in g.params], device=device)
        self._weights = [p.detach() for p in self.params]  # views: they follow the optimizer's in-place updates
        # Where the copy of the weights taken before each update lives. On the CPU a fresh copy is
        # mostly page faults (blocks that large are mmapped and handed back on free): 38 ms against
        # 6 ms into a kept buffer for MiniLM, so the buffer is kept, at the cost of one copy of the
        # trainable weights in RAM. On CUDA the caching allocator makes a fresh copy cheap, and it is
        # taken after the batch's activations are freed, so it is not held between steps there.
        self.keep_snapshot = device.type == "cpu" if keep_snapshot is None else keep_snapshot
        self._buffer: list[torch.Tensor] | None = None  # allocated at the first update, dropped by refresh()
        self._snapshot: list[torch.Tensor] | None = None
        self._trainable: list[int] = []
        self.refresh()

    def refresh(self) -> None:
        """Call after freezing or unfreezing: which tensors the optimizer can move."""
        self._trainable = [i for i, p in enumerate(self.params) if p.requires_grad]
        self._trainable_index = self.group_index[self._trainable] if self._trainable else self.group_index[:0]
        self._trainable_weights = [self._weights[i] for i in self._trainable]
        self._buffer = None  # sized to the trainable set: frozen weights need no copy

    def _by_group(self, norms: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        """Sum of squares per group, then the root: each group's norm over all its tensors."""
        squares = torch.zeros(len(self.names), device=self.group_index.device, dtype=torch.float32)
        if norms:
            squares.index_add_(0, index, torch.stack(norms).float().pow(2))
        return squares.sqrt()

    def gradient_norms(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(per-group norms, the gradient tensors). Frozen tensors have grad None and count 0."""
        with_grad = [i for i in self._trainable if self.params[i].grad is not None]
        grads = [self.params[i].grad for i in with_grad]
        norms = torch._foreach_norm(grads) if grads else []
        index = self.group_index[with_grad] if len(with_grad) != len(self._trainable) else self._trainable_index
        return self._by_group(list(norms), index), grads

    def before_update(self) -> None:
        """Copy the trainable weights, so the update can be measured exactly after the step."""
        weights = self._trainable_weights
        if not self.keep_snapshot:
            self._snapshot = torch._foreach_mul(weights, 1.0)
            return
        if self._buffer is None:
            self._buffer = [w.clone() for w in weights]
        else:
            torch._foreach_copy_(self._buffer, weights)
        self._snapshot = self._buffer

    def update_norms(self) -> torch.Tensor:
        """[relative update per group, weight norm per group], still on the device."""
        weights = self._by_group(list(torch._foreach_norm(self._weights)), self.group_index)
        updates = torch.zeros_like(weights)
        if self._snapshot:
            torch._foreach_sub_(self._snapshot, self._trainable_weights)  # the buffer is refilled next step
            updates = self._by_group(list(torch._foreach_norm(self._snapshot)), self._trainable_index)
            self._snapshot = None
        ratio = updates / weights.clamp_min(1e-30)
        return torch.cat([ratio, weights])


def clip_gradients(grads: list[torch.Tensor], total_norm: float, max_norm: float) -> None:
    """Scale gradients in place so their total norm is at most `max_norm` (as clip_grad_norm_)."""
    if grads and max_norm > 0 and total_norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (total_norm + 1e-6))


@dataclass
class Predictions:
    probs: np.ndarray  # [rows, labels]
    losses: np.ndarray  # [rows]


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
    prior = np.clip(train_targets.mean(axis=0), eps, 1 - eps)
    if task == "multilabel":
        per_label = -(targets * np.log(prior) + (1 - targets) * np.log(1 - prior))
        return float(per_label.mean())
    prior = prior / prior.sum()
    return float(-(targets * np.log(prior)).sum(axis=1).mean())


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
