"""Grad-TAG's pieces as its authors' code has them (Li, Sharma, Zhang, KDD 2024, arXiv 2409.06091), beside
the linearised fit of :mod:`mtlkit.surrogates`.

- The projection (:func:`rademacher_projection`): entries ``+-1/sqrt(d)``, ``d`` directions (200 in the code).
- The fit (:func:`fit_steps`): per subset, a logistic regression of the labels on the projected output
  gradients alone (no base outputs as offset), with an unpenalised intercept and the code's L2 strength
  ``C``; its coefficients are the step ``w``.
- The evaluation (:func:`network_losses`): each subset's fitted ``w`` moves the real network to
  ``theta0 + P w``, and the task losses are read from that network, not from the linearised outputs.
- The selection (:func:`task_affinity`, :func:`cluster`): an affinity matrix from the subsets' estimated
  losses, and the partition into ``k`` groups that the code's semi-definite program relaxes (maximise
  ``trace(T X)`` over normalised cluster matrices ``X``), solved here exactly by enumeration.
- The estimand (:func:`finetuned_losses`): each subset's losses after fine-tuning the all-task model on
  it, what the estimates stand in for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.func import functional_call

from mtlkit.data.base import MultiTaskData
from mtlkit.grouping import network_name
from mtlkit.losses import task_loss
from mtlkit.models.batched import StackedNetworks
from mtlkit.train import fit_many

FIT_TOLERANCE = 1e-4
"""The fit stops when no component of its objective's gradient (mean loss per example) exceeds this: the
code's ``LogisticRegression`` default ``tol``."""
FIT_STEPS = 100
"""At most this many Newton steps per subset (each with a backtracking line search)."""
HESSIAN_REUSE = 3
"""Newton steps one Hessian serves while they are taken in full."""


def rademacher_projection(total: int, dim: int, seed: int) -> Tensor:
    """A ``(total, dim)`` matrix of independent ``+-1/sqrt(dim)`` entries (the code's projection)."""
    gen = torch.Generator().manual_seed(int(seed))
    signs = torch.randint(0, 2, (total, dim), generator=gen, dtype=torch.int64)
    return (2 * signs - 1).to(torch.float32) / dim**0.5


def moved_parameters(model: torch.nn.Module, step: Tensor) -> dict[str, Tensor]:
    """The model's parameters moved by the flat vector ``step`` (in ``named_parameters`` order)."""
    params, at = {}, 0
    for n, p in model.named_parameters():
        params[n] = p.detach() + step[at : at + p.numel()].view_as(p).to(p.device)
        at += p.numel()
    return params


def _task_terms(
    kind: str, jac: tuple[Tensor, Tensor], y: Tensor, w: Tensor, b: Tensor, hessian: bool
) -> tuple:
    """One task's summed loss of the outputs ``J w + b`` (``jac``: ``J`` in float64 and float32), its
    gradient in ``(w, b)`` and, with ``hessian``, the Hessian blocks ``(ww, wb, bb)`` (from the float32
    copy: they only steer the Newton step). A classification task's ``J`` holds its outputs' gradients
    relative to its first output's (the softmax depends on no more), whose logit is then 0."""
    j64, j32 = jac
    n, k, d = j64.shape
    z = (j64.reshape(-1, d) @ w).view(n, k) + b
    if kind == "classification":
        full = torch.nn.functional.pad(z, (1, 0))
        lse = torch.logsumexp(full, 1)
        loss = (lse - full[torch.arange(n, device=z.device), y]).sum()
        prob = torch.exp(z - lse[:, None])
        r = prob.clone()
        named = y > 0
        r[named.nonzero()[:, 0], y[named] - 1] -= 1.0
    else:
        loss = (z - y).pow(2).mean(1).sum()
        r = 2.0 * (z - y) / k
    grad = (j64.reshape(-1, d).T @ r.reshape(-1), r.sum(0))
    if not hessian:
        return loss, grad, None
    if kind == "classification":  # the sum over examples of J^T (diag p - p p^T) J
        p32 = prob.float()
        weighted = j32 * p32[..., None]
        mean = weighted.sum(1)
        blocks = (
            j32.reshape(-1, d).T @ weighted.reshape(-1, d) - mean.T @ mean,
            weighted.sum(0).T - mean.T @ p32,
            torch.diag(p32.sum(0)) - p32.T @ p32,
        )
    else:
        flat = j32.reshape(-1, d)
        blocks = (
            2.0 / k * flat.T @ flat,
            2.0 / k * j32.sum(0).T,
            2.0 / k * n * torch.eye(k, device=z.device),
        )
    return loss, grad, tuple(x.double() for x in blocks)


def _subset_terms(
    tasks: Sequence[tuple[str, tuple[Tensor, Tensor], Tensor]], c: float, x: Tensor, hessian: bool
) -> tuple:
    """The fit's objective for one subset (``tasks``: ``(kind, jac, labels)`` per member) at ``x = (w, b_1,
    ..., b_m)``: the mean loss per example plus ``|w|^2 / (2 c n)``, its gradient and, with ``hessian``, its
    Hessian."""
    d = tasks[0][1][0].shape[-1]
    w, *bs = torch.split(x, [d] + [jac[0].shape[1] for _, jac, _ in tasks])
    n = sum(jac[0].shape[0] for _, jac, _ in tasks)
    value, grad = w.dot(w) / (2 * c), [w / c]
    hess = torch.zeros(len(x), len(x), dtype=x.dtype, device=x.device) if hessian else None
    if hess is not None:
        hess[:d, :d] = torch.eye(d, dtype=x.dtype, device=x.device) / c
    at = d
    for (kind, jac, y), b in zip(tasks, bs):
        loss, (gw, gb), blocks = _task_terms(kind, jac, y, w, b, hessian)
        value, grad[0] = value + loss, grad[0] + gw
        grad.append(gb)
        if hess is not None:
            k = len(b)
            hess[:d, :d] += blocks[0]
            hess[:d, at : at + k] = blocks[1]
            hess[at : at + k, :d] = blocks[1].T
            hess[at : at + k, at : at + k] = blocks[2]
        at += len(b)
    return value / n, torch.cat(grad) / n, None if hess is None else hess / n


def _newton(tasks: Sequence[tuple[str, tuple[Tensor, Tensor], Tensor]], c: float) -> Tensor:
    """The minimiser of :func:`_subset_terms`, from 0, by Newton's method with a backtracking line search;
    a Hessian serves up to :data:`HESSIAN_REUSE` full steps (Shamanskii's variant: the gradient is exact at
    every step, so the minimiser is the same), and a shortened step asks for a fresh one."""
    size = tasks[0][1][0].shape[-1] + sum(jac[0].shape[1] for _, jac, _ in tasks)
    device = tasks[0][1][0].device
    x = torch.zeros(size, dtype=torch.float64, device=device)
    # a class absent from a task's training labels leaves its intercept without curvature
    floor = 1e-10 * torch.eye(size, dtype=torch.float64, device=device)
    factor, used = None, HESSIAN_REUSE
    for _ in range(FIT_STEPS):
        value, grad, hess = _subset_terms(tasks, c, x, used >= HESSIAN_REUSE)
        if grad.abs().max() <= FIT_TOLERANCE:
            break
        if hess is not None:
            factor, used = torch.linalg.lu_factor(hess + floor), 0
        step = torch.linalg.lu_solve(*factor, grad[:, None])[:, 0]
        t, slope = 1.0, float(grad.dot(step))
        while _subset_terms(tasks, c, x - t * step, False)[0] > value - 1e-4 * t * slope and t > 1e-10:
            t /= 2
        used = used + 1 if t == 1.0 else HESSIAN_REUSE
        x = x - t * step
    return x


def fit_steps(
    data: MultiTaskData, jac: Mapping[str, Tensor], groups: Sequence[frozenset[str]], c: float
) -> dict[frozenset[str], Tensor]:
    """Each subset's step ``w``, fitted as the authors' code fits it: a regression of the subset's training
    labels on the projected output gradients ``jac`` (task -> ``(N, k, d)``, :func:`~mtlkit.surrogates.
    projected_jacobians` on the training split) alone - outputs ``J w + b``, no base outputs as offset -
    with an unpenalised intercept ``b`` per task and an L2 penalty of strength ``c`` (the code's
    ``LogisticRegression(C=c)``: minimise ``c * sum of losses + |w|^2 / 2``). Classification tasks take
    the softmax cross-entropy of their ``k`` outputs (for two classes, the code's logistic regression on
    the difference of the two outputs' gradients), regression tasks the squared error. Solved by Newton's
    method to :data:`FIT_TOLERANCE`; the intercepts are dropped, as the code moves the network by ``P w``
    only."""
    each = {}
    for t in sorted({t for g in groups for t in g}):
        kind, y, feats = data.task(t).kind, data.y["train"][t].to(jac[t].device), jac[t]
        if kind == "classification":
            feats = feats[:, 1:] - feats[:, :1]
        each[t] = (kind, (feats.double(), feats.float()), y if kind == "classification" else y.double())
    d = next(iter(jac.values())).shape[-1]
    return {g: _newton([each[t] for t in sorted(g)], c)[:d].float() for g in groups}


def linear_losses(
    data: MultiTaskData,
    features: Mapping[str, tuple[dict[str, Tensor], dict[str, Tensor]]],
    weights: Mapping[frozenset[str], Tensor],
    splits: Sequence[str] = ("val",),
) -> pd.DataFrame:
    """Each subset's losses read from the moved network's linearisation ``f0 + J w`` (``features``: split ->
    ``(f0, J)``, :func:`~mtlkit.surrogates.projected_jacobians`; ``weights``: subset -> ``w``), beside
    :func:`network_losses`' real network. Rows: network, task, split, value."""
    rows = []
    with torch.no_grad():
        for g, w in weights.items():
            for split in splits:
                f0, jac = features[split]
                for t in sorted(g):
                    out = f0[t] + jac[t] @ w.to(jac[t])
                    value = float(task_loss(data.task(t), out, data.y[split][t].to(out.device)))
                    rows.append(
                        {"network": network_name(g, "full"), "task": t, "split": split, "value": value}
                    )
    return pd.DataFrame(rows)


def finetuned_losses(
    model: torch.nn.Module,
    data: MultiTaskData,
    groups: Sequence[frozenset[str]],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> pd.DataFrame:
    """Grad-TAG's estimand: each subset's validation losses after fine-tuning ``model`` (a hard-sharing MLP
    with linear heads, the all-task model the estimates linearise around; left unchanged) on the subset's
    tasks for ``epochs`` epochs of Adam at ``lr``, every subset from the same weights and the same minibatch
    order (``seed``), all trained at once as one stack (:func:`~mtlkit.train.fit_many`). Rows: network,
    task, split, value."""
    tasks = list(data.task_names)
    stack = StackedNetworks.from_members([model] * len(groups), data.tasks).to(data.x["train"].device)
    masks = torch.tensor([[t in g for t in tasks] for g in groups])
    rows = fit_many(
        stack,
        data,
        masks,
        epochs=epochs,
        seeds=[seed] * len(groups),
        lr=lr,
        batch_size=batch_size,
        splits=("val",),
    )
    last = rows[(rows.epoch == epochs) & (rows.metric == "loss")]
    names = [network_name(g, "full") for g in groups]
    return pd.DataFrame(
        {
            "network": [names[int(i)] for i in last.network],
            "task": last.task.to_numpy(),
            "split": "val",
            "value": last.value.to_numpy(),
        }
    )


def network_losses(
    model: torch.nn.Module,
    data: MultiTaskData,
    proj: Tensor,
    weights: Mapping[frozenset[str], Tensor],
    splits: Sequence[str] = ("val",),
) -> pd.DataFrame:
    """Each subset's estimated losses read from the real network at ``theta0 + proj @ w`` (``weights``:
    subset -> fitted ``w``), for every member task on every split. Rows: network, task, split, value."""
    rows = []
    with torch.no_grad():
        for g, w in weights.items():
            params = moved_parameters(model, proj @ w.to(proj))
            for split in splits:
                x = data.x[split]
                out = functional_call(model, params, (x,))
                for t in sorted(g):
                    value = float(task_loss(data.task(t), out[t], data.y[split][t].to(x.device)))
                    rows.append(
                        {"network": network_name(g, "full"), "task": t, "split": split, "value": value}
                    )
    return pd.DataFrame(rows)


def task_affinity(estimate: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """The affinity ``T[i, j]``: minus task ``i``'s estimated loss, relative to its own single-task
    estimate, averaged over the estimated subsets holding both ``i`` and ``j`` (``T[i, i]``: over those
    holding ``i``). ``estimate``: rows ``network, task, estimate`` with full-size names. A ``tasks x tasks``
    frame, higher meaning more helpful."""
    est = {(n, t): v for n, t, v in zip(estimate.network, estimate.task, estimate.estimate)}
    groups = {n: frozenset(n.split(":", 1)[1].split("+")) for n in estimate.network.unique()}
    out = pd.DataFrame(np.nan, index=list(tasks), columns=list(tasks))
    for i in tasks:
        alone = est[(network_name(frozenset([i]), "full"), i)]
        for j in tasks:
            vals = [est[(n, i)] / alone for n, g in groups.items() if i in g and j in g]
            out.loc[i, j] = -float(np.mean(vals))
    return out


def _partitions(items: list, k: int) -> Iterator[list[list]]:
    """Every partition of ``items`` into exactly ``k`` non-empty blocks."""
    if len(items) < k or k < 1:
        return
    if k == 1:
        yield [list(items)]
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest, k - 1):
        yield [[first], *part]
    for part in _partitions(rest, k):
        for i in range(len(part)):
            yield part[:i] + [[first, *part[i]]] + part[i + 1 :]


def cluster(affinity: pd.DataFrame, k: int) -> list[frozenset[str]]:
    """The partition of the tasks into ``k`` groups maximising ``trace(T X)``, ``X[i, j] = 1/|C|`` when
    ``i`` and ``j`` share group ``C`` (else 0): the integer problem the code's semi-definite program
    (``X >= 0``, ``X`` positive semi-definite, ``trace X = k``, rows summing to 1) relaxes, solved exactly
    by enumerating the partitions (at most ``len(tasks)`` groups). Ties: the first partition found."""
    tasks, t = list(affinity.index), affinity.to_numpy(float)
    k = max(1, min(int(k), len(tasks)))
    best, best_value = None, -np.inf
    for part in _partitions(list(range(len(tasks))), k):
        value = sum(t[np.ix_(b, b)].sum() / len(b) for b in part)
        if value > best_value + 1e-12:
            best, best_value = part, value
    return sorted((frozenset(tasks[i] for i in b) for b in best), key=sorted)
