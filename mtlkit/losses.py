"""Task losses, for one network (:func:`task_loss`) and for a stack of networks (:func:`member_loss`),
and the non-finite check every training loop applies to them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mtlkit.data.base import TaskSpec


class TrainingDiverged(RuntimeError):
    """A task loss became NaN or infinite; raised instead of writing non-finite results."""


def task_loss(task: TaskSpec, out: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy for classification, mean squared error for regression."""
    if task.kind == "classification":
        return F.cross_entropy(out, target)
    return F.mse_loss(out, target)


def member_loss(task: TaskSpec, out: Tensor, target: Tensor) -> Tensor:
    """:func:`task_loss` of every member of a stack of networks: ``(n, B, k)`` outputs -> ``(n,)``."""
    n = out.shape[0]
    if task.kind == "classification":
        return (
            F.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1), reduction="none")
            .view(n, -1)
            .mean(1)
        )
    return (out - target.view_as(out)).pow(2).flatten(1).mean(1)


def check_finite(losses: Tensor, names: Sequence, where: str, noun: str = "task(s)") -> None:
    """Raise :class:`TrainingDiverged` naming ``names[i]`` for every non-finite ``losses[i]`` (``losses``
    is ``(len(names),)``, or ``(n, len(names))`` for a stack whose rows are named by ``names``)."""
    if torch.isfinite(losses).all():
        return
    flat = losses if losses.dim() == 1 else (~torch.isfinite(losses)).any(1).float() * math.inf
    bad = [n for n, v in zip(names, flat.tolist()) if not math.isfinite(v)]
    raise TrainingDiverged(f"non-finite loss for {noun} {bad} {where}; lower the learning rate")
