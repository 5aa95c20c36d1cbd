"""Each notebook's checked exercises, and :func:`check`, which a notebook's check cells call.

A notebook's exercises come after ``study.finish()``. An exercise whose answer is a number, a name or a
yes/no has a cell tagged ``solution`` that sets ``answer`` (the worked solution) and a cell tagged
``check`` that calls :func:`check` with the exercise's id, the answer and the run's own objects::

    answer = ...  # your answer
    check("03.5", answer, results=results, budget=2)

The expected value is computed here from those objects, never written down, so a check is right in every
mode and at any parameters. :func:`check` prints ``✓`` or ``✗`` (with a hint) and returns a bool; a wrong
or missing answer never raises (:func:`mtlkit.grading.judge`). :func:`mtlkit.grading.student_copy` makes
the student version of a notebook, where the solution above becomes ``answer = ...`` (``make student``).

>>> check("01.8", "always separated", evals=pd.DataFrame(
...     {"policy": ["always shared", "always separated"], "reward": [0.2, 0.3]}))
✓ 01.8: right (this run: always separated or separated)
True
>>> check("01.8", ..., evals=pd.DataFrame({"policy": ["always shared", "always separated"], "reward": [0.2, 0.3]}))
✗ 01.8: no answer yet: replace `...` with your answer. Hint: average `reward` per `policy` over every held-out seed and environment of `evals`.
False
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from mtlkit.grading import Exercise, judge, shown
from mtlkit.metrics import delta_m_by
from mtlkit.multitasking import level_correlation
from mtlkit.transference import affinity_vs_gains

EXERCISES: dict[str, Exercise] = {}
"""Every checked exercise, by id (``<study number>.<exercise number>``)."""


def exercise(id: str, question: str, kind: str, hint: str, tol: float = 0.0, rtol: float = 0.0):
    """Register the decorated function as the expected value of exercise ``id``."""
    assert kind in ("number", "name", "yes/no"), kind

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        EXERCISES[id] = Exercise(id, question, kind, fn, hint, tol, rtol)
        return fn

    return register


def check(id: str, answer: Any, **objects: Any) -> bool:
    """Tell the student whether ``answer`` is right for exercise ``id``, computing the expected value from
    this run's ``objects``; print ``✓``/``✗`` (with a hint) and return whether it is right."""
    ex = EXERCISES[id]
    expected = ex.expected(**objects)
    ok, why = judge(ex, answer, expected)
    if ok:
        print(f"✓ {id}: right (this run: {shown(ex, expected)})")
    else:
        print(f"✗ {id}: {why}. Hint: {ex.hint}")
    return ok


def _extremes(values: pd.Series, largest: bool) -> set:
    """The labels of ``values`` at its maximum (or minimum): ties all count as right."""
    best = values.max() if largest else values.min()
    return {k for k, v in values.items() if abs(v - best) <= 1e-12}


# ---- 00 · landscape ----


@exercise(
    "00.4",
    "Which task loses the most test accuracy under hard sharing with equal weights, against its own network?",
    "name",
    "per task, mean test accuracy of `equal` minus that of `single` (rows of `test` with metric 'accuracy').",
)
def _task_hurt_most(test: pd.DataFrame) -> set[str]:
    acc = test[test.metric == "accuracy"].groupby(["method", "task"]).value.mean()
    return _extremes(acc["equal"] - acc["single"], largest=False)


@exercise(
    "00.5",
    "Delta_m of equal-weight sharing for one seed, by hand.",
    "number",
    "for that seed: mean over tasks of 100 * (accuracy shared - accuracy single) / accuracy single.",
    tol=0.01,
)
def _delta_m_one_seed(test: pd.DataFrame, seed: int) -> float:
    dm = delta_m_by(test, baseline="single")
    return float(dm[(dm.method == "equal") & (dm.seed == seed)].delta_m.iloc[0])


@exercise(
    "00.6",
    "Which shared method has the highest mean delta_m?",
    "name",
    "average `delta_m` per method over the seeds in `dm`.",
)
def _best_method(dm: pd.DataFrame) -> set[str]:
    return _extremes(dm[dm.method != "single"].groupby("method").delta_m.mean(), largest=True)


# ---- 01 · tradeoff ----


@exercise(
    "01.6",
    "Shallow network: which regime multitasks more accurately on held-out pairs, shared or separated?",
    "name",
    "mean `multitask_accuracy` of the shallow network per regime in `scalars`; regime 'single' is the shared "
    "one, 'concurrent' the separated one.",
)
def _better_multitasker(scalars: pd.DataFrame) -> set[str]:
    rows = scalars[(scalars.network == "shallow") & (scalars.measure == "multitask_accuracy")]
    acc = rows.groupby("regime").value.mean().rename({"single": "shared", "concurrent": "separated"})
    return _extremes(acc, largest=True)


@exercise(
    "01.7",
    "Spearman rho of initial similarity vs multitasking accuracy across the sweep, one seed, by hand.",
    "number",
    "take the rows of `sw` at the chosen `cue_init` and that seed, and rank-correlate `similarity` with "
    "`multitask_accuracy` (e.g. scipy.stats.spearmanr).",
    tol=0.005,
)
def _sweep_rho(sw: pd.DataFrame, cue_init: float, seed: int) -> float:
    rows = sw[(sw.cue_init == cue_init) & (sw.seed == seed)]
    return float(level_correlation(rows, "similarity", "multitask_accuracy").iloc[0])


@exercise(
    "01.8",
    "Which fixed strategy earns more reward per step in the held-out environments?",
    "name",
    "average `reward` per `policy` over every held-out seed and environment of `evals`.",
)
def _better_fixed(evals: pd.DataFrame) -> set[str]:
    fixed = evals[evals.policy.isin(["always shared", "always separated"])]
    best = _extremes(fixed.groupby("policy").reward.mean(), largest=True)
    return best | {b.removeprefix("always ") for b in best}


# ---- 02 · small towers ----


def _digits(hv: pd.DataFrame, dataset: str) -> pd.DataFrame:
    return hv[hv.dataset == dataset]


@exercise(
    "02.5",
    "Which variant has the highest mean test hypervolume on the digits (any gamma)?",
    "name",
    "average `hypervolume` per (variant, gamma) over the seeds, on the digit rows of `hv` only.",
)
def _best_variant(hv: pd.DataFrame, dataset: str) -> set[str]:
    means = _digits(hv, dataset).groupby(["variant", "gamma"]).hypervolume.mean()
    return {variant for variant, _ in _extremes(means, largest=True)}


@exercise(
    "02.6",
    "D1's estimate for the first head type, by hand.",
    "number",
    "per seed, hypervolume of the heads at the main gamma minus that of `none` (same seed, digits only); "
    "then the mean over seeds. Compute it in code: hypervolumes can be tiny, so do not round.",
    tol=1e-7,
    rtol=0.001,
)
def _d1(hv: pd.DataFrame, dataset: str, head: str, gamma: float) -> float:
    d = _digits(hv, dataset)
    heads = d[(d.variant == head) & (d.gamma == gamma)].set_index("seed").hypervolume
    base = d[d.variant == "none"].set_index("seed").hypervolume
    return float((heads - base).mean())


@exercise(
    "02.7",
    "How many parameters do the first head type's heads add at training time to the digits model?",
    "number",
    "in `params`, the digits rows: column 'train' of the heads' variant minus that of `none`.",
    tol=0.5,
)
def _head_parameters(params: pd.DataFrame, dataset: str, head: str, gamma: float) -> float:
    d = params.xs(dataset, level="dataset")["train"]
    return float(
        d.xs((head, gamma), level=("variant", "gamma")).iloc[0] - d.xs("none", level="variant").iloc[0]
    )


# ---- 03 · task grouping ----


@exercise(
    "03.5",
    "The exhaustive optimum's mean test total at a budget.",
    "number",
    "rows of `results` with method 'optimal' at that budget; average `test_total` over the seeds.",
    tol=1e-3,
)
def _optimum_total(results: pd.DataFrame, budget: float) -> float:
    return float(results[(results.method == "optimal") & (results.budget == budget)].test_total.mean())


@exercise(
    "03.6",
    "By how many points (% of the optimum) does ESA's mean regret exceed HOA's?",
    "number",
    "mean `regret` of ESA minus mean `regret` of HOA, over the seeds in `regret` (negative if ESA's is lower).",
    tol=0.01,
)
def _esa_minus_hoa(regret: pd.DataFrame) -> float:
    r = regret.groupby("method").regret.mean()
    return float(r["ESA"] - r["HOA"])


@exercise(
    "03.7",
    "Which task gains the most from a single partner (main task set)?",
    "name",
    "the row of `gains['main']` with the largest `gain`; its `task` column (not `partner`).",
)
def _most_helped(gains: pd.DataFrame) -> set[str]:
    best = gains.gain.max()
    return set(gains[(gains.gain - best).abs() <= 1e-12].task.astype(str))


# ---- 04 · transference ----


@exercise(
    "04.5",
    "Spearman rho between the seed-averaged affinity partner -> task and the true gain, pooled.",
    "number",
    "merge `aff` (source = partner, target = task) with `gains` and rank-correlate `affinity` with `gain`.",
    tol=0.005,
)
def _affinity_rho(aff: pd.DataFrame, gains: pd.DataFrame) -> float:
    return affinity_vs_gains(aff, gains)[1]


@exercise(
    "04.6",
    "Which has the lower mean regret: the affinity groupings or HOA?",
    "name",
    "average `regret` per method over the seeds in `regret`; compare 'affinity' and 'HOA'.",
)
def _lower_regret(regret: pd.DataFrame) -> set[str]:
    r = regret[regret.method.isin(["affinity", "HOA"])].groupby("method").regret.mean()
    return _extremes(r, largest=False)


@exercise(
    "04.7",
    "Whose update helps the other tasks most: the source task with the highest mean affinity?",
    "name",
    "average `affinity` per `source` in `aff` (over its targets), and take the largest.",
)
def _best_source(aff: pd.DataFrame) -> set[str]:
    return _extremes(aff.groupby("source").affinity.mean(), largest=True)


# ---- 05 · grouping methods ----


@exercise(
    "05.2",
    "Which method has the lowest mean regret over budgets and seeds (the optimum left out)?",
    "name",
    "average `regret` per `method` in `regret` (every budget and seed), and take the smallest.",
)
def _lowest_regret(regret: pd.DataFrame) -> set[str]:
    return _extremes(regret.groupby("method").regret.mean(), largest=False)


@exercise(
    "05.3",
    "Grad-TAG's mean network-epochs over the seeds.",
    "number",
    "take the rows of `compute` whose `method` is 'Grad-TAG' and average their `network-epochs`.",
    rtol=0.01,
)
def _gradtag_network_epochs(compute: pd.DataFrame) -> float:
    return float(compute[compute.method == "Grad-TAG"]["network-epochs"].mean())
