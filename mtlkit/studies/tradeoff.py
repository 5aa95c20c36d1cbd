"""Study 01 - the trade-off between learning and multitasking (Ravi, Musslick et al. 2020, arXiv
2007.10527; Musslick et al., CogSci 2017): task-cued networks pre-trained with or without concurrent
trials, then probed for shared representations, multitasking accuracy and the speed of learning a new
task; a bandit agent picks the training strategy per environment.

The experiment itself is :func:`mtlkit.multitasking.pretrain_and_probe`; this module holds the study's
declared parameters (:data:`SPEC`), its runs (:func:`run_configs`) and its figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mtlkit.data.stimulus import MAPPINGS
from mtlkit.multitasking import REGIMES
from mtlkit.params import Param, StudySpec
from mtlkit.plotting import plot_intervals
from mtlkit.stats import summarize
from mtlkit.studies.common import COMMON

SPEC = StudySpec(
    name="01_tradeoff",
    title="01 - Multi-task learning vs multitasking: shared representations learn fast, separated ones run in parallel",
    paper="Ravi, Musslick, Hamin, Willke, Cohen 2020, arXiv 2007.10527 (after Musslick et al., CogSci 2017)",
    figure="tradeoff",
    params=COMMON
    + (
        Param(
            "seeds",
            "int",
            help="independent networks per condition",
            low=2,
            high=1000,
            by_mode={"smoke": 2, "default": 10, "full": 30},
        ),
        Param("n_dims", "int", 3, "input (and output) dimensions D; D x D tasks", low=2, high=8),
        Param(
            "n_features",
            "int",
            help="features per dimension F (stimuli = F^D)",
            low=2,
            high=10,
            by_mode={"smoke": 3, "default": 3, "full": 4},
        ),
        Param("mapping", "str", "identity", "feature -> response rule of each task", choices=MAPPINGS),
        Param("hidden", "int", 100, "units per hidden layer", low=2, high=4096),
        Param(
            "depth",
            "int",
            3,
            "hidden layers of the deep network (the shallow one has 1)",
            low=2,
            high=16,
        ),
        Param(
            "epochs",
            "int",
            help="pre-training epochs at most (training stops at the criterion)",
            low=1,
            high=100000,
            by_mode={"smoke": 15, "default": 400, "full": 2000},
        ),
        Param(
            "new_epochs",
            "int",
            help="epochs at most to learn the new task",
            low=1,
            high=100000,
            by_mode={"smoke": 15, "default": 300, "full": 2000},
        ),
        Param(
            "criterion",
            "float",
            0.01,
            "mean squared error that counts as learned",
            low=1e-6,
            high=1.0,
        ),
        Param("lr", "float", 1.0, "SGD (momentum 0.9) learning rate", low=1e-6, high=100.0),
        Param("batch_size", "int", 16, "minibatch size", low=1, high=100000),
        Param(
            "noise",
            "float",
            0.0,
            "std of Gaussian noise on the stimulus units in training",
            low=0.0,
            high=10.0,
        ),
        Param(
            "horizon_min",
            "float",
            30.0,
            "environment family: shortest horizon (epochs of work)",
            low=1.0,
            high=1e7,
        ),
        Param("horizon_max", "float", 300.0, "environment family: longest horizon", low=1.0, high=1e7),
        Param(
            "concurrency_min",
            "float",
            0.0,
            "environment family: lowest value of concurrent work",
            low=0.0,
            high=1.0,
        ),
        Param(
            "concurrency_max",
            "float",
            1.0,
            "environment family: highest value of concurrent work",
            low=0.0,
            high=1.0,
        ),
        Param(
            "environments",
            "int",
            help="training environments for the agent",
            low=1,
            high=10**6,
            by_mode={"smoke": 30, "default": 200, "full": 1000},
        ),
        Param(
            "test_environments",
            "int",
            help="held-out environments",
            low=1,
            high=10**6,
            by_mode={"smoke": 20, "default": 100, "full": 500},
        ),
        Param(
            "episodes",
            "int",
            help="agent training episodes",
            low=1,
            high=10**7,
            by_mode={"smoke": 300, "default": 3000, "full": 20000},
        ),
    ),
    checks=(
        (
            lambda p: p["horizon_min"] < p["horizon_max"],
            "parameters 'horizon_min' = {horizon_min} and 'horizon_max' = {horizon_max}: need horizon_min < horizon_max",
        ),
        (
            lambda p: p["concurrency_min"] <= p["concurrency_max"],
            "parameters 'concurrency_min' = {concurrency_min} and 'concurrency_max' = {concurrency_max}: "
            "need concurrency_min <= concurrency_max",
        ),
    ),
)


PAPER = {
    "C0": "a manipulation check of ours: Ravi et al. 2020 (arXiv 2007.10527) obtain separated representations "
    "by training on concurrent trials",
    "C1": "Musslick et al. 2017 (CogSci), Fig. 3b: more shared representations learn a new task in fewer epochs; "
    "direction only (values not read)",
    "C2": "Musslick et al. 2017, Fig. 3b: more shared representations multitask less accurately; direction only",
    "C3.speed": "Ravi et al. 2020 (arXiv 2007.10527, abstract): the trade-off holds in deep networks; direction only",
    "C3.multitasking": "Ravi et al. 2020 (arXiv 2007.10527, abstract): the trade-off holds in deep networks; "
    "direction only",
    "C4.choice": "Ravi et al. 2020 (arXiv 2007.10527, abstract): a meta-learning agent adapts its training "
    "strategy to the environment; no number read",
    "C4.worse": "arXiv 2007.10527 (abstract): the agent's strategy beats the worse fixed one; no number read",
    "C4.better": "arXiv 2007.10527 (abstract): the agent approaches the better fixed strategy; no number read",
}
"""What the papers reported for each claim (directions only: their figures' values could not be read)."""


def networks(p: dict) -> dict[str, int]:
    """The two networks compared: hidden layers of the shallow and of the deep one."""
    return {"shallow": 1, "deep": p["depth"]}


def run_config(p: dict, network: str, regime: str, seed: int) -> dict:
    """One :func:`~mtlkit.multitasking.pretrain_and_probe` run: ``network`` pre-trained under ``regime``."""
    return {
        "seed": seed,
        "regime": regime,
        "new_task": [0, 0],
        "noise": p["noise"],
        "env": {"n_dims": p["n_dims"], "n_features": p["n_features"], "mapping": p["mapping"]},
        "model": {
            "hidden": p["hidden"],
            "depth": networks(p)[network],
            "init": 0.1 if network == "shallow" else 0.5,
        },
        "epochs": p["epochs"],
        "new_epochs": p["new_epochs"],
        "criterion": p["criterion"],
        "lr": p["lr"],
        "optimizer": "sgd",
        "batch_size": p["batch_size"],
    }


def run_configs(p: dict, seeds: Sequence[int]) -> dict[tuple, dict]:
    """Every run of the study, keyed ``(network, regime, seed)``."""
    return {(n, r, s): run_config(p, n, r, s) for n in networks(p) for r in REGIMES for s in seeds}


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
