"""Inter-task affinity from lookahead transference (Fifty et al. 2021, TAG, arXiv 2109.04617), and how
it is judged against a ground truth.

:class:`mtlkit.lookahead.AffinityTracker` measures ``Z(i -> j)`` during training; :func:`affinity`
averages it over training (TAG's inter-task affinity); :func:`affinity_candidates` turns it into
scores for the budgeted network selection of :mod:`mtlkit.grouping`; :func:`gain_correlation` and
:func:`step_size_sensitivity` compare it with the true pairwise gains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mtlkit.grouping import Candidate, network_name, subsets


def affinity(table: pd.DataFrame) -> pd.DataFrame:
    """Inter-task affinity: ``Z`` averaged over the measured steps (and over seeds when present), as rows
    ``(source, target, affinity)``."""
    return table.groupby(["source", "target"], as_index=False).Z.mean().rename(columns={"Z": "affinity"})


def affinity_candidates(aff: pd.DataFrame, tasks: Sequence[str]) -> list[Candidate]:
    """Full-size candidate networks scored from affinities, for :func:`mtlkit.grouping.branch_and_bound`.

    As in TAG, a task's score in a group is the mean affinity onto it from the other members; the
    selection *minimises*, so each score enters negated, and a task alone scores 0. Only full-size
    networks can be scored this way (affinities say nothing about a half-width network).
    """
    a = {(r.source, r.target): float(r.affinity) for r in aff.itertuples()}
    out = []
    for g in subsets(tasks):
        loss = {t: (-float(np.mean([a[(u, t)] for u in g if u != t])) if len(g) > 1 else 0.0) for t in g}
        out.append(Candidate(network_name(g, "full"), g, 1.0, loss))
    return out


def gain_correlation(
    per_seed: pd.DataFrame, gains: pd.DataFrame, column: str, within: bool = False
) -> pd.Series:
    """Per seed, the Spearman correlation between ``column`` of ``per_seed`` (rows ``seed, source,
    target``: e.g. averaged affinity or gradient cosine) and the ground-truth gain of the target task
    trained with the source (:func:`mtlkit.grouping.pairwise_gains`).

    With ``within``, the correlation is taken *within each target* (how well ``column`` ranks a task's
    partners) and averaged over targets: the comparison a grouping needs, since a task is served by its
    best network whatever the scale of its own losses.
    """
    truth = gains.rename(columns={"partner": "source", "task": "target"})

    def rho(g: pd.DataFrame) -> float:
        return g[[column, "gain"]].corr("spearman").iloc[0, 1]

    out = {}
    for s, g in per_seed.groupby("seed"):
        both = g.merge(truth, on=["source", "target"])
        out[s] = float(np.nanmean([rho(t) for _, t in both.groupby("target")])) if within else rho(both)
    return pd.Series(out, name=column)


def step_size_sensitivity(z: pd.DataFrame, gains: pd.DataFrame) -> pd.DataFrame:
    """How the lookahead step size ``eta`` changes what affinities say. ``z``: tidy transference rows
    ``eta, seed, source, target, value`` (one tracked run per step size and seed; the runs train
    identically, so only the lookahead differs). Per ``eta`` and seed: the mean ``Z`` over all pairs and
    steps, and the Spearman correlation of averaged affinity with the true gain, over all ordered pairs
    (``rho``) and within each target (``rho_within``). Past the first-order regime the curvature term
    ``eta^2 g_i' H_j g_i / 2`` pushes every ``Z`` down in proportion to the *source's* gradient norm."""
    rows = []
    for eta, g in z.groupby("eta"):
        per_seed = g.groupby(["seed", "source", "target"], as_index=False).value.mean()
        mean_z = per_seed.groupby("seed").value.mean()
        rho = gain_correlation(per_seed, gains, "value")
        within = gain_correlation(per_seed, gains, "value", within=True)
        rows += [
            {"eta": eta, "seed": s, "mean_Z": mean_z[s], "rho": rho[s], "rho_within": within[s]}
            for s in rho.index
        ]
    return pd.DataFrame(rows)
