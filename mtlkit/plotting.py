"""One seaborn theme and the study figures. Error bars are the 95% t-intervals of :mod:`mtlkit.stats`
(the same numbers as the claims), never a plotting library's own bootstrap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
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


def landscape_figure(
    final: pd.DataFrame, dm: pd.DataFrame, methods: Sequence[str], tasks: Sequence[str], n_seeds: int
) -> plt.Figure:
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
    g = sns.relplot(
        data=d,
        x="epoch",
        y="value",
        hue="task",
        col="method",
        col_order=list(methods),
        kind="line",
        errorbar=None,
        height=2.6,
        aspect=1.1,
        col_wrap=min(len(methods), 3),
        facet_kws={"sharey": False},
    )
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


# --- study 01 ----------------------------------------------------------------------------------

REGIME_LABELS = {
    "single": "single-task training (shared)",
    "concurrent": "with concurrent trials (separated)",
}


def tradeoff_figure(curves: pd.DataFrame, scalars: pd.DataFrame, n_seeds: int) -> plt.Figure:
    """Study 01's main figure. Rows: shallow and deep network. Columns: the new task's learning curve;
    epochs to learn it vs representation sharing; multitasking accuracy vs sharing (one point per seed)."""
    networks = list(dict.fromkeys(scalars.network))
    fig, axes = plt.subplots(len(networks), 3, figsize=(14, 3.6 * len(networks)), squeeze=False)
    palette = dict(zip(REGIME_LABELS, sns.color_palette(n_colors=2)))
    wide = scalars.pivot_table(
        index=["network", "regime", "seed"], columns="measure", values="value"
    ).reset_index()
    for r, (row, net) in enumerate(zip(axes, networks)):
        c = curves[curves.network == net]
        sns.lineplot(
            data=c,
            x="epoch",
            y="loss",
            hue="regime",
            palette=palette,
            ax=row[0],
            errorbar=("ci", 95),
            seed=0,  # seaborn bootstraps the band: a fixed seed keeps the figure byte-identical run to run
            legend=False,
        )
        row[0].set_yscale("log")
        row[0].set_title(f"{net}: learning a new task")
        row[0].set_ylabel("new task's loss (MSE)")
        w = wide[wide.network == net]
        for ax, y, label in (
            (row[1], "epochs_to_criterion", "epochs to learn the new task"),
            (row[2], "multitask_accuracy", "multitasking accuracy (Luce)"),
        ):
            sns.scatterplot(
                data=w,
                x="sharing",
                y=y,
                hue="regime",
                palette=palette,
                ax=ax,
                s=60,
                legend=r == 0 and ax is row[2],
            )
            ax.set_xlabel("representation sharing (hidden-pattern correlation)")
            ax.set_ylabel(label)
        row[1].set_title(f"{net}: sharing speeds learning")
        row[2].set_title(f"{net}: sharing hurts multitasking")
    handles, labels = axes[0, 2].get_legend_handles_labels()
    axes[0, 2].legend(
        handles, [REGIME_LABELS.get(lbl, lbl) for lbl in labels], frameon=False, loc="lower left"
    )
    fig.suptitle(f"{n_seeds} seeds per condition; bands and intervals are 95%", y=1.0)
    fig.tight_layout()
    return fig


def similarity_figure(sim: pd.DataFrame) -> plt.Figure:
    """Seed-averaged task x task similarity of the last hidden layer, per network and regime."""
    keys = list(dict.fromkeys(zip(sim.network, sim.regime)))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.9), squeeze=False)
    for ax, (net, reg) in zip(axes[0], keys):
        d = sim[(sim.network == net) & (sim.regime == reg)]
        m = d.pivot_table(index="task_a", columns="task_b", values="value", sort=False)
        sns.heatmap(
            m,
            vmin=-1,
            vmax=1,
            cmap="vlag",
            square=True,
            ax=ax,
            cbar=ax is axes[0, -1],
            xticklabels=True,
            yticklabels=True,
        )
        ax.set_title(f"{net}\n{REGIME_LABELS[reg]}", fontsize=10)
        ax.set_xlabel("task (input dim, output dim)")
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def agent_figure(evals: pd.DataFrame, n_seeds: int) -> plt.Figure:
    """The agent in held-out environments: its choices (first held-out seed) and reward per policy."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.3), gridspec_kw={"width_ratios": [1.2, 1]})
    first = evals[(evals.seed == evals.seed.min())]
    agent = first[first.policy == "agent"].set_index("env")
    oracle = first[first.policy == "oracle"].set_index("env")
    sns.scatterplot(
        data=agent,
        x="horizon",
        y="concurrency",
        hue="choice",
        style="choice",
        ax=a,
        s=55,
        hue_order=["shared", "separated"],
        style_order=["shared", "separated"],
    )
    wrong = agent[agent.choice != oracle.choice]
    a.scatter(
        wrong.horizon,
        wrong.concurrency,
        s=140,
        facecolors="none",
        edgecolors="red",
        label="differs from oracle",
    )
    a.set_xscale("log")
    a.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a.set_xlabel("horizon (epochs of work, log scale)")
    a.set_ylabel("value of concurrent work v")
    a.set_title("Agent's training strategy per held-out environment")
    a.legend(frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    per_seed = evals.groupby(["policy", "seed"], as_index=False).reward.mean()
    s = summarize(per_seed, ["policy"], "reward")
    order = ["always shared", "always separated", "agent", "oracle"]
    plot_intervals(s, "policy", ax=b, order=order)
    b.set_ylabel("mean reward per step (held-out envs)")
    b.set_title(f"Reward in unfamiliar environments ({n_seeds} held-out seeds, 95% CI)")
    fig.tight_layout()
    return fig


def show_trials(x: np.ndarray, y: np.ndarray, n_stim: int, titles: Sequence[str]) -> plt.Figure:
    """Input (stimulus | cue) and target vectors of a few trials, as rows of cells."""
    fig, axes = plt.subplots(
        len(titles),
        2,
        figsize=(11, 0.9 * len(titles) + 0.6),
        gridspec_kw={"width_ratios": [x.shape[1], y.shape[1]]},
        squeeze=False,
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


# --- study 02 ----------------------------------------------------------------------------------


def fronts_figure(
    test_loss: pd.DataFrame, tasks: dict[str, Sequence[str]], variants: Sequence[str]
) -> plt.Figure:
    """Seed-averaged test-loss points over the weight sweep, per dataset (columns) and architecture (rows)."""
    datasets, archs = list(tasks), list(dict.fromkeys(test_loss.architecture))
    fig, axes = plt.subplots(
        len(archs), len(datasets), figsize=(3.6 * len(datasets), 3.3 * len(archs)), squeeze=False
    )
    colors = dict(zip(variants, sns.color_palette(n_colors=len(variants))))
    for r, arch in enumerate(archs):
        for c, ds in enumerate(datasets):
            ax = axes[r, c]
            d = test_loss[(test_loss.architecture == arch) & (test_loss.dataset == ds)]
            mean = d.groupby(["variant", "alpha", "task"]).value.mean().unstack("task")
            t1, t2 = tasks[ds]
            for v in variants:
                if v in mean.index.get_level_values(0):
                    m = mean.loc[v].sort_index()
                    ax.plot(m[t1], m[t2], "o-", color=colors[v], label=v, ms=4, lw=1.2)
            ax.set_title(f"{arch} · {ds}", fontsize=10)
            ax.set_xlabel(f"{t1} test loss")
            ax.set_ylabel(f"{t2} test loss")
    axes[0, -1].legend(title="towers", frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig


def hypervolume_figure(gains: pd.DataFrame, by_corr: pd.DataFrame, n_seeds: int) -> plt.Figure:
    """Left: hypervolume gain over the base model per variant and architecture. Right: the small
    towers' gain against the requested task correlation (synthetic data)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12.5, 4), gridspec_kw={"width_ratios": [1.1, 1]})
    s = summarize(gains, ["variant", "architecture"], "gain")
    plot_intervals(s, "variant", "architecture", ax=a, order=["small", "large", "wide"])
    a.axhline(0, color="k", lw=1, ls="--")
    a.set_ylabel("hypervolume gain vs no towers\n(fraction of the reference box)")
    a.set_xlabel("variant (small / large aux towers; wider main towers)")
    a.set_title(f"Pareto-front gain, mean over data sets ({n_seeds} seeds, 95% CI)")
    s = summarize(by_corr, ["correlation", "architecture"], "gain")
    s["correlation"] = s["correlation"].map(lambda c: f"{c:g}")
    plot_intervals(s, "correlation", "architecture", ax=b)
    b.axhline(0, color="k", lw=1, ls="--")
    b.set_xlabel("requested task correlation")
    b.set_ylabel("small towers' hypervolume gain")
    b.set_title("Gain of small towers vs task correlation")
    fig.tight_layout()
    return fig


# --- study 03 ----------------------------------------------------------------------------------


def _diverging_heatmap(m: pd.DataFrame, ax: plt.Axes, lim: float, fmt: str, label: str, **kw: Any) -> None:
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


def gains_heatmap(gains: pd.DataFrame) -> plt.Figure:
    """Pairwise test-loss gains: row task trained with column partner vs alone (positive = helps)."""
    m = gains.pivot(index="task", columns="partner", values="gain")
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    _diverging_heatmap(m, ax, float(np.nanmax(np.abs(m.to_numpy()))), ".2f", "test-loss gain on the row task")
    ax.set_xlabel("trained together with")
    ax.set_ylabel("task")
    ax.set_title("Pairwise transfer (seed-averaged; positive = partner helps)")
    fig.tight_layout()
    return fig


def budget_figure(
    results: pd.DataFrame, n_seeds: int, methods: Sequence[str] = ("optimal", "HOA", "ESA", "random")
) -> plt.Figure:
    """Studies 03 and 04's main figure: total test loss of each method's selection against the budget."""
    fig, ax = plt.subplots(figsize=(8, 4.6))
    lines = results[results.method.isin(list(methods))]
    per_seed = lines.groupby(["method", "budget", "seed"], as_index=False).test_total.mean()
    colors = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    for method, g in per_seed.groupby("method"):
        s = summarize(g, ["budget"], "test_total")
        ax.plot(s.budget, s["mean"], "o-", color=colors[method], label=method, ms=4)
        ax.fill_between(s.budget, s.low, s.high, color=colors[method], alpha=0.15)
    for method, marker in (("one all-task network", "s"), ("one network per task", "D")):
        g = results[results.method == method]
        s = summarize(g, ["budget"], "test_total")
        ax.errorbar(
            s.budget,
            s["mean"],
            yerr=np.nan_to_num([s["mean"] - s.low, s.high - s["mean"]]),
            fmt=marker,
            color="k",
            ms=7,
            capsize=3,
            label=method,
        )
    ax.set_xlabel("inference budget (full-size networks)")
    ax.set_ylabel("total test loss (sum over tasks)")
    ax.set_title(f"Selections made on validation loss, scored on test ({n_seeds} seeds, 95% band)")
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


def _band(ax: plt.Axes, frame: pd.DataFrame, label: str) -> None:
    """Mean ``value`` per epoch across seeds with its 95% interval as a band (one row per seed and epoch)."""
    s = summarize(frame, ["epoch"])
    (line,) = ax.plot(s.epoch, s["mean"], label=label)
    ax.fill_between(s.epoch, s.low, s.high, color=line.get_color(), alpha=0.15)


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
        _diverging_heatmap(scaled, ax, lim / 10.0**power, ".2f", label, cbar=last, annot_kws={"size": 7})
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
        _band(ax, per[(per.source == src) & (per.target == tgt)], f"{src} -> {tgt}")
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
        _band(b, g, candidate)
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
    from mtlkit.stats import summarize

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
