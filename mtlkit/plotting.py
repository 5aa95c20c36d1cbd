"""One seaborn theme and the study figures. Error bars are the 95% t-intervals of :mod:`mtlkit.stats`
(the same numbers as the claims), never a plotting library's own bootstrap."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

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


def landscape_figure(final: pd.DataFrame, dm: pd.DataFrame, methods: Sequence[str], tasks: Sequence[str],
                     n_seeds: int) -> plt.Figure:
    """Study 00's main figure: delta_m per method (left) and test accuracy per task and method (right)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 2.2]})
    s = summarize(dm, ["method"], "delta_m")
    mt = [m for m in methods if m != "single"]
    plot_intervals(s, "method", ax=a, order=mt[::-1], horizontal=True)
    a.axvline(0, color="k", lw=1, ls="--")
    a.set_xlabel("delta_m vs single-task networks (%)")
    a.set_ylabel("hard sharing, weighting")
    a.set_title(f"Mean relative accuracy change ({n_seeds} seeds, 95% CI)")
    acc = summarize(final[(final.split == "test") & (final.metric == "accuracy")], ["task", "method"])
    plot_intervals(acc, "task", "method", ax=b, order=tasks, hue_order=methods, dodge=0.11)
    b.tick_params(axis="x", labelrotation=20)
    b.set_ylabel("test accuracy")
    b.set_xlabel("task")
    b.set_title("Per-task test accuracy (single = one network per task)")
    fig.tight_layout()
    return fig


def weights_figure(history: pd.DataFrame, methods: Sequence[str]) -> plt.Figure:
    """Mean task weight per epoch for each weighting method (seed-averaged)."""
    d = history[(history.metric == "weight") & history.method.isin(methods)]
    g = sns.relplot(data=d, x="epoch", y="value", hue="task", col="method", col_order=list(methods),
                    kind="line", errorbar=None, height=2.6, aspect=1.1, col_wrap=min(len(methods), 3),
                    facet_kws={"sharey": False})
    g.set_axis_labels("epoch", "task weight (epoch mean)")
    return g.figure


def curves_figure(history: pd.DataFrame, methods: Sequence[str]) -> plt.Figure:
    """Summed validation loss over epochs per method (seed-averaged, 95% band across seeds)."""
    d = history[(history.split == "val") & (history.metric == "loss")]
    d = d.groupby(["method", "seed", "epoch"], as_index=False)["value"].sum()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sns.lineplot(data=d, x="epoch", y="value", hue="method", hue_order=list(methods), ax=ax, errorbar=None)
    ax.set_ylabel("validation loss, summed over tasks")
    ax.legend(frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig
