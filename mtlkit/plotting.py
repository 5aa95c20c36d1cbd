"""The project's one look (:func:`set_theme`) and the figure pieces several studies use. Error bars are
the 95% t-intervals of :mod:`mtlkit.stats` (the same numbers as the claims), never a plotting library's
own bootstrap. Each study's own figures live in its module under :mod:`mtlkit.studies`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mtlkit.selection import ALL_TASKS, FULL_SINGLES, HALF_SINGLES
from mtlkit.stats import summarize


def set_theme() -> None:
    """The project's one look: seaborn whitegrid, colorblind palette, readable sizes."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook", rc={"figure.dpi": 100})


def plot_intervals(
    summary: pd.DataFrame,
    x: str,
    hue: str | None = None,
    *,
    ax: plt.Axes | None = None,
    order: Sequence | None = None,
    hue_order: Sequence | None = None,
    horizontal: bool = False,
    dodge: float = 0.12,
) -> plt.Axes:
    """Means with 95% interval bars from a :func:`~mtlkit.stats.summarize` frame (``mean, low, high``)."""
    ax = ax or plt.gca()
    order = list(order if order is not None else dict.fromkeys(summary[x]))
    groups = list(hue_order if hue_order is not None else (dict.fromkeys(summary[hue]) if hue else [None]))
    colors = sns.color_palette(n_colors=max(len(groups), 1))
    pos = {v: i for i, v in enumerate(order)}
    for k, (g, c) in enumerate(zip(groups, colors)):
        d = summary if g is None else summary[summary[hue] == g]
        d = d[d[x].isin(pos)]
        at = d[x].map(pos).to_numpy(float) + (k - (len(groups) - 1) / 2) * dodge
        err = np.vstack([d["mean"] - d["low"], d["high"] - d["mean"]])
        err = np.nan_to_num(err, nan=0.0)
        args = (d["mean"], at) if horizontal else (at, d["mean"])
        kw = {"xerr": err} if horizontal else {"yerr": err}
        ax.errorbar(*args, **kw, fmt="o", color=c, capsize=3, label=None if g is None else str(g))
    ticks = (ax.set_yticks, ax.set_yticklabels) if horizontal else (ax.set_xticks, ax.set_xticklabels)
    ticks[0](range(len(order)))
    ticks[1]([str(o) for o in order])
    if hue:
        ax.legend(title=hue, frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    return ax


def show_examples(x: np.ndarray, labels: pd.DataFrame, n: int = 8) -> plt.Figure:
    """A row of input images with their task labels underneath (for a reader to see the data)."""
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 1.9))
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(np.asarray(x[i]).squeeze(), cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_xlabel("\n".join(f"{k}={v}" for k, v in labels.iloc[i].items()), fontsize=7)
    fig.tight_layout()
    return fig


def diverging_heatmap(m: pd.DataFrame, ax: plt.Axes, lim: float, fmt: str, label: str, **kw: Any) -> None:
    """An annotated heat map centred on 0 (red = hurts, blue = helps), symmetric colour range ``+-lim``."""
    lim = lim or 1.0
    sns.heatmap(
        m,
        cmap="vlag_r",
        center=0,
        vmin=-lim,
        vmax=lim,
        annot=True,
        fmt=fmt,
        ax=ax,
        cbar_kws={"label": label},
        **kw,
    )


def band(ax: plt.Axes, frame: pd.DataFrame, label: str) -> None:
    """Mean ``value`` per epoch across seeds with its 95% interval as a band (one row per seed and epoch)."""
    s = summarize(frame, ["epoch"])
    (line,) = ax.plot(s.epoch, s["mean"], label=label)
    ax.fill_between(s.epoch, s.low, s.high, color=line.get_color(), alpha=0.15)


def budget_figure(
    results: pd.DataFrame, n_seeds: int, methods: Sequence[str] = ("optimal", "HOA", "ESA", "random")
) -> plt.Figure:
    """Studies 03 and 04's main figure: total test loss of each method's selection against the budget
    (means with 95% intervals, methods side by side), and the fixed baselines at their own costs."""
    fig, ax = plt.subplots(figsize=(8, 4.6))
    lines = results[results.method.isin(list(methods))]
    per_seed = lines.groupby(["method", "budget", "seed"], as_index=False).test_total.mean()
    colors = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    for k, method in enumerate(m for m in methods if m in set(per_seed.method)):
        s = summarize(per_seed[per_seed.method == method], ["budget"], "test_total")
        at = s.budget + (k - (len(methods) - 1) / 2) * 0.06
        err = np.nan_to_num([s["mean"] - s.low, s.high - s["mean"]])
        ax.errorbar(
            at, s["mean"], yerr=err, fmt="o-", color=colors[method], label=method, ms=4, capsize=2, lw=1
        )
    for method, marker in ((ALL_TASKS, "s"), (HALF_SINGLES, "^"), (FULL_SINGLES, "D")):
        g = results[results.method == method]
        if g.empty:
            continue
        s = summarize(g, ["budget"], "test_total")
        err = np.nan_to_num([s["mean"] - s.low, s.high - s["mean"]])
        ax.errorbar(s.budget, s["mean"], yerr=err, fmt=marker, color="k", ms=7, capsize=3, label=method)
    ax.set_xlabel("inference budget (full-size networks)")
    ax.set_ylabel("total test loss (sum over tasks)")
    ax.set_title(f"Selections made on validation loss, scored on test ({n_seeds} seeds, 95% intervals)")
    ax.legend(frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig


def regret_figure(regret: pd.DataFrame) -> plt.Figure:
    """Regret against the exhaustive optimum versus the compute each method spent (network-epochs)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    s = summarize(regret, ["method", "compute"], "regret")
    for (method, compute), row in s.set_index(["method", "compute"]).iterrows():
        ax.errorbar(
            compute,
            row["mean"],
            yerr=[[row["mean"] - row.low], [row.high - row["mean"]]] if row.n > 1 else None,
            fmt="o",
            capsize=3,
            label=method,
        )
    ax.set_xscale("log")
    ax.axhline(0, color="k", lw=1, ls="--")
    ax.set_xlabel("compute to make the choice (network-epochs, log scale)")
    ax.set_ylabel("regret: test total - optimal's\n(mean over budgets)")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig
