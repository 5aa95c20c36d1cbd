"""The project's one look (:func:`set_theme`) and the figure pieces several studies use. Error bars are
the 95% t-intervals of :mod:`mtlkit.stats` (the same numbers as the claims), never a plotting library's
own bootstrap. Each study's own figures live in its module under :mod:`mtlkit.studies`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mtlkit.selection import ALL_TASKS, FULL_SINGLES, HALF_SINGLES
from mtlkit.stats import summarize

QUALITATIVE: tuple[str, ...] = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#777777")
"""Paul Tol's colour-blind-safe "bright" scheme (its grey darkened to read as a line): seven hues that stay
distinct from one another, where seaborn's ``colorblind`` has three near-identical oranges."""

OPTIMUM = "#222222"
"""The reference every selection is scored against (the exhaustive optimum) and the fixed baselines."""

SELECTION_COLORS: dict[str, str] = {
    "HOA": QUALITATIVE[0],
    "ESA": QUALITATIVE[2],
    "random": QUALITATIVE[1],
    "affinity": QUALITATIVE[5],
    "TAG": QUALITATIVE[5],
    "Grad-TAG": QUALITATIVE[4],
    "ETAP": QUALITATIVE[3],
    "MILP": QUALITATIVE[6],
}
"""One colour per selection method in every figure of studies 03, 04 and 05 (04's "affinity" is 05's TAG)."""


def colors(keys: Sequence[Any]) -> dict[Any, str]:
    """A fixed colour per key (in the order given, cycling past seven) for a study to reuse in all its
    figures, so that a method or task keeps its colour from one figure to the next."""
    return {k: QUALITATIVE[i % len(QUALITATIVE)] for i, k in enumerate(keys)}


def set_theme() -> None:
    """The project's one look: seaborn whitegrid, a colour-blind-safe palette, readable sizes."""
    sns.set_theme(style="whitegrid", palette=list(QUALITATIVE), context="notebook", rc={"figure.dpi": 100})


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
    palette: Mapping[Any, str] | None = None,
) -> plt.Axes:
    """Means with 95% interval bars from a :func:`~mtlkit.stats.summarize` frame (``mean, low, high``);
    ``palette`` fixes each ``hue`` group's colour (see :func:`colors`)."""
    ax = ax or plt.gca()
    order = list(order if order is not None else dict.fromkeys(summary[x]))
    groups = list(hue_order if hue_order is not None else (dict.fromkeys(summary[hue]) if hue else [None]))
    palette = palette or dict(zip(groups, sns.color_palette(n_colors=max(len(groups), 1))))
    pos = {v: i for i, v in enumerate(order)}
    for k, g in enumerate(groups):
        c = palette[g]
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


def cell_labels(m: pd.DataFrame, fmt: str) -> np.ndarray:
    """Heat-map annotations: each value formatted with ``fmt``, a value that rounds to zero as plain zero
    (never "-0.00"), a missing one as blank."""

    def one(v: float) -> str:
        if not np.isfinite(v):
            return ""
        text = format(v, fmt)
        return format(0.0, fmt) if float(text) == 0 else text

    return np.vectorize(one, otypes=[str])(m.to_numpy(float))


def diverging_heatmap(m: pd.DataFrame, ax: plt.Axes, lim: float, fmt: str, label: str, **kw: Any) -> None:
    """An annotated heat map centred on 0 (red = hurts, blue = helps), symmetric colour range ``+-lim``,
    without grid lines through its cells; missing cells (a task with itself) are left blank."""
    lim = lim or 1.0
    sns.heatmap(
        m,
        cmap="vlag_r",
        center=0,
        vmin=-lim,
        vmax=lim,
        annot=cell_labels(m, fmt),
        fmt="",
        ax=ax,
        cbar_kws={"label": label},
        **kw,
    )
    ax.grid(False)
    ax.tick_params(axis="y", labelrotation=0)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")


def band(ax: plt.Axes, frame: pd.DataFrame, label: str, **kw: Any) -> None:
    """Mean ``value`` per epoch across seeds with its 95% interval as a band (one row per seed and epoch);
    ``kw`` goes to the line (e.g. ``color``)."""
    s = summarize(frame, ["epoch"])
    (line,) = ax.plot(s.epoch, s["mean"], label=label, **kw)
    ax.fill_between(s.epoch, s.low, s.high, color=line.get_color(), alpha=0.15)


def _points(ax: plt.Axes, s: pd.DataFrame, x: str, **kw: Any) -> None:
    """Means of a :func:`~mtlkit.stats.summarize` frame at ``x`` with their 95% interval bars."""
    err = np.nan_to_num([s["mean"] - s.low, s.high - s["mean"]])
    ax.errorbar(s[x], s["mean"], yerr=err, capsize=2, **kw)


def budget_figure(
    results: pd.DataFrame, n_seeds: int, methods: Sequence[str] = ("optimal", "HOA", "ESA", "random")
) -> plt.Figure:
    """Studies 03 and 04's main figure, one column per method against the exhaustive optimum (black line,
    grey band). Top: total test loss of its selection against the budget (means with 95% intervals), with
    the fixed baselines at their own costs. Bottom: its gap to the optimum's total in the same seed (the
    paired difference the claims test; its interval leaves out the seed-to-seed spread both share)."""
    others = [m for m in methods if m != "optimal" and m in set(results.method)]
    fig, axes = plt.subplots(
        2, len(others), figsize=(3.2 * len(others) + 2.6, 6.2), sharex=True, sharey="row", squeeze=False
    )
    per_seed = results.groupby(["method", "budget", "seed"], as_index=False).test_total.mean()
    opt = per_seed[per_seed.method == "optimal"]
    gap = per_seed.merge(opt[["budget", "seed", "test_total"]], on=["budget", "seed"], suffixes=("", "_opt"))
    gap["gap"] = gap.test_total - gap.test_total_opt
    o = summarize(opt, ["budget"], "test_total")
    for method, (top, bottom) in zip(others, axes.T):
        top.plot(o.budget, o["mean"], color=OPTIMUM, lw=1.2, label="optimal (95% band)")
        top.fill_between(o.budget, o.low, o.high, color=OPTIMUM, alpha=0.1, lw=0)
        for base, marker in ((ALL_TASKS, "s"), (HALF_SINGLES, "^"), (FULL_SINGLES, "D")):
            if (results.method == base).any():
                s = summarize(results[results.method == base], ["budget"], "test_total")
                _points(top, s, "budget", fmt=marker, color=OPTIMUM, mfc="white", ms=6, label=base)
        c = SELECTION_COLORS.get(method, QUALITATIVE[3])
        s = summarize(per_seed[per_seed.method == method], ["budget"], "test_total")
        _points(top, s, "budget", fmt="o-", color=c, ms=4, lw=1, label=method)
        top.set_title(f"{method} vs optimal", color=c)
        bottom.axhline(0, color=OPTIMUM, lw=1.2)
        _points(
            bottom,
            summarize(gap[gap.method == method], ["budget"], "gap"),
            "budget",
            fmt="o-",
            color=c,
            ms=4,
            lw=1,
        )
        bottom.set_xlabel("inference budget\n(full-size networks)")
    axes[0, 0].set_ylabel("total test loss\n(sum over tasks)")
    axes[1, 0].set_ylabel("minus the optimum's total\n(same seed)")
    legend = {lab: h for ax in axes[0] for h, lab in zip(*ax.get_legend_handles_labels())}
    axes[0, -1].legend(
        legend.values(), legend.keys(), frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=9
    )
    fig.suptitle(f"Selections made on validation loss, scored on test ({n_seeds} seeds, 95% intervals)")
    fig.tight_layout()
    return fig


def regret_figure(regret: pd.DataFrame, percent: bool = False) -> plt.Figure:
    """Regret against the exhaustive optimum versus the compute each method spent (network-epochs); with
    ``percent``, regret is in % of the optimum's total (:func:`mtlkit.selection.regret`)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    s = summarize(regret, ["method", "compute"], "regret")
    for (method, compute), row in s.set_index(["method", "compute"]).iterrows():
        ax.errorbar(
            compute,
            row["mean"],
            yerr=[[row["mean"] - row.low], [row.high - row["mean"]]] if row.n > 1 else None,
            fmt="o",
            capsize=3,
            color=SELECTION_COLORS.get(method),
            label=method,
        )
    ax.set_xscale("log")
    ax.set_xticks(sorted(set(s.compute)), [f"{c:.0f}" for c in sorted(set(s.compute))])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.axhline(0, color="k", lw=1, ls="--")
    ax.set_xlabel("compute to make the choice (network-epochs, log scale)")
    unit = "(% of the optimum's total)" if percent else "(test total - optimal's)"
    ax.set_ylabel(f"regret {unit}\nmean over budgets, 95% CI")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def show_trials(x: np.ndarray, y: np.ndarray, n_stim: int, titles: Sequence[str]) -> plt.Figure:
    """Input (stimulus | cue) and target vectors of a few trials, as rows of cells."""
    ratios = {"width_ratios": [x.shape[1], y.shape[1]]}
    fig, axes = plt.subplots(
        len(titles), 2, figsize=(11, 0.9 * len(titles) + 0.6), gridspec_kw=ratios, squeeze=False
    )
    for (ax_x, ax_y), xi, yi, title in zip(axes, x, y, titles):
        ax_x.imshow(xi[None], cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax_x.axvline(n_stim - 0.5, color="tab:red", lw=2)
        ax_y.imshow(yi[None], cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax_x.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
        for ax in (ax_x, ax_y):
            ax.set_yticks([])
    axes[0, 0].set_title("input: stimulus (one feature per dimension) | task cue")
    axes[0, 1].set_title("target response")
    fig.tight_layout()
    return fig
