"""Study 04 - transference (Fifty et al. 2020, arXiv 2010.15413; TAG, Fifty et al. 2021, arXiv
2109.04617): lookahead transference measured during one joint run, averaged into inter-task affinities,
judged against study 03's exhaustive ground truth, used to choose groupings, and IT-MTL's per-step
choice of update.

The measurements are in :mod:`mtlkit.lookahead` and :mod:`mtlkit.transference`; this module holds the
study's declared parameters (:data:`SPEC`: study 03's, so that its ground truth can be reused, plus the
lookahead's), its runs (:func:`run_configs`) and its figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mtlkit.params import Param, StudySpec
from mtlkit.plotting import band, diverging_heatmap, plot_intervals
from mtlkit.runs import FitConfig, RunConfig, TrackConfig, tracking_overhead
from mtlkit.session import Params
from mtlkit.stats import summarize
from mtlkit.studies import task_grouping

SPEC = StudySpec(
    name="04_transference",
    title="04 - Transference: lookahead affinities in one run, groupings from them, and IT-MTL",
    paper="Fifty, Amid, Zhao, Yu, Anil, Finn 2020/2021, Measuring and Harnessing Transference in Multi-Task "
    "Learning, arXiv 2010.15413; Efficiently Identifying Task Groupings for Multi-Task Learning, arXiv 2109.04617",
    figure="budget",
    # the ground-truth parameters are study 03's, so that its results can be read instead of recomputed
    params=task_grouping.GROUND_TRUTH_PARAMS
    + (
        Param(
            "every",
            "int",
            help="measure transference every k training steps (TAG: 10 on Taskonomy, 1 on CelebA)",
            low=1,
            high=10**6,
            by_mode={"smoke": 1, "default": 10, "full": 10},
        ),
        Param(
            "lookahead_lr",
            "float",
            None,
            "step size of the plain SGD lookahead (transference and IT-MTL); None = the training lr, "
            "as in the papers, where Z is first-order (the notebook also measures 10x and 100x)",
            low=1e-6,
            high=100.0,
            follows="lr",
        ),
        Param(
            "itmtl_candidates",
            "list",
            ["sum", "pcgrad"],
            "IT-MTL's candidate shared updates",
            choices=("sum", "pcgrad", "mgda"),
        ),
        Param(
            "ground_truth",
            "str",
            "auto",
            "'auto': read results/03_task_grouping when computed at these parameters, else recompute; "
            "'recompute': always train the subset networks here",
            choices=("auto", "recompute"),
        ),
    ),
    checks=task_grouping.CHECKS,
)

PAPER = {
    "C1": "TAG (Fifty et al. 2021, arXiv 2109.04617) groups by these affinities; no correlation with true gains "
    "reported; a later benchmark (arXiv 2301.02873) found it weak",
    "C2.regret": "arXiv 2109.04617: TAG's groups reach 10.0% lower test loss than one all-task network on "
    "Taskonomy",
    "C2.compute": "arXiv 2109.04617: choosing groups by TAG is 11.6x faster than by HOA on Taskonomy",
    "C3.equal": "Fifty et al. 2020 (arXiv 2010.15413): IT-MTL improves on its baselines; no number read",
    "C3.pcgrad": "arXiv 2010.15413: IT-MTL improves on PCGrad alone; no number read",
}
"""What the papers reported for each claim."""


METHODS = ("single", "equal", "pcgrad", "itmtl")
"""One network per task; hard sharing with equal weights (tracked), PCGrad, and IT-MTL."""


def run_config(p: Params, method: str, seed: int, device: str = "cpu") -> RunConfig:
    """One joint run of study 03's all-task network (or one network per task for ``single``); the
    equal-weight run measures transference every ``every`` steps."""
    weighting = {"single": "equal", "equal": "equal", "pcgrad": "pcgrad"}.get(method) or {
        "name": "itmtl",
        "lr": p.lookahead_lr,
        "candidates": list(p.itmtl_candidates),
    }
    return RunConfig(
        seed=seed,
        device=device,
        data=task_grouping.truth_config(p, seed)["data"],
        model={
            "architecture": "separate" if method == "single" else "hard",
            "width": p.width,
            "depth": p.depth,
        },
        fit=FitConfig(epochs=p.epochs, lr=p.lr, batch_size=p.batch_size, weighting=weighting),
        track=TrackConfig(p.every, p.lookahead_lr) if method == "equal" else None,
    )


def run_configs(p: Params, seeds: Sequence[int], device: str = "cpu") -> dict[tuple, RunConfig]:
    """Every joint run, keyed ``(method, seed)``."""
    return {(m, s): run_config(p, m, s, device) for s in seeds for m in METHODS}


def step_size_configs(p: Params, seeds: Sequence[int], factors: Sequence[float], device: str = "cpu") -> dict:
    """The tracked equal-weight run again with the lookahead step ``lookahead_lr * factor``, keyed
    ``(eta, seed)``: the runs train identically, only the lookahead differs."""
    return {
        (p.lookahead_lr * f, s): dataclasses.replace(
            run_config(p, "equal", s, device), track=TrackConfig(p.every, p.lookahead_lr * f)
        )
        for f in factors
        for s in seeds
    }


def compute_vs_pairs(
    configs: dict[int, RunConfig], every: int, lr: float, n_tasks: int, epochs: int
) -> pd.DataFrame:
    """Per seed: :func:`tracking_overhead` of its config, the affinity method's compute in network-epochs
    (one joint run times the overhead) and the ratio of HOA's pair training (``n(n-1)/2`` networks x
    ``epochs``) to it. Columns: seed, plain_s, tracked_s, overhead, affinity_compute, ratio_vs_HOA_pairs."""
    rows = []
    for seed, config in configs.items():
        plain, tracked = tracking_overhead(config, every, lr)
        rows.append({"plain_s": plain, "tracked_s": tracked, "seed": seed, "overhead": tracked / plain})
    table = pd.DataFrame(rows)
    table["affinity_compute"] = epochs * table.overhead
    table["ratio_vs_HOA_pairs"] = n_tasks * (n_tasks - 1) // 2 * epochs / table.affinity_compute
    return table


def affinity_heatmaps(z: pd.DataFrame, epochs: Sequence[int]) -> plt.Figure:
    """Inter-task affinity (``Z`` averaged over the steps of an epoch and over seeds) at several epochs:
    row = source task (the one stepped on), column = target (the one whose loss changes). Epochs with no
    measured step are left out."""
    epochs = [e for e in epochs if (z.epoch == e).any()] or sorted(z.epoch.unique())[-1:]
    fig, axes = plt.subplots(1, len(epochs), figsize=(4.2 * len(epochs) + 1, 3.9), squeeze=False)
    mats = [z[z.epoch == e].groupby(["source", "target"]).value.mean().unstack() for e in epochs]
    lim = max(float(np.nanmax(np.abs(m.to_numpy()))) for m in mats)
    # Z scales with the lookahead step: annotate in units of a power of ten so small values stay readable
    power = int(np.floor(np.log10(lim))) if lim > 0 else 0
    label = "Z (source -> target)" + (f", x 1e{power}" if power else "")
    for k, (ax, e, m) in enumerate(zip(axes[0], epochs, mats)):
        last = k == len(epochs) - 1
        scaled = m / 10.0**power
        diverging_heatmap(scaled, ax, lim / 10.0**power, ".2f", label, cbar=last, annot_kws={"size": 7})
        ax.set_title(f"epoch {e}")
        ax.set_xlabel("target")
        ax.set_ylabel("source" if k == 0 else "")
    fig.tight_layout()
    return fig


def affinity_series(z: pd.DataFrame, pairs: Sequence[tuple[str, str]], n_seeds: int) -> plt.Figure:
    """Lookahead transference of selected ``(source, target)`` pairs over training (epoch means, 95% band
    across seeds)."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    per = z.groupby(["seed", "epoch", "source", "target"], as_index=False).value.mean()
    for src, tgt in pairs:
        band(ax, per[(per.source == src) & (per.target == tgt)], f"{src} -> {tgt}")
    ax.axhline(0, color="k", lw=1, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("lookahead transference Z")
    ax.set_title(f"Transference over training ({n_seeds} seeds, 95% band)")
    ax.legend(frameon=False, fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig


def affinity_vs_gain(pairs: pd.DataFrame, rho: float) -> plt.Figure:
    """Each ordered pair's averaged affinity (x) against the ground-truth gain of training the pair (y)."""
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    sns.scatterplot(data=pairs, x="affinity", y="gain", hue="task", ax=ax, s=60)
    ax.axhline(0, color="k", lw=0.8, ls="--")
    ax.axvline(0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("averaged affinity  partner -> task  (one joint run)")
    ax.set_ylabel("ground truth: test-loss gain of task\nwhen trained with partner (study 03)")
    ax.set_title(f"Spearman rho = {rho:.2f} (seed-averaged affinities)")
    ax.legend(title="task", frameon=False, fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig


def itmtl_figure(dm: pd.DataFrame, choices: pd.DataFrame, methods: Sequence[str], n_seeds: int) -> plt.Figure:
    """Left: delta_m vs single-task networks per method (95% interval). Right: the share of IT-MTL's
    steps that took each candidate update, per epoch (seed-averaged)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    plot_intervals(summarize(dm, ["method"], "delta_m"), "method", ax=a, order=methods)
    a.axhline(0, color="k", lw=1, ls="--")
    a.set_xlabel("")
    a.set_ylabel("delta_m vs one network per task (%)")
    a.set_title(f"Test accuracy, {n_seeds} seeds")
    for candidate, g in choices.groupby("candidate", sort=False):
        band(b, g, candidate)
    b.legend(title="candidate", frameon=False)
    b.set_xlabel("epoch")
    b.set_ylim(-0.02, 1.02)
    b.set_ylabel("share of steps choosing it")
    b.set_title("IT-MTL's choice over training")
    fig.tight_layout()
    return fig


def step_size_figure(sensitivity: pd.DataFrame, default: float, n_seeds: int) -> plt.Figure:
    """Correlation of averaged affinity with the true gain against the lookahead step size (95% intervals
    across seeds), over all ordered pairs and within each target task."""
    long = sensitivity.melt(id_vars=["eta", "seed"], value_vars=["rho", "rho_within"], var_name="pairs")
    long["pairs"] = long.pairs.map({"rho": "all ordered pairs", "rho_within": "within each target"})
    summary = summarize(long, ["eta", "pairs"])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    order = sorted(summary.eta.unique())
    plot_intervals(summary, "eta", "pairs", ax=ax, order=order)
    ax.set_xticklabels([f"{e:g}" + (" (default)" if np.isclose(e, default) else "") for e in order])
    ax.axhline(0, color="black", lw=0.8, ls="--")
    ax.set(
        xlabel="lookahead step size eta",
        ylabel="Spearman rho: affinity vs true gain",
        title=f"Affinity vs true gain ({n_seeds} seeds, 95% CI)",
    )
    fig.tight_layout()
    return fig
