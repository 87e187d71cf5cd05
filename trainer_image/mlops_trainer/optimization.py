"""Optimizer and loss builders from the model spec."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.nn import functional

from mlops_core.training_spec import LossName, OptimizerSpec

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_optimizer(
    spec: OptimizerSpec, params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    if spec.name == "adamw":
        return torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    return torch.optim.SGD(
        params, lr=spec.learning_rate, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


def _binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return functional.binary_cross_entropy_with_logits(logits[:, 0], targets.to(logits.dtype))


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return functional.cross_entropy(logits, targets)


def loss_function(name: LossName) -> LossFunction:
    """Mean loss of logits against class indices (one logit for binary cross-entropy)."""
    return _binary_cross_entropy if name == "binary_cross_entropy" else _cross_entropy
