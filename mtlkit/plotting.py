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
