"""Study 02 - small towers (Wang et al. 2020, arXiv 2008.05808): small self-auxiliary towers, dropped at
inference, against large towers and a parameter-count control, for shared-bottom and MMoE models,
compared by the hypervolume of their test-loss Pareto fronts.

The experiment's pieces are in :mod:`mtlkit.fronts`; this module holds the study's declared parameters
(:data:`SPEC`), its grid of runs (:func:`run_configs`) and its figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from mtlkit.data.multidigits import TASKS
from mtlkit.fronts import VARIANTS, small_tower, weight_grid, wide_tower
from mtlkit.params import Param, StudySpec
from mtlkit.plotting import plot_intervals
from mtlkit.runs import AuxConfig, FitConfig, RunConfig
from mtlkit.stats import summarize
from mtlkit.studies.common import COMMON, sizes

SPEC = StudySpec(
    name="02_small_towers",
    title="02 - Small towers: under-parameterized self-auxiliary heads and the Pareto front",
    paper="Wang, Zhao, Dai, Fifty, Lin, Hong, Chi 2020, Small Towers Make Big Differences, arXiv 2008.05808",
    figure="fronts",
    params=COMMON
    + sizes(seeds=(2, 5, 10), epochs=(3, 15, 100), n_train=(200, 1000, 5000))
    + (
        Param(
            "correlations",
            "floats",
            [0.0, 0.5, 1.0],
            "requested task correlations of the synthetic data",
            low=-1.0,
            high=1.0,
        ),
        Param(
            "digit_tasks",
            "list",
            ["left", "sum_parity"],
            "the MultiDigits pair (two tasks)",
            choices=tuple(TASKS),
        ),
        Param(
            "n_weights",
            "int",
            help="task weightings alpha per front",
            low=2,
            high=1000,
            by_mode={"smoke": 2, "default": 7, "full": 11},
        ),
        Param("width", "int", 16, "shared-bottom width / expert width", low=2, high=65536),
        Param("tower", "int", 8, "main tower: two hidden layers of this width", low=1, high=65536),
        Param("n_experts", "int", 4, "MMoE experts", low=1, high=256),
        Param(
            "small_fraction",
            "float",
            0.0,
            "small tower: 0 = linear, else hidden width / main tower width",
            low=0.0,
            high=1.0,
        ),
        Param(
            "aux_weight",
            "float",
            1.0,
            "gamma: loss weight of the auxiliary towers",
            low=0.0,
            high=100.0,
        ),
        Param(
            "lr",
            "float",
            0.05,
            "SGD (momentum 0.9) learning rate, as in the paper's code",
            low=1e-8,
            high=10.0,
        ),
        Param("batch_size", "int", 128, "minibatch size", low=1, high=10**6),
    ),
    checks=(
        (
            lambda p: len(p["digit_tasks"]) == 2,
            "parameter 'digit_tasks' = {digit_tasks}: give exactly two tasks",
        ),
    ),
)

PAPER = {
    "C1.hard": "Wang et al. 2020 (arXiv 2008.05808), Fig. 4-5: small self-auxiliary towers move the shared-bottom "
    "model's Pareto front outward on MultiMNIST, MultiFashion and MovieLens (compared visually, no hypervolume)",
    "C1.mmoe": "an extension: arXiv 2008.05808's use of MMoE is unverified",
    "C2": "arXiv 2008.05808: front quality improves as the auxiliary tower shrinks, then worsens; same-size "
    "auxiliary towers help less",
    "C3": "arXiv 2008.05808: the gain is not a matter of parameter count (its heads are about 9% of a tower)",
    "C4": "an extension: the paper makes no claim about task correlation",
}
"""What the paper reported for each claim."""


ARCHITECTURES = ("hard", "mmoe")


def datasets(p: dict) -> dict[str, dict]:
    """The data sets by label: one synthetic pair of tasks per requested correlation, and the digits pair."""
    out = {f"corr={c:g}": {"name": "correlated", "correlation": c} for c in p["correlations"]}
    out["digits"] = {"name": "multidigits", "tasks": p["digit_tasks"]}
    return out


def task_names(p: dict) -> dict[str, list[str]]:
    """The two task names of each data set."""
    return {
        ds: (["y1", "y2"] if spec["name"] == "correlated" else list(p["digit_tasks"]))
        for ds, spec in datasets(p).items()
    }


def variant_config(base: RunConfig, variant: str, *, fraction: float, gamma: float) -> RunConfig:
    """``base`` turned into ``variant`` (:data:`~mtlkit.fronts.VARIANTS`): auxiliary towers for ``small``
    and ``large``, a widened main tower for ``wide``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {list(VARIANTS)}")
    tower = list(base.model["tower"])
    if variant == "small":
        return dataclasses.replace(base, aux=AuxConfig(small_tower(tower, fraction), gamma))
    if variant == "large":
        return dataclasses.replace(base, aux=AuxConfig(tower, gamma))
    if variant == "wide":
        model = {**base.model, "tower": wide_tower(dict(base.data), dict(base.model), fraction)}
        return dataclasses.replace(base, model=model)
    return base


def run_config(
    p: dict, ds: str, arch: str, variant: str, alpha: float, seed: int, device: str = "cpu"
) -> RunConfig:
    """One point of a front: data set ``ds``, architecture, variant, task-1 weight ``alpha``, seed."""
    t1, t2 = task_names(p)[ds]
    base = RunConfig(
        seed=seed,
        device=device,
        data={**datasets(p)[ds], "n_train": p["n_train"], "seed": seed},
        model={
            "architecture": arch,
            "width": p["width"],
            "depth": 1,
            "tower": [p["tower"], p["tower"]],
            "n_experts": p["n_experts"],
        },
        fit=FitConfig(
            epochs=p["epochs"],
            lr=p["lr"],
            optimizer="sgd",
            batch_size=p["batch_size"],
            weighting={"name": "fixed", "weights": {t1: alpha, t2: 1 - alpha}},
        ),
    )
    return variant_config(base, variant, fraction=p["small_fraction"], gamma=p["aux_weight"])


def run_configs(p: dict, seeds: Sequence[int], device: str = "cpu") -> dict[tuple, RunConfig]:
    """Every run, keyed ``(dataset, architecture, variant, alpha, seed)``."""
    return {
        (ds, a, v, al, s): run_config(p, ds, a, v, al, s, device)
        for ds in datasets(p)
        for a in ARCHITECTURES
        for v in VARIANTS
        for al in weight_grid(p["n_weights"])
        for s in seeds
    }


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
