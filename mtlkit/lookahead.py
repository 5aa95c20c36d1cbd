"""Per-task gradients and lookahead losses: the computations transference, IT-MTL and the gradient
weightings are built on.

**Lookahead transference** of task ``i`` onto task ``j`` on a batch (Fifty et al. 2020, arXiv
2010.15413; TAG, arXiv 2109.04617)::

    Z(i -> j) = 1 - L_j(shared - lr * grad_shared L_i, heads) / L_j(shared, heads)

positive when a step on ``i`` alone lowers ``j``'s loss on the same batch. The lookahead step is a
*plain SGD step* of size ``lr`` on the shared parameters, whatever optimizer trains the model: Adam's
update depends on moment estimates accumulated from the *summed* loss, so "Adam's step on task ``i``
alone" is not defined, and the SGD step keeps ``Z`` a property of the loss surface (TAG's equation 1).
To first order ``Z(i -> j) = lr * g_i . g_j / L_j``: the sign is that of the gradients' inner product
and ``lr`` only scales it - but only while ``lr`` is small. The second-order term
``lr^2 g_i' H_j g_i / 2`` lowers every ``Z(i -> j)`` in proportion to the source's squared gradient;
study 04 measures when it dominates. All ``T`` lookaheads are evaluated at once (``torch.func.vmap``
over ``functional_call``), so tracking costs ``T`` gradients and ``T`` batched forward passes per
measured step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from mtlkit.data.base import TaskSpec
from mtlkit.losses import task_loss


def task_gradients(losses: Tensor, shared: Sequence[Tensor]) -> Tensor:
    """The ``(T, P)`` matrix of each task loss's gradient w.r.t. the flattened ``shared`` parameters.

    One batched backward pass (``is_grads_batched``); the graph is kept for the update that follows.
    """
    eye = torch.eye(len(losses), device=losses.device, dtype=losses.dtype)
    grads = torch.autograd.grad(
        losses,
        list(shared),
        grad_outputs=eye,
        is_grads_batched=True,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    return torch.cat([g.reshape(len(losses), -1) for g in grads], dim=1)


def _shared_named(model: nn.Module) -> dict[str, nn.Parameter]:
    """The model's shared parameters by name (those of ``model.shared_parameters()``)."""
    ids = {id(p) for p in model.shared_parameters()}
    named = {n: p for n, p in model.named_parameters() if id(p) in ids}
    if not named:
        raise ValueError(f"{model.__class__.__name__} has no shared parameters: transference is undefined")
    return named


def task_losses(model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec]) -> Tensor:
    """The ``(T,)`` losses of ``tasks`` on one batch."""
    out = model(x, [t.name for t in tasks])
    return torch.stack([task_loss(t, out[t.name], y[t.name]) for t in tasks])


def lookahead_losses(
    model: nn.Module,
    x: Tensor,
    y: dict[str, Tensor],
    tasks: Sequence[TaskSpec],
    directions: Tensor,
    lr: float,
) -> Tensor:
    """Every task's loss on ``(x, y)`` after the shared parameters move by ``-lr * directions[c]``.

    ``directions`` is ``(C, P)`` over the flattened shared parameters (in ``shared_parameters()``
    order); task heads are left as they are. Returns ``(C, T)``; the model is not modified.
    """
    named = _shared_named(model)
    names = [t.name for t in tasks]
    sizes = [p.numel() for p in named.values()]
    if directions.shape[1] != sum(sizes):
        raise ValueError(f"directions have {directions.shape[1]} entries, shared parameters {sum(sizes)}")

    def losses_after(direction: Tensor) -> Tensor:
        chunks = direction.split(sizes)
        params = {n: p.detach() - lr * d.view_as(p) for (n, p), d in zip(named.items(), chunks)}
        out = functional_call(model, params, (x, names), strict=False)
        return torch.stack([task_loss(t, out[t.name], y[t.name]) for t in tasks])

    with torch.no_grad():
        return vmap(losses_after)(directions.detach())


def _measure(
    model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec], lr: float
) -> tuple[Tensor, Tensor]:
    """Lookahead transference ``Z`` and the gradients' cosine similarity, both ``(T, T)``."""
    shared = list(_shared_named(model).values())
    losses = task_losses(model, x, y, tasks)
    grads = task_gradients(losses, shared).detach()
    after = lookahead_losses(model, x, y, tasks, grads, lr)
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return 1.0 - after / losses.detach().clamp_min(1e-12)[None, :], unit @ unit.T


def transference(
    model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec], lr: float
) -> Tensor:
    """The ``(T, T)`` lookahead transference ``Z[i, j]`` of source task ``i`` onto target ``j`` (module doc)."""
    return _measure(model, x, y, tasks, lr)[0]


class AffinityTracker:
    """A :func:`mtlkit.train.fit` monitor: lookahead transference every ``every`` training steps.

    Called before each update with the step's batch; it reads the model and never changes it (nor
    any random state), so training with and without tracking gives the same weights (tested).
    :meth:`table` returns tidy rows ``(step, epoch, source, target, Z, cos)``; ``cos`` is the cosine
    similarity of the two tasks' gradients on the shared parameters, the cheap baseline that ``Z``
    refines (to first order ``Z(i -> j) = lr * g_i . g_j / L_j``).
    """

    def __init__(self, tasks: Sequence[TaskSpec], every: int = 1, lr: float = 1e-3) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.tasks, self.every, self.lr = list(tasks), every, lr
        self._steps: list[int] = []
        self._epochs: list[int] = []
        self._z: list[Tensor] = []
        self._cos: list[Tensor] = []

    def __call__(self, step: int, epoch: int, model: nn.Module, x: Tensor, y: dict[str, Tensor]) -> None:
        if step % self.every:
            return
        self._steps.append(step)
        self._epochs.append(epoch)
        z, cos = _measure(model, x, y, self.tasks, self.lr)
        self._z.append(z.cpu())
        self._cos.append(cos.cpu())

    def table(self) -> pd.DataFrame:
        """Tidy rows ``(step, epoch, source, target, Z, cos)`` for every measured step and ordered pair."""
        names = [t.name for t in self.tasks]
        if not self._z:
            return pd.DataFrame(columns=["step", "epoch", "source", "target", "Z", "cos"])
        z = torch.stack(self._z).numpy()  # (S, T, T)
        S, T = len(self._z), len(names)
        src, tgt = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
        keep = (src != tgt).ravel()
        return pd.DataFrame(
            {
                "step": np.repeat(self._steps, T * T)[np.tile(keep, S)],
                "epoch": np.repeat(self._epochs, T * T)[np.tile(keep, S)],
                "source": np.tile(np.array(names)[src.ravel()][keep], S),
                "target": np.tile(np.array(names)[tgt.ravel()][keep], S),
                "Z": z.reshape(S, -1)[:, keep].ravel().astype(float),
                "cos": torch.stack(self._cos).numpy().reshape(S, -1)[:, keep].ravel().astype(float),
            }
        )
