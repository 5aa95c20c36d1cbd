"""Study 02's figures: the seed-averaged fronts and the hypervolume gains (the analysis is in
:mod:`mtlkit.studies.small_towers`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from mtlkit.fronts import VARIANTS, gains
from mtlkit.plotting import plot_intervals
from mtlkit.stats import summarize
from mtlkit.studies.small_towers import DIGITS, NONE_GAMMA, PSEUDO_GAMMA, datasets, task_names


def fronts_figure(test_loss: pd.DataFrame, p: dict) -> plt.Figure:
    """Seed-averaged test losses over the weight sweep (log axes): one panel per data set and architecture,
    one curve per variant (at the main gamma; lower left is better on both tasks)."""
    tasks, g = task_names(p), p["aux_weight"]
    keep = test_loss[
        test_loss.gamma.isin([g, NONE_GAMMA, PSEUDO_GAMMA])
        & ~((test_loss.variant.isin(p["heads"] + ["large"])) & (test_loss.gamma != g))
    ]
    panels = list(dict.fromkeys(zip(keep.dataset, keep.architecture)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.9 * len(panels), 3.5), squeeze=False)
    colors = dict(zip(VARIANTS, sns.color_palette(n_colors=len(VARIANTS))))
    for ax, (ds, arch) in zip(axes[0], panels):
        d = keep[(keep.dataset == ds) & (keep.architecture == arch)]
        mean = d.groupby(["variant", "alpha", "task"]).value.mean().unstack("task")
        t1, t2 = tasks[ds]
        for v in [v for v in VARIANTS if v in mean.index.get_level_values(0)]:
            m = mean.loc[v].sort_index()
            ax.plot(m[t1], m[t2], "o-", color=colors[v], label=v, ms=4, lw=1.2)
        ax.set(title=f"{ds} · {arch}", xlabel=f"{t1} test loss", ylabel=f"{t2} test loss", xscale="log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
        ax.tick_params(axis="x", labelrotation=30)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), title="variant", frameon=False, loc="center right")
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    return fig


def hypervolume_figure(hv: pd.DataFrame, gammas: pd.DataFrame, p: dict) -> plt.Figure:
    """Left: each variant's hypervolume gain over the base model on the digits. Middle: the first small
    head's gain against gamma. Right: the extension's gains (synthetic pairs, hard sharing and MMoE)."""
    g, h, on = p["aux_weight"], p["heads"][0], p["digits"]
    base, syn = ("none", NONE_GAMMA), [ds for ds in datasets(p) if ds != DIGITS]
    runs = [(k, g) for k in p["heads"]] + [("large", g), ("pseudo", PSEUDO_GAMMA), ("wide", NONE_GAMMA)]
    digits = gains(hv, runs, base, [DIGITS]).assign(variant=lambda d: d.variant.str[0])
    ext = pd.concat([gains(hv, [(h, g)], base, syn, a).assign(architecture=a) for a in ("hard", "mmoe")])
    gam = gammas.assign(gamma=gammas.gamma.map("{:g}".format))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [1.6, 1, 1]})
    for ax, frame, x, title in (
        (axes[0], digits, "variant", f"{on}: gain over the base model (gamma = {g:g})"),
        (axes[1], gam, "gamma", f"{on}: {h} heads vs gamma"),
        (axes[2], ext, "architecture", f"extension, synthetic pairs: {h} heads"),
    ):
        plot_intervals(summarize(frame, [x], "gain"), x, ax=ax, order=list(dict.fromkeys(frame[x])))
        ax.axhline(0, color="k", lw=1, ls="--")
        ax.set(title=title, xlabel=x, ylabel="test hypervolume gain (95% CI)")
    fig.tight_layout()
    return fig
