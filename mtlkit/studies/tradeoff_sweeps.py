"""Study 01's two sweeps of Musslick et al. (CogSci 2017) on single-task training only: the initial
task -> hidden similarity (Fig. 5; C5, at two task -> hidden scales) and the feature overlap between tasks
(Fig. 3; C6, :class:`~mtlkit.data.overlap.OverlapEnv`). Their runs, their claims (a rank correlation across
the sweep per seed, :func:`level_claims`) and their figures; the study's parameters are in
:mod:`mtlkit.studies.tradeoff`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from mtlkit.multitasking import level_correlation
from mtlkit.stats import Claim, summarize
from mtlkit.studies.tradeoff import INIT, _common

MEASURES = (
    ("weight_similarity", ">", "learned weight similarity"),
    ("epochs_to_criterion", "<", "epochs to criterion"),
    ("multitask_accuracy", "<", "multitasking accuracy"),
)
"""The measures a sweep's claims read, in order: sharing, learning speed, multitasking; the direction the
papers report as the level (initial similarity, feature overlap) rises; the label in the claim's effect."""


def overlap_configs(p: dict, seeds: Sequence[int]) -> dict[tuple, dict]:
    """Every run of the feature-overlap sweep (:func:`~mtlkit.multitasking.learn_and_multitask` in the
    overlap environment, the shallow network, every weight at its first scale), keyed ``(overlap, seed)``,
    on the first ``overlap_seeds`` of ``seeds``."""
    env = {"n_dims": p["n_dims"], "n_features": p["n_features"], "mapping": p["mapping"]}
    return {
        (o, k): {
            **_common(p, k),
            "env": {**env, "overlap": o, "n_samples": p["overlap_samples"]},
            "similarity": 0.0,
            "model": {"hidden": p["hidden"], "depth": 1, "init": INIT["shallow"]},
        }
        for o in p["overlaps"]
        for k in list(seeds)[: p["overlap_seeds"]]
    }


def level_claims(
    wide: pd.DataFrame,
    level: str,
    label: str,
    claims: Sequence[tuple[str, str]],
    paper: Mapping[str, str],
    suffix: str = "",
    note: str = "",
) -> list[Claim]:
    """The three claims of one sweep: per seed, the Spearman correlation across the sweep between
    ``level`` (a column of ``wide``, one row per run) and each of :data:`MEASURES`, tested against 0 in
    the papers' direction. ``claims`` gives ``(id, statement)`` per measure; ``suffix`` is appended to each
    id and ``note`` to each statement (the same claim at another setting); ``paper`` is keyed by the bare id.
    ``at_last_epoch`` is the share of the sweep's runs that stopped at the epoch cap."""
    cap = float(wide.capped.mean())
    return [
        Claim.test(
            cid + suffix,
            statement + note,
            level_correlation(wide, level, measure),
            effect=f"Spearman rho({label}, {what}) across the sweep",
            direction=direction,
            paper=paper[cid],
            support=(-1, 1),
            at_last_epoch=cap,
        )
        for (measure, direction, what), (cid, statement) in zip(MEASURES, claims, strict=True)
    ]


def _band(ax: plt.Axes, d: pd.DataFrame, x: str, y: str, **kw: object) -> None:
    s = summarize(d, [x], y)
    (line,) = ax.plot(s[x], s["mean"], marker="o", **kw)
    ax.fill_between(s[x], s.low, s.high, color=line.get_color(), alpha=0.15)


def sweep_figure(wide: pd.DataFrame, chosen: float) -> plt.Figure:
    """The 2017 trade-off (Fig. 5a): learning speed and multitasking accuracy against the initial task ->
    hidden similarity, and against each other (one point per run), for each task -> hidden scale."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for a, d in wide.groupby("cue_init"):
        kw = {
            "label": f"U(-{a:g}, {a:g})"
            + (" (chosen after the first)" if a == chosen else " (first, primary)"),
            "ls": "-" if a == chosen else "--",
        }
        _band(axes[0], d, "similarity", "epochs_to_criterion", **kw)
        _band(axes[1], d, "similarity", "multitask_accuracy", **kw)
    d = wide[wide.cue_init == chosen]
    sc = axes[2].scatter(d.epochs_to_criterion, d.multitask_accuracy, c=d.similarity, cmap="viridis", s=30)
    fig.colorbar(sc, ax=axes[2], label="initial similarity")
    for ax, title in zip(axes[:2], ("Learning", "Multitasking on never-trained pairs")):
        ax.set(xlabel="initial task -> hidden similarity", title=title)
    axes[0].set_ylabel("epochs to learn all tasks")
    axes[1].set_ylabel("multitasking accuracy (Luce, incongruent)")
    axes[2].set(xlabel="epochs to learn all tasks", ylabel="multitasking accuracy", title="The trade-off")
    axes[0].legend(title="task -> hidden weights", frameon=False)
    fig.suptitle("Single-task training only; bands are 95% t-intervals across seeds", y=1.0)
    fig.tight_layout()
    return fig


def overlap_figure(wide: pd.DataFrame) -> plt.Figure:
    """The 2017 feature-overlap sweep (Fig. 3): learned task-representation similarity, learning speed and
    multitasking accuracy against the share of features that tasks on one input dimension share."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = (
        ("weight_similarity", "learned task -> hidden similarity", "Sharing"),
        ("epochs_to_criterion", "epochs to learn all tasks", "Learning"),
        ("multitask_accuracy", "multitasking accuracy (Luce, incongruent)", "Multitasking, never trained"),
    )
    for ax, (y, ylabel, title) in zip(axes, panels):
        _band(ax, wide, "overlap", y)
        ax.set(xlabel="feature overlap (shared share of a task's features)", ylabel=ylabel, title=title)
    fig.suptitle(
        "Continuous stimuli, single-task training only; bands are 95% t-intervals across seeds", y=1.0
    )
    fig.tight_layout()
    return fig
