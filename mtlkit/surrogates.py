"""Estimates of every task subset's loss without training the subset's network, and a grouping chosen by
an integer program: the methods study 05 judges against study 03's exhaustive ground truth.

- Grad-TAG (Li, Sharma, Zhang, KDD 2024, arXiv 2409.06091): one base model trained on all tasks is
  linearized around its weights; randomly projected per-example output gradients
  (:func:`projected_jacobians`) are the features of a regression fitted per subset
  (:func:`mtlkit.gradtag.fit_steps`).
- ETAP (Ayman, Mukhopadhyay, Laszka, ICLR 2026, arXiv 2602.18591): a group's gradient-affinity score,
  mapped to a predicted gain over single-task learning by a non-linear predictor and corrected by a
  residual predictor, both fitted on a few trained groups (:func:`group_scores`, :func:`etap_predict`).
- The mathematical-programming grouping (Wang, Pan, Yu 2024, arXiv 2402.15328), as their code states it:
  exactly ``k`` distinct groups covering every task, maximising the summed mean within-group transfer gain
  (:func:`grouping_program`, :func:`solve_program`).

All losses are per task and per network (``full:<tasks>`` names, as :mod:`mtlkit.grouping` writes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import Tensor
from torch.func import functional_call, jacfwd

from mtlkit.grouping import Candidate, network_name, subsets


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


def gain_matrix(pairwise: pd.DataFrame, tasks: Sequence[str], column: str) -> pd.DataFrame:
    """A ``tasks x tasks`` frame of pairwise gains from rows ``source, target, <column>`` (source's gain onto
    target), with a zero diagonal (a task's gain onto itself is not measured); a missing pair is refused."""
    table = pairwise.pivot_table(index="source", columns="target", values=column, aggfunc="mean")
    out = table.reindex(index=list(tasks), columns=list(tasks))
    for t in tasks:
        out.loc[t, t] = 0.0
    if out.isna().any().any():
        raise ValueError(f"pairwise gains miss pairs of the tasks {list(tasks)}")
    return out.astype(float)


def group_gain(group: Iterable[str], gains: pd.DataFrame) -> float:
    """A group's score in Wang, Pan and Yu's program: the gains ``gains.loc[i, j]`` summed over every
    ordered pair of its members (``i == j`` included, as the authors' objective sums them), over the
    group's size."""
    members = sorted(group)
    return float(gains.loc[members, members].to_numpy(float).sum() / len(members))


@dataclass(frozen=True)
class GroupingProgram:
    """Wang, Pan and Yu's grouping program (arXiv 2402.15328; their code's ``soft_grouping``), written over
    candidate groups: ``choose[g]`` says whether group ``groups[g]`` is one of the ``k`` networks. Maximise
    the chosen groups' summed :func:`group_gain` subject to :attr:`constraints` (name -> linear rows over
    ``choose``). Their code states the same program over assignment variables (task ``i`` in group ``j``,
    a ``1/|group|`` variable and pair products, solved by Gurobi's non-convex mode); listing the distinct
    non-empty groups makes it linear, so :func:`scipy.optimize.milp` solves it exactly."""

    groups: tuple[frozenset[str], ...]
    gain: np.ndarray
    constraints: dict[str, LinearConstraint]


def grouping_program(gains: pd.DataFrame, k: int) -> GroupingProgram:
    """The program for the tasks of ``gains`` (a ``tasks x tasks`` frame of transfer gains, ``gains.loc[i,
    j]`` from ``i`` onto ``j``) and ``k`` groups, with the authors' constraints: exactly ``k`` groups, each
    non-empty and all distinct (one variable per distinct non-empty group), and every task in at least one
    group (groups may overlap: a task is then served by its best network, as study 03 serves it)."""
    tasks = list(gains.index)
    if list(gains.columns) != tasks:
        raise ValueError(
            f"gains must have the same tasks as rows and columns, got {tasks} and {list(gains.columns)}"
        )
    if not np.isfinite(gains.to_numpy(float)).all():
        raise ValueError("gains must be finite numbers")
    most = 2 ** len(tasks) - 1
    if not 1 <= k <= most:
        raise ValueError(
            f"k = {k}: the program needs between 1 and {most} distinct groups of these {len(tasks)} tasks"
        )
    groups = tuple(subsets(tasks))
    member = np.array([[t in g for g in groups] for t in tasks], dtype=float)
    return GroupingProgram(
        groups,
        np.array([group_gain(g, gains) for g in groups]),
        {
            "exactly k groups": LinearConstraint(np.ones((1, len(groups))), k, k),
            "every task in a group": LinearConstraint(member, 1, np.inf),
        },
    )


def solve_program(program: GroupingProgram) -> list[frozenset[str]]:
    """The chosen groups of ``program`` (:func:`scipy.optimize.milp`, HiGHS, exact), sorted."""
    n = len(program.groups)
    res = milp(
        -program.gain,  # milp minimises
        constraints=list(program.constraints.values()),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
    )
    if not res.success:
        raise RuntimeError(f"the grouping program found no solution: {res.message}")
    chosen = [g for g, x in zip(program.groups, res.x) if round(x) == 1]
    return sorted(chosen, key=sorted)


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
