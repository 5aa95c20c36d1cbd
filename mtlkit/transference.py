"""Inter-task affinity from lookahead transference (Fifty et al. 2021, TAG, arXiv 2109.04617), and how
it is judged against a ground truth.

:class:`mtlkit.tracking.AffinityTracker` measures ``Z(i -> j)`` during training and
:func:`mtlkit.tracking.affinity` (re-exported here) averages it over training (TAG's inter-task affinity);
:func:`affinity_candidates` turns it into scores for the budgeted network selection of :mod:`mtlkit.grouping` (TAG's rule: no group of one task);
:func:`gain_correlation` and :func:`step_size_sensitivity` compare it with the true pairwise gains (held out:
:func:`held_out_gains`; the ground truth's own noise floor: :func:`gain_noise_floor`),
:func:`random_groupings` draws the groupings it is compared with at equal budget, and
:func:`step_norm_ratio` compares the sizes of two lookahead updates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from mtlkit.grouping import (
    Candidate,
    candidate_networks,
    evaluate_selection,
    network_name,
    random_selection,
    subsets,
)
from mtlkit.selection import candidates, pairwise_gains
from mtlkit.subsets import train_subsets
from mtlkit.tracking import affinity as affinity  # re-exported: mtlkit.transference.affinity


def affinity_candidates(aff: pd.DataFrame, tasks: Sequence[str], singletons: bool = False) -> list[Candidate]:
    """Full-size candidate networks scored from affinities, for :func:`mtlkit.grouping.branch_and_bound`.

    As in TAG, a task's score in a group is the mean affinity onto it from the other members; the
    selection *minimises*, so each score enters negated. TAG's grouping excludes groups of one task
    (a task alone has no affinity to score); ``singletons=True`` adds them, scored 0. Only full-size
    networks can be scored this way (affinities say nothing about a half-width network).
    """
    a = {(r.source, r.target): float(r.affinity) for r in aff.itertuples()}
    out = []
    for g in subsets(tasks):
        if len(g) == 1 and not singletons:
            continue
        loss = {t: (-float(np.mean([a[(u, t)] for u in g if u != t])) if len(g) > 1 else 0.0) for t in g}
        out.append(Candidate(network_name(g, "full"), g, 1.0, loss))
    return out


def affinity_vs_gains(aff: pd.DataFrame, gains: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Seed-averaged affinities (``source, target, affinity``) beside the true gain of the target trained
    with the source as partner (:func:`mtlkit.selection.pairwise_gains`), and the Spearman correlation of
    these points (pooled; claim C1 averages per-seed correlations instead: :func:`gain_correlation`)."""
    both = aff.merge(gains, left_on=["source", "target"], right_on=["partner", "task"])
    return both, float(both[["affinity", "gain"]].corr("spearman").iloc[0, 1])


def gain_correlation(
    per_seed: pd.DataFrame, gains: pd.DataFrame, column: str, within: bool = False
) -> pd.Series:
    """Per seed, the Spearman correlation between ``column`` of ``per_seed`` (rows ``seed, source,
    target``: e.g. averaged affinity or gradient cosine) and the ground-truth gain of the target task
    trained with the source (:func:`mtlkit.selection.pairwise_gains`). When ``gains`` has a ``seed``
    column (e.g. :func:`held_out_gains`), each seed is compared with its own rows of it.

    With ``within``, the correlation is taken *within each target* (how well ``column`` ranks a task's
    partners) and averaged over targets: the comparison a grouping needs, since a task is served by its
    best network whatever the scale of its own losses.
    """
    truth = gains.rename(columns={"partner": "source", "task": "target"})

    def rho(g: pd.DataFrame) -> float:
        return g[[column, "gain"]].corr("spearman").iloc[0, 1]

    out = {}
    for s, g in per_seed.groupby("seed"):
        mine = truth[truth.seed == s].drop(columns="seed") if "seed" in truth.columns else truth
        both = g.merge(mine, on=["source", "target"])
        out[s] = float(np.nanmean([rho(t) for _, t in both.groupby("target")])) if within else rho(both)
    return pd.Series(out, name=column)


def seed_gains(final: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """Each seed's own pairwise gains (:func:`mtlkit.selection.pairwise_gains` of that seed's networks).
    Rows: seed, task, partner, gain."""
    per = [pairwise_gains(g, tasks).assign(seed=s) for s, g in final.groupby("seed")]
    return pd.concat(per, ignore_index=True)


def held_out_gains(final: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """Leave one seed out: for each seed, the pairwise gains averaged over the *other* seeds' networks, so
    that a per-seed estimate judged against them meets the ground truth's own noise (and never its own
    seed's draw). Rows: seed, task, partner, gain. Needs at least two seeds."""
    seeds = sorted(final.seed.unique())
    if len(seeds) < 2:
        raise ValueError(f"held-out gains need at least 2 seeds, got {len(seeds)}")
    return pd.concat(
        [pairwise_gains(final[final.seed != s], tasks).assign(seed=s) for s in seeds], ignore_index=True
    )


def gain_noise_floor(final: pd.DataFrame, tasks: Sequence[str], within: bool = False) -> pd.Series:
    """Per seed, the Spearman correlation of that seed's own true gains with the other seeds' mean gains
    (:func:`held_out_gains`): how well the ground truth predicts itself, the reference a perfect per-seed
    estimator of the gains would reach against held-out gains."""
    own = seed_gains(final, tasks).rename(columns={"partner": "source", "task": "target", "gain": "own"})
    return gain_correlation(own, held_out_gains(final, tasks), "own", within).rename("noise floor")


def step_size_sensitivity(z: pd.DataFrame, gains: pd.DataFrame, by: str = "eta") -> pd.DataFrame:
    """How the lookahead changes what affinities say. ``z``: tidy transference rows ``<by>, seed, source,
    target, value`` (one tracked run per lookahead and seed; the runs train identically, so only the
    lookahead differs; ``by`` names it, e.g. the SGD step size ``eta``). Per lookahead and seed: the mean
    ``Z`` over all pairs and steps, and the Spearman correlation of averaged affinity with the true gain,
    over all ordered pairs (``rho``) and within each target (``rho_within``). Past the first-order regime
    the curvature term ``eta^2 g_i' H_j g_i / 2`` pushes every ``Z`` down in proportion to the *source's*
    gradient norm."""
    rows = []
    for key, g in z.groupby(by, sort=False):
        per_seed = g.groupby(["seed", "source", "target"], as_index=False).value.mean()
        mean_z = per_seed.groupby("seed").value.mean()
        rho = gain_correlation(per_seed, gains, "value")
        within = gain_correlation(per_seed, gains, "value", within=True)
        rows += [
            {by: key, "seed": s, "mean_Z": mean_z[s], "rho": rho[s], "rho_within": within[s]}
            for s in rho.index
        ]
    return pd.DataFrame(rows)


def step_norm_ratio(z: pd.DataFrame, numerator: str, denominator: str, by: str = "lookahead") -> pd.DataFrame:
    """Per seed, measured step and source task: the norm of lookahead ``numerator``'s update over that of
    ``denominator`` (``z``: rows ``<by>, seed, step, epoch, source, step_norm``; e.g. Adam's training
    update over an SGD step of the training learning rate). Columns: seed, epoch, step, source, ratio."""
    keys = ["seed", "epoch", "step", "source"]
    norms = z.drop_duplicates([by, *keys]).set_index([by, *keys]).step_norm
    ratio = norms.loc[numerator] / norms.loc[denominator]
    return ratio.rename("ratio").reset_index().dropna()


def hoa_members(tasks: Sequence[str]) -> list[tuple[frozenset[str], str]]:
    """The networks HOA trains (Standley et al.): full-size singles and pairs, half-width singles."""
    return [(g, size) for g, size in candidate_networks(tasks) if size == "half" or len(g) <= 2]


def time_hoa_networks(truth: dict, repeats: int = 1) -> float:
    """Wall seconds to train HOA's networks (:func:`hoa_members`) as study 03 trains its ground truth
    (:func:`~mtlkit.subsets.train_subsets` restricted to them) from a ground-truth config: the fastest
    of ``repeats``, on one torch thread, after a one-epoch warm-up."""
    tasks = list(truth["data"]["tasks"])

    def once(epochs: int) -> float:
        t0 = time.perf_counter()
        train_subsets({**truth, "epochs": epochs}, hoa_members(tasks))
        return time.perf_counter() - t0

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        once(1)  # warm-up: first calls pay one-off costs
        return min(once(truth["epochs"]) for _ in range(repeats))
    finally:
        torch.set_num_threads(threads)


def at_cap(*groups: tuple[Sequence[float], int]) -> float:
    """The share of runs whose best epoch is their epoch cap, over groups ``(best_epochs, cap)`` of runs
    with different caps (:func:`mtlkit.stats.at_last_epoch` for one cap)."""
    hits = [float(e) >= cap for epochs, cap in groups for e in epochs]
    return sum(hits) / len(hits) if hits else float("nan")


def relative_totals(
    results: pd.DataFrame, method: str, reference: str, budgets: Sequence[float]
) -> pd.Series:
    """Per seed, ``method``'s total test loss relative to ``reference``'s in percent, averaged over
    ``budgets`` (``results``: :func:`mtlkit.selection.compare_methods`; ``reference`` at the same budget,
    or at its only one, e.g. one all-task network)."""
    per = results.groupby(["method", "budget", "seed"]).test_total.mean()
    ref = per.loc[reference]
    single = ref.index.get_level_values("budget").nunique() == 1
    gaps = [100 * (per.loc[method, b] / (ref.droplevel(0) if single else ref.loc[b]) - 1) for b in budgets]
    return pd.concat(gaps, axis=1).mean(axis=1)


def random_groupings(
    final: pd.DataFrame,
    table: Sequence[Candidate],
    tasks: Sequence[str],
    budgets: Sequence[float],
    draws: int,
    seed: int,
    method: str = "random groups",
) -> pd.DataFrame:
    """``draws`` random selections per budget from ``table`` (e.g. :func:`affinity_candidates`: the groups
    TAG chooses from, so a draw buys as many full-size networks as the budget does), drawn as
    :func:`mtlkit.selection.compare_methods` draws its random baseline (:func:`~mtlkit.grouping.random_selection`,
    generator seeded with ``seed``) and scored on each seed's test losses. Rows as
    :func:`~mtlkit.selection.compare_methods`' (``method`` names them)."""
    rng = np.random.default_rng(seed)
    tests = {s: candidates(g, "test") for s, g in final.groupby("seed")}
    rows = []
    for b in budgets:
        for d in range(draws):
            sel = random_selection(table, tasks, b, rng)
            if sel is None:
                continue
            for s, test in tests.items():
                total = evaluate_selection(sel.networks, test, tasks)
                rows.append(
                    {
                        "method": method,
                        "budget": b,
                        "seed": s,
                        "draw": d,
                        "networks": " | ".join(sel.networks),
                        "cost": sel.cost,
                        "test_total": total,
                    }
                )
    return pd.DataFrame(rows)


def at_cap_by_claim(
    best: pd.Series, joint_cap: int, networks: pd.DataFrame, truth_cap: int
) -> dict[str, float]:
    """Study 04's ``at_last_epoch`` per claim: the share of the runs behind it whose best epoch is their cap.
    ``best``: the joint runs' best epochs by ``(method, seed)`` (cap ``joint_cap``); ``networks``: the
    ground truth's networks (``network``, ``size``, best ``epoch``; cap ``truth_cap``). C1: the tracked
    run and the single and pair networks (the true gains; C1.cosine as C1); C2: the tracked run and every network
    (C2.compute: HOA's); C3.<baseline>: IT-MTL, the baseline and one network per task (delta_m reference)."""

    def joint(*methods: str) -> tuple[Sequence[float], int]:
        return best.loc[list(methods)].to_numpy(), joint_cap

    def truth(keep: pd.Series) -> tuple[Sequence[float], int]:
        return networks.epoch[keep].to_numpy(), truth_cap

    small = networks.network.str.count(r"\+") <= 1
    pairs, every = small & (networks["size"] == "full"), networks.network.notna()
    hoa = small | (networks["size"] == "half")
    out = {"C1": at_cap(joint("equal"), truth(pairs)), "C2.compute": at_cap(joint("equal"), truth(hoa))}
    out["C1.cosine"] = out["C1"]
    out["C2.regret"] = out["C2.all"] = out["C2.random"] = at_cap(joint("equal"), truth(every))
    out |= {f"C3.{b}": at_cap(joint("itmtl", b, "single")) for b in ("equal", "pcgrad")}
    return out
