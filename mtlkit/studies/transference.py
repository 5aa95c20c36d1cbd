"""Study 04 - transference (Fifty et al. 2020, arXiv 2010.15413; TAG, Fifty et al. 2021, arXiv
2109.04617): lookahead transference measured during one joint run, averaged into inter-task affinities,
judged against study 03's exhaustive ground truth, used to choose groupings, and IT-MTL's per-step
choice of update.

The measurements are in :mod:`mtlkit.lookahead` and :mod:`mtlkit.transference`; this module holds the
study's declared parameters (:data:`SPEC`: study 03's, so that its ground truth can be reused, plus the
lookahead's and the joint runs'), its protocol, its runs (:func:`run_configs`), the compute comparison
with HOA (:func:`time_compute`) and the analysis the claims need; its figures are in
:mod:`mtlkit.studies.transference_figures`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import pandas as pd

from mtlkit.params import Param, StudySpec
from mtlkit.runs import FitConfig, RunConfig, TrackConfig, tracking_overhead
from mtlkit.session import Params
from mtlkit.studies import task_grouping
from mtlkit.studies.common import DELTA_M, REGRET_POINT, RHO
from mtlkit.transference import hoa_members, time_hoa_networks

SPEC = StudySpec(
    name="04_transference",
    title="04 - Transference: lookahead affinities in one run, groupings from them, and IT-MTL",
    paper="Fifty, Amid, Zhao, Yu, Anil, Finn 2020/2021, Measuring and Harnessing Transference in Multi-Task "
    "Learning, arXiv 2010.15413; Efficiently Identifying Task Groupings for Multi-Task Learning, arXiv 2109.04617",
    figure="budget",
    # the ground-truth parameters are study 03's (at least 5 seeds here), so that its results can be read
    params=task_grouping.GROUND_TRUTH_PARAMS
    + (
        Param(
            "joint_epochs",
            "int",
            help="epoch cap of the joint runs (they stop on a validation plateau)",
            low=1,
            high=10000,
            by_mode={"smoke": 4, "default": 100, "full": 150},
        ),
        Param(
            "patience",
            "int",
            help="joint runs stop after this many epochs without a lower summed "
            "validation loss (best epoch restored)",
            low=1,
            high=1000,
            by_mode={"smoke": 2, "default": 5, "full": 10},
        ),
        Param(
            "every",
            "int",
            help="measure transference every k training steps (TAG: 10 on Taskonomy, 1 on CelebA)",
            low=1,
            high=10**6,
            by_mode={"smoke": 1, "default": 10, "full": 10},
        ),
        Param(
            "lookahead",
            "str",
            "optimizer",
            "the lookahead update of transference and IT-MTL: 'optimizer' = "
            "one step of the training optimizer (Adam) from its current state, as TAG computes it; 'sgd' = "
            "a plain SGD step of lookahead_lr",
            choices=("optimizer", "sgd"),
        ),
        Param(
            "lookahead_lr",
            "float",
            None,
            "learning rate of the lookahead: the optimizer's (None = the "
            "training lr: exactly the training update) or the SGD step size",
            low=1e-6,
            high=100.0,
            follows="lr",
        ),
        Param(
            "sgd_factors",
            "floats",
            [1.0, 10.0, 100.0],
            "sensitivity rows: plain SGD lookaheads of "
            "lookahead_lr times these factors, tracked in runs that train identically",
            low=1e-3,
            high=1e4,
        ),
        Param(
            "itmtl_candidates",
            "list",
            ["sum", "pcgrad"],
            "IT-MTL's candidate shared gradients",
            choices=("sum", "pcgrad", "mgda"),
        ),
        Param(
            "timing_repeats",
            "int",
            help="timings of each method's compute per seed (the fastest is kept)",
            low=1,
            high=100,
            by_mode={"smoke": 1, "default": 1, "full": 3},
        ),
        Param(
            "ground_truth",
            "str",
            "auto",
            "'auto': read results/03_task_grouping when computed at these "
            "parameters, else recompute; 'recompute': always train the subset networks here",
            choices=("auto", "recompute"),
        ),
    ),
    deltas={
        "C1": RHO,
        "C1.cosine": (
            RHO[0],
            RHO[1] + "; here the difference of two such correlations against the same held-out gains",
        ),
        "C2.regret": (0.01, REGRET_POINT[1] + " (regret as a fraction here)"),
        "C2.all": (
            1.0,
            "one percent of the all-task network's total test loss: below study 03's C1 delta (2.5%), so "
            "nothing that matters there is missed here",
        ),
        "C2.random": (
            REGRET_POINT[0],
            "one point of total test loss (% of the random groupings' total at the same budget), as one point "
            "of regret: " + REGRET_POINT[1],
        ),
        "C2.compute": (
            0.5,
            "a time ratio within 1.5 of parity: these machines' timings vary by about 30% between runs",
        ),
        "C3": DELTA_M,
    },
    headline=("C1", "C2.regret"),
    checks=(
        *task_grouping.CHECKS,
        (
            lambda p: p["every"] <= shortest_run_steps(p),
            lambda p: (
                f"parameter 'every' = {p['every']}: a joint run may stop after {shortest_run_steps(p)} steps "
                f"(min(joint_epochs, patience + 1) epochs of {steps_per_epoch(p)}), so measure every "
                f"{shortest_run_steps(p)} steps or fewer"
            ),
        ),
    ),
)


def steps_per_epoch(p: dict) -> int:
    """Training steps in one epoch of a joint run."""
    return math.ceil(p["n_train"] / p["batch_size"])


def shortest_run_steps(p: dict) -> int:
    """The fewest steps a joint run can take: early stopping ends it after ``patience + 1`` epochs at the
    soonest (affinity must be measured at least once in it)."""
    return min(p["joint_epochs"], p["patience"] + 1) * steps_per_epoch(p)


PAPER = {
    "C1": "TAG (Fifty et al. 2021, arXiv 2109.04617) groups tasks by these affinities but reports no correlation "
    "with the true pairwise gains; a later benchmark (arXiv 2301.02873) found it weak",
    "C2.regret": "direction only: arXiv 2109.04617 presents affinity groupings as better than uninformed ones; "
    "no random-grouping number read",
    "C1.cosine": "no paper number: a baseline added here; the lookahead is meant to add the "
    "update's effect to the gradients' first-order alignment, which the cosine measures",
    "C2.all": "arXiv 2109.04617, Taskonomy: TAG's groups about 10% (10.0%) lower total test loss than one "
    "all-task network",
    "C2.random": "direction only: arXiv 2109.04617 presents affinity groupings as better than uninformed ones "
    "at the same inference budget; no number read",
    "C2.compute": "arXiv 2109.04617, Taskonomy: choosing groups with TAG is 11.6x faster than with HOA",
    "C3.equal": "Fifty et al. 2020 (arXiv 2010.15413): IT-MTL improves on its baselines (direction; no number "
    "read: only the abstract was reachable)",
    "C3.pcgrad": "arXiv 2010.15413: IT-MTL on top of PCGrad improves on PCGrad (direction; no number read)",
}
"""What the papers reported for each claim."""

THRESHOLDS = dict.fromkeys(
    ("C1", "C1.cosine", "C2.regret", "C2.all", "C2.random", "C3.equal", "C3.pcgrad"), 0.0
) | {"C2.compute": 1.0}
"""The side of each claim's threshold is in the notebook; C2.compute's 1 means 'no cheaper than HOA'."""

METHODS = ("single", "equal", "pcgrad", "itmtl")
"""One network per task; hard sharing with equal weights (tracked), PCGrad, and IT-MTL."""

ADAM = "Adam (training update)"
"""The label of the optimizer's lookahead in tables and figures; SGD rows are labelled by their step."""


def lookahead_label(tracked: str) -> str:
    """A tracker's lookahead label (``"optimizer"``, ``"sgd 0.001"``) as tables and figures show it."""
    return ADAM if tracked == "optimizer" else tracked.replace("sgd", "SGD")


def sgd_label(eta: float) -> str:
    """The label of a plain SGD lookahead of step ``eta``."""
    return lookahead_label(f"sgd {eta:g}")


def protocol(p: Params, seeds: Sequence[int]) -> pd.DataFrame:
    """The study's protocol from the resolved parameters (shown before any result)."""
    n, step = len(p.tasks), f"{p.lookahead_lr:g}"
    look = (
        f"one Adam step from the optimizer's current state (moments, step count) at learning rate {step}, "
        "as if the shared gradient were task i's alone"
        if p.lookahead == "optimizer"
        else f"a plain SGD step of size {step}"
    )
    rows = {
        "data": f"{p.dataset}, {p.n_train} training pairs (val and test: a quarter each); tasks {', '.join(p.tasks)}",
        "networks": f"hard sharing: MLP trunk of {p.depth} x {p.width} units, a linear head per task",
        "ground truth (study 03)": f"{2**n - 1 + n} subset networks per seed, Adam lr {p.lr:g}, batch "
        f"{p.batch_size}, {p.epochs} epochs, each at its best validation epoch",
        "joint runs": f"equal weights (tracked), PCGrad, IT-MTL, one network per task: Adam lr {p.lr:g}, batch "
        f"{p.batch_size}, at most {p.joint_epochs} epochs, stop after {p.patience} without a lower summed "
        "validation loss, best epoch restored",
        "seeds": f"{len(seeds)} ({seeds[0]} to {seeds[-1]})",
        "lookahead (TAG)": f"Z(i -> j) = 1 - L_j(shared + u_i) / L_j(shared), heads as they are; u_i = {look}; "
        f"on the training batch, every {p.every} steps; affinity = mean Z over the run",
        "true gains (C1)": "held out, leaving one seed out: seed s's affinities (and gradient cosines) are "
        "correlated with the pairwise gains averaged over the other seeds' ground-truth networks, so the "
        "ground truth's own noise enters the interval; noise floor: each seed's own gains against the other "
        "seeds' mean. Earlier reference (the protocol before this change, shown beside it): every seed "
        "against the gains averaged over all seeds, its own included",
        "sensitivity rows": "the same tracked run with plain SGD lookaheads of "
        + ", ".join(f"{p.lookahead_lr * f:g}" for f in p.sgd_factors),
        "IT-MTL": f"candidates {', '.join(p.itmtl_candidates)}; each step the one with the highest total "
        f"transference sum_j (1 - L_j(after) / L_j(before)); lookahead as above",
        "grouping (TAG)": "full-size groups of >= 2 tasks (TAG excludes singletons), a task's score = mean "
        "affinity onto it from the others; exact selection per budget "
        + ", ".join(f"{b:g}" for b in task_grouping.budgets(n)),
        "random groupings (C2.random)": f"{p.random_draws} random draws per budget (generator seeded with "
        f"{p.seed}) from the affinity method's own candidates (full-size groups of >= 2 tasks), each spending "
        "the budget: as many full-size networks as the affinity groups, so the same inference cost",
        "compute": f"both sides at the same {p.epochs} epochs (the ground truth's): network-epochs counted, and "
        f"seconds timed on one thread (fastest of {p.timing_repeats}) of the tracked joint run trained for "
        f"{p.epochs} epochs without early stopping vs HOA's networks (singles, pairs, half singles) for "
        f"{p.epochs} epochs",
        "thresholds": "C1: rho > 0; C1.cosine: rho(affinity) - rho(cosine) > 0; C2.regret: affinity - random "
        "< 0; C2.all: affinity vs one all-task network < 0%; C2.random: affinity vs random groupings at the "
        "same budget < 0%; C2.compute: HOA / affinity > 1; C3: delta_m difference > 0",
    }
    return pd.DataFrame({"item": list(rows), "value": list(rows.values())}).set_index("item")


def sgd_steps(p: Params) -> tuple[float, ...]:
    """The plain SGD lookaheads of the sensitivity rows: ``lookahead_lr`` times each of ``sgd_factors``
    (the study's own lookahead left out when it is one of them)."""
    steps = (p.lookahead_lr * f for f in p.sgd_factors)
    return tuple(e for e in steps if not (p.lookahead == "sgd" and e == p.lookahead_lr))


def run_config(p: Params, method: str, seed: int, device: str = "cpu") -> RunConfig:
    """One joint run of study 03's all-task network (or one network per task for ``single``) with early
    stopping; the equal-weight run measures transference every ``every`` steps, with the study's lookahead
    and, on the same steps, the SGD lookaheads of the sensitivity rows."""
    weighting = {"single": "equal", "equal": "equal", "pcgrad": "pcgrad"}.get(method) or {
        "name": "itmtl",
        "lr": p.lookahead_lr,
        "candidates": list(p.itmtl_candidates),
        "lookahead": p.lookahead,
    }
    return RunConfig(
        seed=seed,
        device=device,
        data=task_grouping.data_config(p, seed),
        model={
            "architecture": "separate" if method == "single" else "hard",
            "width": p.width,
            "depth": p.depth,
        },
        fit=FitConfig(p.joint_epochs, p.lr, p.batch_size, weighting, patience=p.patience),
        track=TrackConfig(p.every, p.lookahead_lr, p.lookahead, sgd_steps(p)) if method == "equal" else None,
    )


def run_configs(p: Params, seeds: Sequence[int], device: str = "cpu") -> dict[tuple, RunConfig]:
    """Every joint run, keyed ``(method, seed)``."""
    return {(m, s): run_config(p, m, s, device) for s in seeds for m in METHODS}


def step_size_configs(p: Params, seeds: Sequence[int], factors: Sequence[float], device: str = "cpu") -> dict:
    """The tracked equal-weight run with only a plain SGD lookahead of ``lookahead_lr * factor``, keyed
    ``(eta, seed)`` (the runs train identically; :func:`run_config` measures them all in one run)."""
    return {
        (p.lookahead_lr * f, s): dataclasses.replace(
            run_config(p, "equal", s, device), track=TrackConfig(p.every, p.lookahead_lr * f, "sgd")
        )
        for f in factors
        for s in seeds
    }


def time_compute(config: dict) -> pd.DataFrame:
    """One seed's compute, timed on one thread (fastest of ``repeats``): the joint run tracked with the
    study's lookahead alone (``run``: a :meth:`RunConfig.to_dict`), of which the seconds spent measuring,
    and HOA's networks trained at once (:func:`~mtlkit.transference.time_hoa_networks`; ``truth``: a
    study-03 ground-truth config). Rows ``what, seconds``."""
    run = RunConfig.from_dict(config["run"])
    run = dataclasses.replace(run, track=dataclasses.replace(run.track, sgd=()))
    tracked, measuring = tracking_overhead(run, config["repeats"])
    hoa = time_hoa_networks(config["truth"], config["repeats"])
    what = ["tracked joint run", "of which measuring", "HOA networks"]
    return pd.DataFrame({"what": what, "seconds": [tracked, measuring, hoa]})


def timing_run(p: Params, seed: int) -> RunConfig:
    """The tracked equal run as it is timed: for the ground truth's ``epochs`` without early stopping, so
    that both sides of the compute comparison train for the same number of epochs."""
    run = run_config(p, "equal", seed)
    return dataclasses.replace(run, fit=dataclasses.replace(run.fit, epochs=p.epochs, patience=None))


def timing_configs(p: Params, seeds: Sequence[int]) -> dict[tuple, dict]:
    """:func:`time_compute` configs keyed ``(seed,)``: the tracked equal run (:func:`timing_run`) and the
    ground truth's data."""
    return {
        (s,): {
            "run": timing_run(p, s).to_dict(),
            "truth": task_grouping.truth_config(p, [s]),
            "repeats": p.timing_repeats,
        }
        for s in seeds
    }


def compute_table(timing: pd.DataFrame, epochs_run: pd.Series, p: Params) -> pd.DataFrame:
    """Per seed: seconds of each part, HOA's and the affinity method's network-epochs, both at the same
    ``epochs`` (the joint run timed as :func:`timing_run`; HOA: its networks x ``epochs``), both ratios,
    HOA over affinity, and for reference the epochs the early-stopped joint run took (``epochs_run``) and
    the time ratio the earlier protocol measured, the joint run to its plateau against HOA at ``epochs``
    (estimated from the timed run's seconds per epoch)."""
    t = timing.pivot_table(index="seed", columns="what", values="seconds")
    t["overhead"] = t["tracked joint run"] / (t["tracked joint run"] - t["of which measuring"])
    t["joint run epochs (to plateau)"] = epochs_run.reindex(t.index).astype(float)
    t["affinity network-epochs"] = float(p.epochs)
    t["HOA network-epochs"] = float(len(hoa_members(p.tasks)) * p.epochs)
    t["ratio (network-epochs)"] = t["HOA network-epochs"] / t["affinity network-epochs"]
    t["ratio (time)"] = t["HOA networks"] / t["tracked joint run"]
    # the earlier protocol's ratio (the joint run to its plateau), estimated from the timed run's per-epoch time
    plateau = t["tracked joint run"] * t["joint run epochs (to plateau)"] / p.epochs
    t["ratio (time), earlier protocol"] = t["HOA networks"] / plateau
    return t
