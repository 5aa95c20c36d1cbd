"""Study 00 - the survey's baselines (Crawshaw 2020, arXiv 2009.09796): one network per task against
hard parameter sharing under each of the survey's weighting methods, on MultiDigits.

Everything the notebook ``00_landscape`` needs beyond the library: its declared parameters
(:data:`SPEC`), the runs it trains (:func:`run_configs`) and its figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib import ticker

from mtlkit.data.multidigits import DEFAULT_TASKS, TASKS
from mtlkit.params import Param, StudySpec
from mtlkit.plotting import colors, plot_intervals
from mtlkit.runs import FitConfig, RunConfig
from mtlkit.stats import holm, one_sided_p, summarize
from mtlkit.studies.common import ACCURACY_POINT, AT_LEAST_TWO_TASKS, COMMON, DELTA_M, sizes, training
from mtlkit.weighting import WEIGHTINGS, GradientWeighting, Weighting

BASELINES = tuple(w for w in WEIGHTINGS if w not in ("fixed", "itmtl"))
"""The survey's adaptive methods (``fixed`` is a scalarisation tool for fronts, not a baseline of its own;
IT-MTL is study 04's subject)."""

METHOD_COLORS = colors([*BASELINES, "single"])
"""One colour per method in all of the study's figures (one network per task in grey)."""

SPEC = StudySpec(
    name="00_landscape",
    title="00 - The survey's baselines: single-task networks vs hard sharing under six weightings",
    paper="Crawshaw 2020, Multi-Task Learning with Deep Neural Networks: A Survey, arXiv 2009.09796",
    figure="delta_m",
    params=COMMON
    + sizes(seeds=(2, 13, 20), epochs=(2, 200, 300), n_train=(300, 4000, 20000))
    + training()
    + (
        Param(
            "patience",
            "int",
            10,
            "early stopping: epochs without a better validation loss (the network's own tasks) before training stops",
            low=1,
            high=10000,
        ),
        Param(
            "tasks",
            "list",
            DEFAULT_TASKS,
            "MultiDigits tasks to learn together",
            choices=tuple(TASKS),
        ),
        Param(
            "weightings",
            "list",
            list(BASELINES),
            "weighting methods to compare with hard sharing",
            choices=BASELINES,
        ),
    ),
    deltas={
        "C1": DELTA_M,
        "C2": ACCURACY_POINT,
        "C3": DELTA_M,
    },
    headline=("C1", "C2"),
    checks=(AT_LEAST_TWO_TASKS,),
)


UNTUNED = {
    "gradnorm": "GradNorm's weight step (0.025 per update, on the sign of each task's gap to its target) is ours and "
    "was not tuned on validation, while every network's learning rate is the same for all methods: the verdict is "
    "about GradNorm at that step",
}
"""Caveats a claim carries where a method's own setting was not chosen on validation (issue: same method as its
authors); the claim's statement and ``detail`` say so."""

PAPER = {
    "C1": "Survey (Crawshaw 2020, arXiv 2009.09796, sec. 2): hard sharing is the default design and often "
    "generalises better than one network per task; a review, so a direction, no number",
    "C2": "Survey (arXiv 2009.09796): negative transfer, a shared model can do worse on some task than that "
    "task's own network; direction only",
    "C3.uncertainty": "Kendall et al. 2018 (arXiv 1705.07115): learned uncertainty weights beat equal weighting; "
    "direction only here",
    "C3.dwa": "Liu et al. 2019 (arXiv 1803.10704): DWA at least matches equal weighting; direction only here",
    "C3.gradnorm": "Chen et al. 2018 (arXiv 1711.02257): better than equal weighting; Standley et al. 2020 "
    "(arXiv 1905.07553) found it worse",
    "C3.pcgrad": "Yu et al. 2020 (arXiv 2001.06782): better than equal weighting; direction only here",
    "C3.mgda": "Sener & Koltun 2018 (arXiv 1810.04650): MGDA-UB better than equal weighting; Standley et al. "
    "2020 (arXiv 1905.07553) found it worse",
}
"""What the papers reported for each claim (the survey's baselines cite their own papers)."""


def compared_methods(p: dict) -> list[str]:
    """The compared methods: one network per task, equal weights, then every other chosen weighting."""
    return ["single", "equal"] + [w for w in p["weightings"] if w != "equal"]


def adaptive_methods(methods: list[str]) -> list[str]:
    """The methods among ``methods`` whose task weights change in training (equal weighting and PCGrad
    weigh every task 1; one network per task has no weights)."""
    return [m for m in methods if m not in ("single", "equal", "pcgrad")]


def run_config(p: dict, method: str, seed: int, device: str = "cpu", task: str | None = None) -> RunConfig:
    """One run: with ``task``, the single-task network of that task (``method`` = ``single``), early-stopped
    on its own validation loss; otherwise one trunk shared by all tasks under the weighting ``method``,
    early-stopped on the summed validation loss."""
    return RunConfig(
        seed=seed,
        device=device,
        data={
            "name": "multidigits",
            "tasks": [task] if task else p["tasks"],
            "n_train": p["n_train"],
            "seed": seed,
        },
        model={"architecture": "hard", "trunk": p["trunk"], "width": p["width"], "depth": p["depth"]},
        fit=FitConfig(
            epochs=p["epochs"],
            lr=p["lr"],
            batch_size=p["batch_size"],
            weighting="equal" if method == "single" else method,
            patience=p["patience"],
        ),
    )


def run_configs(p: dict, seeds: Sequence[int], device: str = "cpu") -> dict[tuple, RunConfig]:
    """Every run of the study, keyed ``(method, seed, network)``: one run per task for ``single``
    (``network`` = the task), one run per weighting otherwise (``network`` = ``shared``). The longest runs
    come first (the methods that need every task's gradient, then the other shared networks, then the
    single-task ones), so that no worker is left with a long run while the other idles at the end."""
    out = {}
    order = {
        m: (m == "single") - issubclass(WEIGHTINGS.get(m, Weighting), GradientWeighting)
        for m in compared_methods(p)
    }
    for m in sorted(order, key=order.get):
        for s in seeds:
            for t in p["tasks"] if m == "single" else [None]:
                out[(m, s, t or "shared")] = run_config(p, m, s, device, t)
    return out


def worst_task_claim_inputs(
    test_acc: pd.DataFrame, alpha: float = 0.05
) -> tuple[str, pd.Series, float, dict]:
    """C2 without picking the worst task after looking: every task's per-seed accuracy change (points,
    equal weighting - its own network) gets a one-sided p-value for "< 0", Holm-corrected over the tasks.
    Returns the task with the smallest p-value, its per-seed changes, the interval level at which its
    one-sided test is Holm's first (Bonferroni) step, and the Holm-adjusted p-value of every task."""
    wide = test_acc.pivot_table(index=["seed", "task"], columns="method", values="value")
    change = ((wide["equal"] - wide["single"]) * 100).unstack("task")
    pvalues = {t: one_sided_p(change[t], "<") for t in change.columns}
    adjusted = holm(pvalues)
    first = min(pvalues, key=pvalues.get)
    return first, change[first], 1 - 2 * alpha / len(pvalues), adjusted


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
    plot_intervals(
        acc, "task", "method", ax=b, order=tasks, hue_order=methods, dodge=0.11, palette=METHOD_COLORS
    )
    b.tick_params(axis="x", labelrotation=20)
    b.set_ylabel("test accuracy")
    b.set_xlabel("task")
    b.set_title("Per-task test accuracy (single = one network per task)")
    fig.tight_layout()
    return fig


def weights_figure(history: pd.DataFrame, methods: Sequence[str]) -> plt.Figure:
    """Mean task weight per epoch for each weighting method (seed-averaged), one colour per task."""
    d = history[(history.metric == "weight") & history.method.isin(methods)]
    g = sns.relplot(
        data=d,
        x="epoch",
        y="value",
        hue="task",
        palette=colors([t for t in TASKS if t in set(d.task)]),
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
    g.set_titles("{col_name}")
    return g.figure


def curves_figure(history: pd.DataFrame, methods: Sequence[str]) -> plt.Figure:
    """Summed validation loss over epochs, one panel per method (its colour) over the others (grey), since
    most methods' curves coincide. Mean over the seeds still training at each epoch: early stopping ends
    seeds at different epochs, so a curve's tail rests on fewer seeds."""
    d = history[(history.split == "val") & (history.metric == "loss") & history.method.isin(methods)]
    d = d.groupby(["method", "seed", "epoch"], as_index=False)["value"].sum()
    mean = d.groupby(["method", "epoch"], as_index=False)["value"].mean()
    ncol = min(len(methods), 3)
    nrow = -(-len(methods) // ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(3.6 * ncol, 2.7 * nrow), sharex=True, sharey=True, squeeze=False
    )
    for ax, method in zip(axes.flat, methods):
        for other, g in mean.groupby("method"):
            if other != method:
                ax.plot(g.epoch, g.value, color="0.8", lw=1)
        g = mean[mean.method == method]
        ax.plot(g.epoch, g.value, color=METHOD_COLORS.get(method), lw=2)
        ax.set_title(method, color=METHOD_COLORS.get(method))
    for ax in axes.flat[len(methods) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("val. loss, sum over tasks")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    axes[0, 0].set_yscale("log")
    axes[0, 0].yaxis.set_major_locator(ticker.LogLocator(subs=(1, 1.5, 2, 3, 5, 7)))
    axes[0, 0].yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0, 0].yaxis.set_minor_locator(ticker.NullLocator())
    fig.suptitle("Validation loss per method (grey: the other methods; mean over seeds still training)")
    fig.tight_layout()
    return fig
