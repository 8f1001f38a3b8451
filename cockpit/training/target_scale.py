"""`--normalize-targets`: regression targets on a scale a fresh head would fight (mean 2,500, std 900).

The head's last linear layer learns z-scores, z = (y - mean) / std of the training targets, and a
forward hook turns its output back into the user's units: y = z * std + mean. So the loss, the
pinned predictions, the metrics and the constant predictor all stay in the user's units, while the
parameters the optimizer moves see targets of unit scale (a head starting near 0 is then at most a
few standard deviations off, not 2,500 units). The saved model has the scale folded into that layer
(weight * std, bias * std + mean), so `pipeline()` returns scores in the user's units with no hook.
Checkpoints keep the unfolded weights; a resume re-attaches the same hook (the training targets give
the same mean and std), so it stays bit-exact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from cockpit.contract.errors import CockpitError
from cockpit.training.model import output_layer


class OutputScale:
    """The hook that maps the head's z-scores to the user's units, and the folding for a saved model."""

    def __init__(self, model: nn.Module, mean: float, std: float) -> None:
        layer = output_layer(model)
        if layer is None or layer.out_features != 1 or layer.bias is None:
            raise CockpitError("--normalize-targets: the model's head has no one-output linear layer to scale")
        self.layer = layer
        self.mean, self.std = float(mean), float(std) if std > 0 else 1.0
        layer.register_forward_hook(self._scale)

    def _scale(self, _module: nn.Module, _args: tuple, output: torch.Tensor) -> torch.Tensor:
        return output * self.std + self.mean

    @contextlib.contextmanager
    def folded(self) -> Iterator[None]:
        """While saving: the scale folded into the output layer's weights (so the file holds a model in the
        user's units), put back bit for bit afterwards. No forward may run inside (the hook would scale twice)."""
        layer = self.layer
        weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
        with torch.no_grad():
            layer.weight.mul_(self.std)
            layer.bias.mul_(self.std).add_(self.mean)
        try:
            yield
        finally:
            with torch.no_grad():
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)
