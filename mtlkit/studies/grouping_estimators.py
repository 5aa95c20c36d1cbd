"""Study 05's joint run and each method's regret on its own candidates.

The joint run (:func:`joint_run`, one per seed) trains the all-task network with TAG's lookahead (and
ETAP's first-order score beside it) and, from its restored model, gives Grad-TAG's estimates as its
authors' code computes them: ``+-1/sqrt(d)`` projected output gradients, a logistic regression per subset on
them alone, and the losses of the real network at ``theta0 + P w``; and what they estimate, each subset's
losses after fine-tuning the restored model on it. Regret is read against two optima (:func:`regret_against`): the one
over the networks a method may buy (full-size only for TAG, the MILP, Grad-TAG and ETAP:
:data:`FULL_SIZE_ONLY`), which judges it, and the one over every network, shown beside.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import pandas as pd

from mtlkit.gradtag import finetuned_losses, fit_steps, linear_losses, network_losses, rademacher_projection
from mtlkit.grouping import Candidate, evaluate_selection, network_name, subsets
from mtlkit.runs import FitConfig, RunConfig, TrackConfig, trained
from mtlkit.selection import candidates
from mtlkit.session import Params
from mtlkit.stats import mean_ci
from mtlkit.studies import task_grouping
from mtlkit.surrogates import projected_jacobians

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
        "c": p.gradtag_c,
        "projection": "rademacher",
        "fit": "logistic, no offset",
        "finetune_epochs": p.finetune_epochs,
    }


def joint_run(config: dict) -> pd.DataFrame:
    """One seed's joint run (:func:`~mtlkit.runs.trained`, with transference rows) and, from its restored
    model, Grad-TAG's estimated validation loss of every task in every full-size subset: the real network's
    at ``theta0 + P w`` (``metric == "gradtag"``) and the linearised outputs' (``"gradtag_linear"``); what
    they estimate, the validation losses after fine-tuning the restored model on each subset for
    ``finetune_epochs`` epochs (``"finetuned"``), all with a ``network`` column; and the seconds of each part
    (``metric == "seconds"``, ``task`` = the part: joint run, Grad-TAG, fine-tune)."""
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
    weights = fit_steps(data, feats["train"][1], subsets(tasks), config["c"])
    linear = linear_losses(data, feats, weights, ("val",))
    real = network_losses(model, data, proj, weights, ("val",))
    t2 = time.perf_counter()
    fit = run.fit
    tuned = finetuned_losses(
        model,
        data,
        subsets(tasks),
        epochs=config["finetune_epochs"],
        lr=fit.lr,
        batch_size=fit.batch_size,
        seed=run.seed,
    )
    t3 = time.perf_counter()
    seconds = pd.DataFrame(
        {
            "split": "all",
            "task": ["joint run", "Grad-TAG", "fine-tune"],
            "metric": "seconds",
            "value": [t1 - t0, t2 - t1, t3 - t2],
        }
    )
    return pd.concat(
        [
            rows,
            real.assign(metric="gradtag", epoch=0),
            linear.assign(metric="gradtag_linear", epoch=0),
            tuned.assign(metric="finetuned", epoch=0),
            seconds.assign(epoch=0),
        ],
        ignore_index=True,
    )


def grouping_rows(
    method: str,
    groups_by_budget: Mapping[float, Sequence[frozenset[str]]],
    final: pd.DataFrame,
    tasks: Sequence[str],
) -> pd.DataFrame:
    """A method's chosen groups (``budget -> groups``, full-size networks; overlapping groups serve each task by
    its best network, as study 03 scores a selection) scored on each seed's test losses, as rows of
    :func:`~mtlkit.selection.compare_methods`."""
    rows = []
    for s, g in final.groupby("seed"):
        table = candidates(g, "test")
        for b, groups in groups_by_budget.items():
            names = [network_name(x, "full") for x in groups]
            rows.append(
                {
                    "method": method,
                    "budget": b,
                    "seed": s,
                    "draw": 0,
                    "networks": " | ".join(names),
                    "cost": float(len(names)),
                    "test_total": evaluate_selection(names, table, tasks),
                }
            )
    return pd.DataFrame(rows)


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
