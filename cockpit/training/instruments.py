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
from cockpit.training.model import AdaptedWeight, LayerGroup

THRESHOLD = 0.5


def training_loss(
    logits: torch.Tensor, targets: torch.Tensor, task: str, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss over the batch, as HF's sequence classifiers compute it for the config's problem type:
    BCE-with-logits for multilabel (positives weighed by `pos_weight`), mean squared error for
    regression (one output), cross-entropy otherwise."""
    logits = logits.float()
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)
    if task == "regression":
        return F.mse_loss(logits.reshape(-1), targets.reshape(-1).float())
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
    if task == "regression":
        return (logits.reshape(-1) - targets.reshape(-1).float()).pow(2)
    return F.cross_entropy(logits, targets.argmax(dim=1), reduction="none")


def probabilities(logits: torch.Tensor, task: str) -> torch.Tensor:
    """What inference reports per label, as `pipeline("text-classification")` computes it: sigmoid for
    multilabel, softmax for classes, and for regression the predicted value itself (no function)."""
    logits = logits.float()
    if task == "regression":
        return logits[..., :1]
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

    A LoRA-adapted weight W (cockpit.training.model.AdaptedWeight) is measured as the weight its
    layer computes with, W + s·B·A: its update is the step's change of the adapter's contribution,
    ‖s·(B′A′ − BA)‖, and its weight is ‖W‖ (the base weight), so a LoRA group's relative update is
    ‖Δ(s·BA)‖ / ‖W‖ over its adapted weights: the same ratio full fine-tuning shows, read from the
    same every-8th rows. (Were W itself trained too, by `full=`, its own change ‖ΔW‖ is added in
    squares, without the small cross term.) Gradient norms are the adapters' own (A and B).
    """

    def __init__(
        self,
        groups: list[LayerGroup],
        device: torch.device,
        keep_snapshot: bool | None = None,
        sample_above: int = SAMPLE_ABOVE,
    ) -> None:
        self.groups, self.device, self.sample_above = groups, device, sample_above
        # Where the copy taken before each update lives. On the CPU a fresh copy is mostly page
        # faults (blocks that large are mmapped and handed back on free), so a buffer is kept. On
        # CUDA the caching allocator makes a fresh copy cheap, and it is freed before the next
        # forward pass, so it adds nothing to the peak there.
        self.keep_snapshot = device.type == "cpu" if keep_snapshot is None else keep_snapshot
        self.regroup()

    def regroup(self) -> None:
        """Call after a group's parameters changed (`full=` moves base weights into a LoRA group)."""
        groups, device = self.groups, self.device
        self.names = [g.name for g in groups]
        self.params = [p for g in groups for p in g.params]
        self.group_index = torch.tensor([i for i, g in enumerate(groups) for _ in g.params], device=device)
        # What the weight norm and the update read of each tensor (views: they follow the
        # optimizer's in-place updates), and what a sum of squares over it is multiplied by.
        self._measured = [measured_rows(p.detach(), self.sample_above) for p in self.params]
        self._scale = torch.tensor([p.numel() / m.numel() for p, m in zip(self.params, self._measured)], device=device)
        # An adapter's A and B are measured as the change of s·B·A (its adapted weight), not one by one;
        # a base weight under an adapter counts once in the weight norm: as its adapter's reference.
        adapters = {id(t) for g in groups for a in g.adapted for t in (a.up, a.down)}
        self._bases = {id(a.base) for g in groups for a in g.adapted}
        self._plain = [i for i, p in enumerate(self.params) if id(p) not in adapters]
        self.adapted = [(i, a) for i, g in enumerate(groups) for a in g.adapted]
        self._adapted_rows = [adapted_rows(a, self.sample_above) for _, a in self.adapted]
        self._adapted_index = torch.tensor([i for i, _ in self.adapted], dtype=torch.long, device=device)
        self._adapted_scale = torch.tensor(
            [_oriented(a).numel() / rows.numel() for (_, a), (rows, _) in zip(self.adapted, self._adapted_rows)],
            device=device,
        )
        self._buffer: list[torch.Tensor] | None = None  # allocated at the first update, dropped by refresh()
        self._snapshot: list[torch.Tensor] | None = None
        self._adapter_snapshot: list[torch.Tensor] | None = None
        self._weights_before = torch.zeros(len(self.names), device=device)  # squares, set by before_update
        self.refresh()

    def refresh(self) -> None:
        """Call after freezing or unfreezing: which tensors the optimizer can move."""
        self._trainable = [i for i, p in enumerate(self.params) if p.requires_grad]
        self._trainable_index = self.group_index[self._trainable]
        moving = [i for i in self._plain if self.params[i].requires_grad]  # what the update is read from
        self._moving_index, self._moving_scale = self.group_index[moving], self._scale[moving]
        self._moving_measured = [self._measured[i] for i in moving]
        # The weight norm of a moving tensor is read from its copy (contiguous, just written, so
        # cheap to read again) and of a still one from the tensor; a LoRA base counts as its adapter's.
        weighed = {i for i in self._plain if id(self.params[i]) not in self._bases}
        self._copied_weighed = [k for k, i in enumerate(moving) if i in weighed]
        copied = [moving[k] for k in self._copied_weighed]
        self._copied_index, self._copied_scale = self.group_index[copied], self._scale[copied]
        # A frozen weight stays bit-identical, so its norm is read once per freeze, not every step.
        still = [i for i in self._plain if i in weighed and not self.params[i].requires_grad]
        self._still = [self._measured[i] for i in still]
        self._still_index, self._still_scale = self.group_index[still], self._scale[still]
        self._still_squares: torch.Tensor | None = None
        self._training_adapters = [k for k, (_, a) in enumerate(self.adapted) if a.up.requires_grad]
        self._training_adapter_index = self._adapted_index[self._training_adapters]
        self._training_adapter_scale = self._adapted_scale[self._training_adapters]
        self._buffer = None  # sized to the trainable set: frozen weights need no copy

    @property
    def snapshot_size(self) -> int:
        """Elements the kept copy holds (0 until the first update, or when copies are fresh)."""
        return sum(t.numel() for t in self._buffer) if self._buffer else 0

    def _by_group(
        self, norms: list[torch.Tensor], index: torch.Tensor, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Sum of squares per group (not yet the root): each group's squared norm over all its tensors."""
        squares = torch.zeros(len(self.names), device=self.group_index.device, dtype=torch.float32)
        if norms:
            per_tensor = torch.stack(norms).float().pow(2)
            squares.index_add_(0, index, per_tensor if scale is None else per_tensor * scale)
        return squares

    def gradient_norms(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(per-group norms, the gradient tensors). Frozen tensors have grad None and count 0."""
        with_grad = [i for i in self._trainable if self.params[i].grad is not None]
        grads = [self.params[i].grad for i in with_grad]
        norms = torch._foreach_norm(grads) if grads else []
        index = self.group_index[with_grad] if len(with_grad) != len(self._trainable) else self._trainable_index
        return self._by_group(list(norms), index).sqrt(), grads

    def before_update(self) -> None:
        """Copy the measured rows of the trainable weights, to subtract after the step, and read
        their norm from the copy: the ratio's denominator is the weight the step starts from."""
        self._adapter_snapshot = self._adapter_products(self._training_adapters)
        measured = self._moving_measured
        if not self.keep_snapshot:
            self._snapshot = torch._foreach_mul(measured, 1.0)
        elif self._buffer is None:
            self._snapshot = self._buffer = [m.clone() for m in measured]
        else:
            torch._foreach_copy_(self._buffer, measured)
            self._snapshot = self._buffer
        copies = [self._snapshot[k] for k in self._copied_weighed]
        norms = list(torch._foreach_norm(copies)) if copies else []
        self._weights_before = self._by_group(norms, self._copied_index, self._copied_scale)

    def _adapter_products(self, which: list[int]) -> list[torch.Tensor]:
        """s·B·A on the measured rows, for the adapters `which` (k-th of self.adapted)."""
        with torch.no_grad():
            return [self._adapted_rows[k][1]() for k in which]

    def update_norms(self) -> torch.Tensor:
        """[relative update per group, weight norm per group] (both from the measured rows, the
        weights as the step found them), on the device. Call after `before_update` and the step."""
        if self._still_squares is None:
            norms = list(torch._foreach_norm(self._still)) if self._still else []
            self._still_squares = self._by_group(norms, self._still_index, self._still_scale)
        weights = self._weights_before + self._still_squares
        if self.adapted:
            bases = list(torch._foreach_norm([rows for rows, _ in self._adapted_rows]))
            weights = weights + self._by_group(bases, self._adapted_index, self._adapted_scale)
        updates = torch.zeros_like(weights)
        if self._snapshot:
            torch._foreach_sub_(self._snapshot, self._moving_measured)  # the buffer is refilled next step
            norms = list(torch._foreach_norm(self._snapshot))
            updates = self._by_group(norms, self._moving_index, self._moving_scale)
            self._snapshot = None
        if self._adapter_snapshot:
            after = self._adapter_products(self._training_adapters)
            torch._foreach_sub_(after, self._adapter_snapshot)
            norms = list(torch._foreach_norm(after))
            updates = updates + self._by_group(norms, self._training_adapter_index, self._training_adapter_scale)
            self._adapter_snapshot = None
        weights = weights.sqrt()
        ratio = updates.sqrt() / weights.clamp_min(1e-30)
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


def _oriented(adapted: AdaptedWeight) -> torch.Tensor:
    """The base weight as [out, in], the layout of B·A (GPT-2's Conv1D stores it transposed)."""
    base = adapted.base.detach()
    return base.t() if adapted.transposed else base


def adapted_rows(adapted: AdaptedWeight, sample_above: int = SAMPLE_ABOVE):
    """(the measured rows of an adapted base weight, a function computing s·B·A on the same rows).

    Rows are sampled as `measured_rows` samples a weight, so a LoRA group's ratio reads what full
    fine-tuning's would."""
    base = _oriented(adapted)
    rows = measured_rows(base, sample_above)
    step = SAMPLE_EVERY if rows.shape[0] != base.shape[0] else 1
    up, down, scaling = adapted.up, adapted.down, adapted.scaling
    return rows, lambda: (up.detach()[::step] @ down.detach()).float().mul_(scaling)


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
    and for multilabel the best threshold per label. Regression: MSE, MAE, Pearson and Spearman, beside
    the constant predictor (the training targets' mean) and its MSE."""
    if task == "regression":
        metrics, baselines = regression_metrics(probs, targets), regression_baselines(train_targets, targets)
        # R^2 against the constant predictor (the training mean): 0 = no better than it, 1 = perfect
        metrics["r2"] = 1 - metrics["mse"] / baselines["constant_mse"] if baselines["constant_mse"] > 0 else 0.0
        return EvalResult(
            step=step, epoch=epoch, loss=loss, metrics={**metrics, **(extra_metrics or {})}, per_label_f1={},
            predicted_distribution={}, true_distribution={}, baselines=baselines, rows=len(targets),
        )  # fmt: skip
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
    encode,  # callable(texts, pairs or None) -> dict of tensors on the device
    texts: list[str],
    targets: np.ndarray,
    task: str,
    batch_size: int = 64,
    autocast: torch.autocast | None = None,
    pairs: list[str] | None = None,
) -> Predictions:
    """Predict as inference does (eval mode, no grad), then put the model back as it was; `pairs`: the
    second segments of sentence pairs."""
    was_training = model.training
    model.eval()
    probs, losses = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = encode(texts[start : start + batch_size], pairs[start : start + batch_size] if pairs else None)
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
    """The loss of always predicting the training label frequencies (regression: the training targets'
    mean, whose loss is the MSE around it): the bar to beat."""
    if task == "regression":
        return regression_baselines(train_targets, targets)["constant_loss"]
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


def regression_metrics(predicted: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """MSE, MAE, Pearson and Spearman correlation (STS-B's pair), and the spread of the predictions
    beside the targets' (the regression collapse rule reads both)."""
    guess = np.asarray(predicted, dtype=np.float64).reshape(-1)
    truth = np.asarray(targets, dtype=np.float64).reshape(-1)
    error = guess - truth
    return {
        "mse": float(np.mean(error**2)),
        "mae": float(np.mean(np.abs(error))),
        "pearson": _correlation(guess, truth),
        "spearman": _correlation(_ranks(guess), _ranks(truth)),
        "prediction_mean": float(guess.mean()),
        "prediction_std": float(guess.std()),
        "target_std": float(truth.std()),
    }


def target_spread(targets: Any) -> dict[str, float]:
    """Regression targets' mean, std, min and max (what RunStarted carries for the scale rule and panels)."""
    values = np.asarray(targets, dtype=np.float64).reshape(-1)
    if not len(values):
        return {}
    return {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
            "max": float(values.max())}  # fmt: skip


def regression_baselines(train_targets: Any, targets: Any) -> dict[str, float]:
    """The constant predictor of regression: the training targets' mean, and its MSE on `targets`."""
    mean = float(np.asarray(train_targets, dtype=np.float64).mean())
    truth = np.asarray(targets, dtype=np.float64).reshape(-1)
    mse = float(np.mean((truth - mean) ** 2)) if len(truth) else 0.0
    return {"constant_prediction": mean, "constant_mse": mse, "constant_loss": mse}


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r; 0.0 where either side does not vary (a constant prediction correlates with nothing)."""
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (Spearman's correlation is Pearson's on these)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


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
