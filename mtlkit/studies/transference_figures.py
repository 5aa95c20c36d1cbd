"""Study 04's figures: affinities over training and against the true gains, IT-MTL's choices, and the
lookahead step's effect on C1 (the analysis is in :mod:`mtlkit.studies.transference`)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mtlkit.plotting import QUALITATIVE, band, diverging_heatmap, plot_intervals
from mtlkit.stats import mean_ci, summarize


def affinity_heatmaps(z: pd.DataFrame, epochs: Sequence[int]) -> plt.Figure:
    """Inter-task affinity (``Z`` averaged over the steps of an epoch and over seeds) at several epochs:
    row = source task (the one stepped on), column = target. Epochs with no measured step are left out."""
    epochs = [e for e in epochs if (z.epoch == e).any()] or sorted(z.epoch.unique())[-1:]
    fig, axes = plt.subplots(1, len(epochs), figsize=(4.2 * len(epochs) + 1, 3.9), squeeze=False)
    mats = [z[z.epoch == e].groupby(["source", "target"]).value.mean().unstack() for e in epochs]
    lim = max(float(np.nanmax(np.abs(m.to_numpy()))) for m in mats)
    power = int(np.floor(np.log10(lim))) if lim > 0 else 0  # annotate in units of a power of ten
    label = "Z (source -> target)" + (f", x 1e{power}" if power else "")
    for k, (ax, e, m) in enumerate(zip(axes[0], epochs, mats)):
        last = k == len(epochs) - 1
        diverging_heatmap(
            m / 10.0**power, ax, lim / 10.0**power, ".2f", label, cbar=last, annot_kws={"size": 8}
        )
        ax.set(title=f"epoch {e}", xlabel="target", ylabel="source" if k == 0 else "")
    fig.tight_layout()
    return fig


def affinity_series(z: pd.DataFrame, pairs: Sequence[tuple[str, str]], n_seeds: int) -> plt.Figure:
    """Lookahead transference of selected ``(source, target)`` pairs over training, a panel per pair (epoch
    means, 95% band across seeds), up to the last epoch every seed reached (later ones rest on fewer)."""
    per = z.groupby(["seed", "epoch", "source", "target"], as_index=False).value.mean()
    per = per[per.epoch <= per.groupby("seed").epoch.max().min()]
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.3 * len(pairs), 3.4), sharey=True, squeeze=False)
    for ax, (src, tgt), c in zip(axes[0], pairs, QUALITATIVE):
        band(ax, per[(per.source == src) & (per.target == tgt)], f"{src} -> {tgt}", color=c)
        ax.axhline(0, color="k", lw=1, ls="--")
        ax.set(xlabel="epoch", title=f"{src} -> {tgt}")
    axes[0, 0].set_ylabel("lookahead transference Z")
    fig.suptitle(f"Transference over training ({n_seeds} seeds, epochs all of them reached; 95% bands)")
    fig.tight_layout()
    return fig


def affinity_vs_gain(pairs: pd.DataFrame, rho: float, rho_per_seed: Sequence[float] = ()) -> plt.Figure:
    """Each ordered pair's seed-averaged affinity (x) against its true gain (y), titled with ``rho`` of these
    points and, if given, the mean per-seed rho that claim C1 tests (the rho of means is not the mean rho)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    sns.scatterplot(data=pairs, x="affinity", y="gain", hue="task", ax=ax, s=60)
    ax.axhline(0, color="k", lw=0.8, ls="--")
    ax.axvline(0, color="k", lw=0.8, ls="--")
    ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    ax.set_xlabel("seed-averaged affinity  partner -> task\n(one joint run per seed, Adam lookahead)")
    ax.set_ylabel("ground truth: test-loss gain of task\nwhen trained with partner (study 03)")
    title = f"Spearman rho of these points = {rho:.2f}"
    if len(rho_per_seed):
        m, lo, hi = mean_ci(rho_per_seed)
        title = f"per-seed rho: mean {m:.2f} [{lo:.2f}, {hi:.2f}] (claim C1)\n{title} (seed-averaged)"
    ax.set_title(title, fontsize=11)
    ax.legend(title="task", frameon=False, fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig


def itmtl_figure(dm: pd.DataFrame, choices: pd.DataFrame, methods: Sequence[str], n_seeds: int) -> plt.Figure:
    """Left: delta_m vs single-task networks per method (95% interval). Right: the share of IT-MTL's
    steps that took each candidate update, per epoch (seed-averaged)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    plot_intervals(summarize(dm, ["method"], "delta_m"), "method", ax=a, order=methods)
    a.axhline(0, color="k", lw=1, ls="--")
    a.set(xlabel="", ylabel="delta_m vs one network per task (%)", title=f"Test accuracy, {n_seeds} seeds")
    for candidate, g in choices.groupby("candidate", sort=False):
        band(b, g, candidate)
    b.legend(title="candidate", frameon=False)
    b.set(xlabel="epoch", ylim=(-0.02, 1.02), ylabel="share of steps choosing it", title="IT-MTL's choices")
    fig.tight_layout()
    return fig


def step_size_figure(sensitivity: pd.DataFrame, order: Sequence[str], n_seeds: int) -> plt.Figure:
    """Correlation of averaged affinity with the true gain for each lookahead (95% intervals across seeds),
    over all ordered pairs and within each target task."""
    long = sensitivity.melt(id_vars=["lookahead", "seed"], value_vars=["rho", "rho_within"], var_name="pairs")
    long["pairs"] = long.pairs.map({"rho": "all ordered pairs", "rho_within": "within each target"})
    fig, ax = plt.subplots(figsize=(7, 3.8))
    plot_intervals(summarize(long, ["lookahead", "pairs"]), "lookahead", "pairs", ax=ax, order=order)
    ax.set_xticklabels([str(o).replace(" (", "\n(") for o in order])
    ax.axhline(0, color="black", lw=0.8, ls="--")
    ax.set(
        xlabel="lookahead update",
        ylabel="Spearman rho: affinity vs true gain",
        title=f"Affinity vs true gain by lookahead ({n_seeds} seeds, 95% CI)",
    )
    fig.tight_layout()
    return fig
