"""Study 05's joint run and each method's regret on its own candidates.

The joint run (:func:`joint_run`, one per seed) trains the all-task network with TAG's lookahead (and
ETAP's first-order score beside it) and, from its restored model, gives Grad-TAG's estimates as its
authors' code computes them: ``+-1/sqrt(d)`` projected output gradients, a fit per subset, and the losses of
the real network at ``theta0 + P w``. Regret is read against two optima (:func:`regret_against`): the one
over the networks a method may buy (full-size only for TAG, the MILP, Grad-TAG and ETAP:
:data:`FULL_SIZE_ONLY`), which judges it, and the one over every network, shown beside.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import pandas as pd

from mtlkit.gradtag import network_losses, rademacher_projection
from mtlkit.grouping import Candidate, network_name, subsets
from mtlkit.runs import FitConfig, RunConfig, TrackConfig, trained
from mtlkit.session import Params
from mtlkit.stats import mean_ci
from mtlkit.studies import task_grouping
from mtlkit.surrogates import linearized_losses, projected_jacobians

OPTIMAL_FULL = "optimal (full-size)"
"""The exhaustive optimum over full-size networks only (a method name in the results)."""

FULL_SIZE_ONLY = ("TAG", "Grad-TAG", "ETAP", "MILP")
"""The methods that may buy only full-size networks; HOA, ESA and random may buy half-width ones too."""


def own_optimum(method: str) -> str:
    """The optimum a method is judged against: the one over the candidates it may buy."""
    return OPTIMAL_FULL if method in FULL_SIZE_ONLY else "optimal"


def full_size(cands: Sequence[Candidate]) -> list[Candidate]:
    """The full-size networks among ``cands``."""
    return [c for c in cands if c.name == network_name(c.tasks, "full")]


def gradtag_ridge(p: Params) -> float:
    """The ridge of the per-subset fit (summed mean task losses + ridge |w|^2) that matches the code's L2
    strength ``C`` on ``n_train`` examples per task (``C`` sum of losses + |w|^2 / 2)."""
    return 1.0 / (2.0 * p.gradtag_c * p.n_train)


def joint_config(p: Params, seed: int, device: str = "cpu") -> dict:
    """The shared joint run of one seed (study 03's all-task network, tracked with TAG's lookahead) and
    Grad-TAG's settings, as a JSON-able dict (the sweep's cache key)."""
    run = RunConfig(
        seed=seed,
        device=device,
        data=task_grouping.data_config(p, seed),
        model={"architecture": "hard", "width": p.width, "depth": p.depth},
        fit=FitConfig(p.joint_epochs, p.lr, p.batch_size, "equal", patience=p.patience),
        track=TrackConfig(p.every, p.lr, "optimizer"),
    )
    return {
        "run": run.to_dict(),
        "dim": p.projection_dim,
        "ridge": gradtag_ridge(p),
        "projection": "rademacher",
    }


def joint_run(config: dict) -> pd.DataFrame:
    """One seed's joint run (:func:`~mtlkit.runs.trained`, with transference rows) and, from its restored
    model, Grad-TAG's estimated validation loss of every task in every full-size subset: the real network's
    at ``theta0 + P w`` (``metric == "gradtag"``) and the linearised outputs' (``"gradtag_linear"``), with
    ``network`` column; and the seconds of each part (``metric == "seconds"``, ``task`` = the part)."""
    run = RunConfig.from_dict(config["run"])
    t0 = time.perf_counter()
    model, data, rows = trained(run)
    t1 = time.perf_counter()
    model.eval()
    tasks = data.task_names
    total = sum(q.numel() for q in model.parameters())
    proj = rademacher_projection(total, config["dim"], run.seed).to(data.x["train"].device)
    feats = {
        s: projected_jacobians(model, data.x[s], tasks, config["dim"], run.seed, proj)
        for s in ("train", "val")
    }
    weights: dict = {}
    linear = linearized_losses(data, feats, subsets(tasks), config["ridge"], keep=weights)
    real = network_losses(model, data, proj, weights, ("val",))
    t2 = time.perf_counter()
    seconds = pd.DataFrame(
        {"split": "all", "task": ["joint run", "Grad-TAG"], "metric": "seconds", "value": [t1 - t0, t2 - t1]}
    )
    return pd.concat(
        [
            rows,
            real.assign(metric="gradtag", epoch=0),
            linear[linear.split == "val"].assign(metric="gradtag_linear", epoch=0),
            seconds.assign(epoch=0),
        ],
        ignore_index=True,
    )


def regret_against(results: pd.DataFrame, reference: Mapping[str, str]) -> pd.DataFrame:
    """Each method's test total above a reference optimum's (``reference``: method -> the optimum's method
    name in ``results``), in percent of it, per budget and seed (random draws averaged); budgets where
    either is missing are left out. Rows: method, budget, seed, regret, against."""
    per = results.groupby(["method", "budget", "seed"], as_index=False).test_total.mean()
    out = []
    for method, ref in reference.items():
        mine = per[per.method == method]
        opt = per[per.method == ref][["budget", "seed", "test_total"]]
        both = mine.merge(opt, on=["budget", "seed"], suffixes=("", "_opt"))
        both["regret"] = 100 * (both.test_total - both.test_total_opt) / both.test_total_opt
        out.append(both.assign(against=ref)[["method", "budget", "seed", "regret", "against"]])
    return pd.concat(out, ignore_index=True)


def candidate_table(own: pd.DataFrame, full: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Per method: the candidates it may buy, its regret against its own candidates' optimum (the claims'),
    against every network's optimum, and the difference (what the half-width networks it may not buy
    are worth), each a mean over budgets with its 95% interval across seeds."""

    def ci(x: pd.Series) -> str:
        return "{:.2f} [{:.2f}, {:.2f}]".format(*mean_ci(x))

    a = own.groupby(["method", "seed"]).regret.mean()
    b = full.groupby(["method", "seed"]).regret.mean()
    rows = {
        m: {
            "candidates": "full-size only" if m in FULL_SIZE_ONLY else "full and half-width",
            "regret % vs own candidates' optimum (claims)": ci(a.loc[m]),
            "regret % vs every network's optimum": ci(b.loc[m]),
            "difference (points)": ci(b.loc[m] - a.loc[m]),
        }
        for m in methods
    }
    return pd.DataFrame(rows).T.rename_axis("method")
