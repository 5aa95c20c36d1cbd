"""Estimates of every task subset's loss without training the subset's network, and a grouping chosen by
an integer program: the methods study 05 judges against study 03's exhaustive ground truth.

- Grad-TAG (Li, Sharma, Zhang, KDD 2024, arXiv 2409.06091): one base model trained on all tasks is
  linearized around its weights; randomly projected per-example output gradients are the features of a
  regression fitted per subset (:func:`projected_jacobians`, :func:`linearized_losses`).
- ETAP (Ayman, Mukhopadhyay, Laszka, ICLR 2026, arXiv 2602.18591): a group's gradient-affinity score,
  mapped to a predicted gain over single-task learning by a non-linear predictor and corrected by a
  residual predictor, both fitted on a few trained groups (:func:`group_scores`, :func:`etap_predict`).
- The mathematical-programming grouping (Wang, Pan, Yu 2024, arXiv 2402.15328): tasks assigned to at most
  ``k`` groups maximising the summed pairwise transfer gains inside groups (:func:`milp_partition`).

All losses are per task and per network (``full:<tasks>`` names, as :mod:`mtlkit.grouping` writes them).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import Tensor
from torch.func import functional_call, jacfwd

from mtlkit.data.base import MultiTaskData
from mtlkit.grouping import Candidate, network_name, subsets
from mtlkit.losses import task_loss


def projected_jacobians(
    model: torch.nn.Module, x: Tensor, tasks: Sequence[str], dim: int, seed: int, proj: Tensor | None = None
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The base model's outputs ``f0[t]`` (``(N, k_t)``) and their Jacobians along ``dim`` random
    directions of the whole parameter vector (``(N, k_t, dim)``): ``d f(x; theta0 + P w) / d w`` at
    ``w = 0``, computed forward-mode (``dim`` directional derivatives, never the full per-example
    gradient). ``P``'s entries are N(0, 1/#parameters), so each direction has norm about 1, unless ``proj``
    (``(#parameters, dim)``) is given."""
    names = [n for n, _ in model.named_parameters()]
    theta0 = {n: p.detach() for n, p in model.named_parameters()}
    total = sum(p.numel() for p in theta0.values())
    gen = torch.Generator().manual_seed(int(seed))
    if proj is None:
        proj = torch.randn(total, dim, generator=gen, dtype=torch.float32) / total**0.5

    def outputs(w: Tensor) -> tuple[Tensor, ...]:
        step, params, at = proj.to(w.device) @ w, {}, 0
        for n in names:
            p = theta0[n]
            params[n] = p + step[at : at + p.numel()].view_as(p)
            at += p.numel()
        out = functional_call(model, params, (x,))
        return tuple(out[t] for t in tasks)

    w0 = torch.zeros(dim, device=x.device)
    with torch.no_grad():
        f0 = outputs(w0)
    jac = jacfwd(outputs)(w0)
    return dict(zip(tasks, f0)), dict(zip(tasks, jac))


def _linear_loss(data: MultiTaskData, split: str, t: str, f0: Tensor, jac: Tensor, w: Tensor) -> Tensor:
    return task_loss(data.task(t), f0 + jac @ w, data.y[split][t].to(f0.device))


def linearized_losses(
    data: MultiTaskData,
    features: Mapping[str, tuple[dict[str, Tensor], dict[str, Tensor]]],
    groups: Sequence[frozenset[str]],
    ridge: float,
    steps: int = 8,
    keep: dict | None = None,
) -> pd.DataFrame:
    """Grad-TAG's estimate of each group's fine-tuned losses: per group, the linearized model
    ``f0 + J w`` is fitted to the group's tasks on the training split (minimising the summed task losses
    plus ``ridge * |w|^2``), and each member task's loss is read on every split of ``features``
    (``split -> projected_jacobians(...)``; ``train`` required). The fit takes ``steps`` Newton steps
    from ``w = 0`` with the Hessian held at ``w = 0`` (each task's Hessian is computed once and summed
    per group, so a group costs a few gradient evaluations); ``keep``, when given, receives each group's
    fitted ``w``. Rows: network, task, split, value."""
    f_train, j_train = features["train"]
    tasks = sorted({t for g in groups for t in g})
    dim = next(iter(j_train.values())).shape[-1]
    w0 = torch.zeros(dim, dtype=next(iter(j_train.values())).dtype)

    def train_loss(t: str):
        return lambda w: _linear_loss(data, "train", t, f_train[t], j_train[t], w)

    hess = {t: torch.func.hessian(train_loss(t))(w0) for t in tasks}
    rows = []
    for g in groups:
        members = sorted(g)
        h = sum(hess[t] for t in members) + 2 * ridge * torch.eye(dim)

        def objective(v: Tensor, members: list[str] = members) -> Tensor:
            return sum(train_loss(t)(v) for t in members) + ridge * v.pow(2).sum()

        w = w0.clone()
        for _ in range(steps):
            w = w - torch.linalg.solve(h, torch.func.grad(objective)(w))
        if keep is not None:
            keep[g] = w.detach()
        with torch.no_grad():
            for split, (f0, jac) in features.items():
                for t in members:
                    value = float(_linear_loss(data, split, t, f0[t], jac[t], w))
                    rows.append(
                        {"network": network_name(g, "full"), "task": t, "split": split, "value": value}
                    )
    return pd.DataFrame(rows)


def loss_candidates(table: pd.DataFrame, column: str = "value") -> list[Candidate]:
    """Full-size :class:`~mtlkit.grouping.Candidate` objects from estimated losses (rows ``network, task,
    <column>``), for :func:`~mtlkit.grouping.branch_and_bound`."""
    out = []
    for name, g in table.groupby("network"):
        out.append(Candidate(name, frozenset(g.task), 1.0, dict(zip(g.task, g[column].astype(float)))))
    return out


def group_scores(pairwise: pd.DataFrame, tasks: Sequence[str], column: str) -> pd.DataFrame:
    """ETAP's group affinity score of each task in each group of two or more tasks: the mean pairwise
    score ``column`` (rows ``source, target``) onto the task from the other members. Rows: network,
    task, score, size."""
    a = {(r.source, r.target): float(getattr(r, column)) for r in pairwise.itertuples()}
    rows = [
        {
            "network": network_name(g, "full"),
            "task": t,
            "score": float(np.mean([a[(u, t)] for u in g if u != t])),
            "size": len(g),
        }
        for g in subsets(tasks)
        if len(g) > 1
        for t in sorted(g)
    ]
    return pd.DataFrame(rows)


def _design(score: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The non-linear predictor's features: 1, s, s^2, s^3 and the group's size."""
    return np.column_stack([np.ones_like(score), score, score**2, score**3, size])


def etap_predict(
    scores: pd.DataFrame, single: Mapping[str, float], trained: pd.DataFrame, ridge: float = 1e-2
) -> pd.DataFrame:
    """ETAP's predicted loss of every task in every group (``scores``: :func:`group_scores`).

    The target is the relative gain over single-task learning, ``1 - L_group / L_single`` (``single``:
    each task's single-task loss). Fitted on the ``trained`` groups (rows ``network, task, loss``: true
    losses of a few groups): a non-linear predictor (ridge regression on a cubic of the score and the
    group size, inputs standardised), then a residual predictor (each task's mean residual over the
    trained groups, shrunk by ``count / (count + 1)``). Trained groups keep their true losses.
    Rows: network, task, loss (predicted), gain (predicted)."""
    fit = scores.merge(trained, on=["network", "task"])
    if fit.empty:
        raise ValueError("ETAP needs at least one trained group of two or more tasks")
    mu, sd = scores.score.mean(), scores.score.std(ddof=0) or 1.0
    x_all = _design(((scores.score - mu) / sd).to_numpy(), scores["size"].to_numpy(float))
    x_fit = _design(((fit.score - mu) / sd).to_numpy(), fit["size"].to_numpy(float))
    y = 1 - fit.loss.to_numpy() / fit.task.map(single).to_numpy()
    penalty = ridge * np.eye(x_fit.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    beta = np.linalg.solve(x_fit.T @ x_fit + penalty, x_fit.T @ y)
    resid = pd.Series(y - x_fit @ beta).groupby(fit.task.to_numpy())
    shift = (resid.mean() * resid.count() / (resid.count() + 1)).to_dict()
    gain = x_all @ beta + scores.task.map(shift).fillna(0.0).to_numpy()
    out = scores[["network", "task"]].assign(gain=gain)
    out["loss"] = out.task.map(single) * (1 - out.gain)
    known = out.merge(trained, on=["network", "task"], how="left", suffixes=("", "_true")).loss_true
    out["loss"] = known.fillna(out["loss"]).to_numpy()
    return out


def milp_partition(
    pairwise: Mapping[tuple[str, str], float], tasks: Sequence[str], k: int
) -> list[frozenset]:
    """Wang, Pan and Yu's grouping as a mixed-integer program: assign every task to exactly one of at
    most ``k`` groups so that the summed gains ``pairwise[(u, t)]`` (u's gain onto t) over ordered pairs
    sharing a group is largest. Variables ``y[t, g]`` (task t in group g) and ``z[t, u, g]`` = ``y[t, g]
    AND y[u, g]`` (linearised); solved exactly by :func:`scipy.optimize.milp` (HiGHS). Returns the
    non-empty groups."""
    tasks = list(tasks)
    if k < 1:
        raise ValueError(f"k = {k}: at least one group is needed")
    n = len(tasks)
    pairs = list(itertools.combinations(range(n), 2))
    ny, nz = n * k, len(pairs) * k

    def yi(t: int, g: int) -> int:
        return t * k + g

    def zi(p: int, g: int) -> int:
        return ny + p * k + g

    c = np.zeros(ny + nz)
    for p, (a, b) in enumerate(pairs):
        gain = pairwise[(tasks[a], tasks[b])] + pairwise[(tasks[b], tasks[a])]
        for g in range(k):
            c[zi(p, g)] = -gain  # milp minimises
    rows, lo, hi = [], [], []

    def row(entries: dict[int, float], low: float, high: float) -> None:
        r = np.zeros(ny + nz)
        for i, v in entries.items():
            r[i] = v
        rows.append(r)
        lo.append(low)
        hi.append(high)

    for t in range(n):
        row({yi(t, g): 1.0 for g in range(k)}, 1.0, 1.0)
    for p, (a, b) in enumerate(pairs):
        for g in range(k):
            row({zi(p, g): 1.0, yi(a, g): -1.0}, -np.inf, 0.0)
            row({zi(p, g): 1.0, yi(b, g): -1.0}, -np.inf, 0.0)
            row({zi(p, g): 1.0, yi(a, g): -1.0, yi(b, g): -1.0}, -1.0, np.inf)
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=np.ones(ny + nz),
        bounds=Bounds(0, 1),
    )
    if not res.success:
        raise RuntimeError(f"the grouping program found no solution: {res.message}")
    y = np.round(res.x[:ny]).reshape(n, k)
    groups = [frozenset(tasks[t] for t in range(n) if y[t, g] == 1) for g in range(k)]
    return sorted((g for g in groups if g), key=lambda g: sorted(g))


def within_task_spearman(estimate: pd.DataFrame, truth: pd.DataFrame) -> float:
    """How well an estimate ranks every subset for each task: the Spearman correlation between estimated
    and true losses over the networks serving a task, averaged over tasks (rows ``network, task,
    estimate`` and ``network, task, loss``; networks missing from either side are left out)."""
    both = estimate.merge(truth, on=["network", "task"])
    rhos = [
        g[["estimate", "loss"]].corr("spearman").iloc[0, 1] for _, g in both.groupby("task") if len(g) > 2
    ]
    return float(np.nanmean(rhos)) if rhos else float("nan")


def held_out_truth(truth: pd.DataFrame, column: str = "test") -> dict[int, pd.DataFrame]:
    """Leave one seed out: for each seed of ``truth`` (rows ``seed, network, task`` and ``column``), the
    other seeds' mean ``column`` per (network, task) as rows ``network, task, loss`` - the reference a
    seed's estimates are ranked against, so that they never meet their own seed's draw of the ground
    truth. Needs at least two seeds."""
    seeds = sorted(truth.seed.unique())
    if len(seeds) < 2:
        raise ValueError(f"a held-out ground truth needs at least 2 seeds, got {len(seeds)}")
    return {
        int(s): truth[truth.seed != s]
        .groupby(["network", "task"], as_index=False)[column]
        .mean()
        .rename(columns={column: "loss"})
        for s in seeds
    }


def truth_noise_floor(truth: pd.DataFrame, column: str = "test") -> pd.Series:
    """Per seed, how well that seed's own true losses rank the held-out seeds' mean
    (:func:`held_out_truth`, :func:`within_task_spearman`): the ground truth predicting itself, what a
    perfect per-seed estimate of the losses would reach against the held-out reference."""
    held = held_out_truth(truth, column)
    own = truth.rename(columns={column: "estimate"})
    return pd.Series(
        {
            s: within_task_spearman(own[own.seed == s][["network", "task", "estimate"]], ref)
            for s, ref in held.items()
        },
        name="noise floor",
    )
