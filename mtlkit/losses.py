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


def check_ratio_losses(losses: object, names: Sequence[str]) -> None:
    """What lookahead transference ``Z = 1 - L_after / L`` needs of the losses ``L`` of tasks ``names``
    that a ``loss_fn`` returned: a ``(T,)`` tensor, finite (else :class:`TrainingDiverged`), computed with
    gradients (a tensor that requires grad: not under ``torch.no_grad()``, not detached) and positive (a
    ratio of losses means nothing for a loss at or below 0, e.g. a log-likelihood or a loss minus a
    constant)."""
    if not (torch.is_tensor(losses) and losses.shape == (len(names),)):
        got = tuple(losses.shape) if torch.is_tensor(losses) else type(losses).__name__
        raise ValueError(
            f"loss_fn must return a tensor of shape ({len(names)},), one loss per task of {list(names)}, got {got}"
        )
    check_finite(losses.detach(), names, "at the parameters being measured")
    if not losses.requires_grad:
        raise ValueError(
            "the losses do not require grad: compute them from the model's output with gradients enabled "
            "(not under torch.no_grad(), not .detach()ed)"
        )
    low = {n: float(v) for n, v in zip(names, losses.detach().tolist()) if not v > 0}
    if low:
        raise ValueError(
            f"losses {low} are not positive: transference divides by each loss, so give losses > 0 "
            "(cross-entropy, squared error; not a log-likelihood or a loss minus a constant)"
        )
