"""Grad-TAG's pieces as its authors' code has them (Li, Sharma, Zhang, KDD 2024, arXiv 2409.06091), beside
the linearised fit of :mod:`mtlkit.surrogates`.

- The projection (:func:`rademacher_projection`): entries ``+-1/sqrt(d)``, ``d`` directions (200 in the code).
- The evaluation (:func:`network_losses`): each subset's fitted ``w`` moves the real network to
  ``theta0 + P w``, and the task losses are read from that network, not from the linearised outputs.
- The selection (:func:`task_affinity`, :func:`cluster`): an affinity matrix from the subsets' estimated
  losses, and the partition into ``k`` groups that the code's semi-definite program relaxes (maximise
  ``trace(T X)`` over normalised cluster matrices ``X``), solved here exactly by enumeration.
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
            params = moved_parameters(model, proj @ w.to(proj.dtype))
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
