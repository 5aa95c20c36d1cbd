"""Study 02's tables beyond the claims: the learning rate each digits method gets on validation
(:func:`lr_table`) and where along the front the variants differ (:func:`weight_table`). The study is in
:mod:`mtlkit.studies.small_towers`."""

from __future__ import annotations

import pandas as pd

from mtlkit.fronts import hypervolumes, low_weight_effects, reference_point, select_lr, weight_grid
from mtlkit.stats import summarize
from mtlkit.studies.small_towers import DIGITS, NONE_GAMMA, PSEUDO_GAMMA, datasets, task_names

SELECT_OFFSET = 1000
"""The learning rate is chosen on seeds ``seed + 1000, ...``: data draws and initialisations that no
claim is evaluated on."""


def select_seeds(p: dict) -> list[int]:
    """The seeds that choose each method's learning rate."""
    return [p["seed"] + SELECT_OFFSET + i for i in range(p["select_seeds"])]


def lr_table(runs: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Validation hypervolume of each digits method at each learning rate (mean over the selection
    seeds) and the chosen rate (:func:`~mtlkit.fronts.select_lr`): rows ``(variant, gamma)``."""
    final = runs[runs.epoch == 0]
    spec, tasks = datasets(p)[DIGITS], task_names(p)
    refs = {
        (DIGITS, s): reference_point({**spec, "n_train": p["n_train"], "seed": s}, tasks[DIGITS], "val")
        for s in select_seeds(p)
    }
    hv = hypervolumes(final, refs, tasks, by=("dataset", "variant", "gamma", "lr", "seed"), split="val")
    table = hv.pivot_table(index=["variant", "gamma"], columns="lr", values="hypervolume")
    return table.assign(chosen=select_lr(hv))


def weight_table(final: pd.DataFrame, p: dict, metric: str = "accuracy") -> pd.DataFrame:
    """Where along the front each variant differs from the base model on the digits: per seed, the test
    ``metric`` of the task with the smaller loss weight (:func:`~mtlkit.fronts.low_weight_effects`),
    variant minus base, summarised over seeds per weight and for the two ends of the sweep together
    (``extremes``) against the weights between them (``middle``)."""
    d = final[(final.dataset == DIGITS) & (final.architecture == "hard")]
    g, alphas = p["aux_weight"], weight_grid(p["n_weights"])
    runs = [(k, g) for k in p["heads"]] + [("large", g), ("pseudo", PSEUDO_GAMMA), ("wide", NONE_GAMMA)]
    frames = []
    for v in runs:
        e = low_weight_effects(d, v, ("none", NONE_GAMMA), task_names(p)[DIGITS], metric)
        ends = e.alpha.isin([min(alphas), max(alphas)])
        e = pd.concat(
            [
                e.assign(weight=e.alpha.map("{:g}".format)),
                e[ends].groupby("seed", as_index=False).effect.mean().assign(weight="extremes"),
                e[~ends].groupby("seed", as_index=False).effect.mean().assign(weight="middle"),
            ]
        )
        frames.append(e.assign(variant=v[0]))
    return summarize(pd.concat(frames, ignore_index=True), ["variant", "weight"], "effect")
