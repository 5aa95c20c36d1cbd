"""Score tables of trained candidate networks, and how selection methods do on them (Standley et al.
2020, arXiv 1905.07553).

A *score table* has one row per network and task: ``network, size, cost, task`` and the network's loss
on the task in ``val`` and ``test`` (and ``seed`` when there are several). :func:`ground_truth` builds it
from training histories (each network at its best validation epoch; ESA's early version too);
:func:`candidates` turns it into :class:`~mtlkit.grouping.Candidate` objects for the searches of
:mod:`mtlkit.grouping`; :func:`compare_methods` selects with every method on validation losses and
scores the selections on test losses, next to the fixed baselines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from mtlkit.data.standley import TableError
from mtlkit.grouping import (
    Candidate,
    Selection,
    branch_and_bound,
    cheapest_cover,
    evaluate_selection,
    higher_order_approximation,
    network_name,
    random_selection,
)
from mtlkit.search_budget import MAX_SECONDS, SearchClock, check_max_seconds, check_search
from mtlkit.table_checks import METHODS, check_budget, check_method, check_table


def score_table(history: pd.DataFrame, upto: int | None = None) -> pd.DataFrame:
    """Each network's per-task losses at its best epoch (lowest summed validation loss, among the first
    ``upto`` epochs when given: the early-stopping approximation). Columns: network, size, cost, task,
    epoch, val, test (losses)."""
    h = history[history.metric == "loss"]
    if upto is not None:
        h = h[h.epoch <= upto]
    keys = ["seed", "network"] if "seed" in h.columns else ["network"]
    val = h[h.split == "val"].groupby([*keys, "epoch"]).value.sum().reset_index()
    best = val.loc[val.groupby(keys).value.idxmin(), [*keys, "epoch"]]
    at = h.merge(best, on=[*keys, "epoch"])
    return at.pivot_table(
        index=[*keys, "size", "cost", "task", "epoch"], columns="split", values="value"
    ).reset_index()


def candidates(table: pd.DataFrame, split: str) -> list[Candidate]:
    """:class:`Candidate` objects from a (seed-averaged or one seed's) :func:`score_table`."""
    out = []
    for (name, cost), g in table.groupby(["network", "cost"]):
        out.append(Candidate(name, frozenset(g.task), float(cost), dict(zip(g.task, g[split].astype(float)))))
    return out


def mean_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Seed-averaged :func:`score_table` (each seed's networks at their own best epoch), for selection."""
    keys = [
        k for k in ("network", "size", "cost", "task") if k in scores.columns
    ]  # a user's table has no size
    return scores.groupby(keys, as_index=False)[["val", "test"]].mean()


def ground_truth(history: pd.DataFrame, esa_epoch: int) -> pd.DataFrame:
    """The per-seed score tables a study of groupings needs, in one frame: ``scores == "final"`` (every
    network at its best epoch) and ``scores == "early"`` (best among the first ``esa_epoch`` epochs,
    for ESA). Written as ``ground_truth.csv`` by study 03 and read by study 04."""
    return pd.concat(
        [
            score_table(history).assign(scores="final"),
            score_table(history, upto=esa_epoch).assign(scores="early"),
        ],
        ignore_index=True,
    )


def approximation_choosers(
    final: pd.DataFrame, early: pd.DataFrame, tasks: Sequence[str], methods: Sequence[str] = ("ESA", "HOA")
) -> dict[str, list[Candidate]]:
    """The candidate tables ESA and HOA (or only those of ``methods``) choose from (seed-averaged
    validation losses)."""
    make = {
        "ESA": lambda: candidates(mean_scores(early), "val"),
        "HOA": lambda: candidates(hoa_table(mean_scores(final), tasks), "val"),
    }
    return {m: make[m]() for m in methods}


def hoa_table(mean_table: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """The candidates' validation losses as HOA predicts them: only networks serving one or two tasks
    are trained (their losses are kept); every network serving three or more has its losses predicted
    from the pair networks of its own cost (each pair of its tasks needs one). Columns: network, cost,
    task, val."""
    nets = {(n, float(c)): frozenset(g.task) for (n, c), g in mean_table.groupby(["network", "cost"])}
    small = mean_table[[len(nets[(n, float(c))]) <= 2 for n, c in zip(mean_table.network, mean_table.cost)]]
    rows = []
    for cost in sorted({c for _, c in nets}):
        of_cost = small[small.cost == cost]
        trained = {frozenset(g.task): dict(zip(g.task, g.val)) for _, g in of_cost.groupby("network")}
        big = {n: g for (n, c), g in nets.items() if c == cost and len(g) >= 3}
        predicted = higher_order_approximation(trained, tasks, list(big.values()))
        rows += [
            {"network": n, "cost": cost, "task": t, "val": v}
            for n, g in big.items()
            for t, v in predicted[g].items()
        ]
    columns = ["network", "cost", "task", "val"]
    return pd.concat([small[columns], pd.DataFrame(rows, columns=columns)], ignore_index=True)


ALL_TASKS, HALF_SINGLES, FULL_SINGLES = (
    "one all-task network",
    "half-size single-task networks",
    "single-task networks",
)
"""The fixed baselines, each at its own cost: 1, n/2 (half width) and n."""


def compare_methods(
    final: pd.DataFrame,
    tasks: Sequence[str],
    budgets: Sequence[float],
    choosers: dict[str, list[Candidate]],
    random_draws: int,
    seed: int,
) -> pd.DataFrame:
    """For every budget: the networks each method selects on its candidate table - the exhaustive optimum
    (seed-averaged validation losses of ``final``), every entry of ``choosers`` (e.g. ESA, HOA,
    affinity), random groupings - and their *true* test totals per seed, next to the fixed baselines at
    their own costs: one all-task network (1), n half-size single-task networks (n/2) and n full-size
    ones (n). Columns: method, budget, seed, draw, networks, cost, test_total."""
    seeds = sorted(final.seed.unique())
    test_tables = {s: candidates(final[final.seed == s], "test") for s in seeds}
    choose = {"optimal": candidates(mean_scores(final), "val"), **choosers}
    rng = np.random.default_rng(seed)
    rows = []

    def add(method: str, budget: float, names: Sequence[str], cost: float, draw: int = 0) -> None:
        for s in seeds:
            rows.append(
                {
                    "method": method,
                    "budget": budget,
                    "seed": s,
                    "draw": draw,
                    "networks": " | ".join(names),
                    "cost": cost,
                    "test_total": evaluate_selection(names, test_tables[s], tasks),
                }
            )

    for b in budgets:
        for method, table in choose.items():
            sel = branch_and_bound(table, tasks, b)
            if sel is not None:
                add(method, b, sel.networks, sel.cost)
        for d in range(random_draws):
            sel = random_selection(choose["optimal"], tasks, b, rng)
            if sel is not None:
                add("random", b, sel.networks, sel.cost, d)
    n = len(tasks)
    add(ALL_TASKS, 1.0, [network_name(frozenset(tasks), "full")], 1.0)
    add(HALF_SINGLES, n / 2, [network_name(frozenset([t]), "half") for t in tasks], n / 2)
    add(FULL_SINGLES, float(n), [network_name(frozenset([t]), "full") for t in tasks], float(n))
    return pd.DataFrame(rows)


def regret(results: pd.DataFrame, methods: Sequence[str], percent: bool = False) -> pd.DataFrame:
    """Each method's test total minus the optimum's at the same budget and seed (with ``percent``, as a
    percentage of the optimum's total), averaged over budgets (and random draws). Rows: method, seed,
    regret."""
    opt = results[results.method == "optimal"].set_index(["budget", "seed"]).test_total
    others = results[results.method.isin(list(methods))]
    best = opt.loc[list(zip(others.budget, others.seed))].to_numpy()
    gap = others.test_total.to_numpy() - best
    if percent:
        gap = 100 * gap / best
    return others.assign(regret=gap).groupby(["method", "seed"], as_index=False).regret.mean()


def compare_on_table(table: pd.DataFrame, tasks: Sequence[str], budgets: Sequence[float]) -> pd.DataFrame:
    """The exhaustive optimum, ESA and HOA on one score table with ``val``, ``test`` and ``early`` columns
    (a setting of Standley et al.'s released tables): each method selects on its own validation-side
    losses (ESA on ``early``), and every selection is scored on ``test``, next to the fixed baselines.
    Rows as :func:`compare_methods` (one ``seed``, no random draws)."""
    final, early = _final_and_early(table)
    choosers = approximation_choosers(final, early, tasks)
    return compare_methods(final, tasks, budgets, choosers, random_draws=0, seed=0)


def _final_and_early(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One score table with an ``early`` column as the (one-seed) ``final`` and ``early`` tables of
    :func:`approximation_choosers`; a network with no early loss is not an ESA candidate."""
    final = table.drop(columns="early").assign(seed=0)
    early = table.dropna(subset=["early"]).assign(val=lambda d: d.early).drop(columns="early")
    return final, early


def select(
    table: pd.DataFrame,
    budget: float,
    method: str,
    max_seconds: float = MAX_SECONDS,
    progress: Callable[[str], object] | None = None,
) -> tuple[Selection, float]:
    """Network selection on one score table (``network, cost, task, val, test`` and optionally ``early``,
    as :func:`mtlkit.user_tables.read_losses` reads a user's file), checked first as that file is
    (:func:`~mtlkit.table_checks.check_table`): ``method`` "optimal" selects on ``val``, "hoa" on ``val``
    with the networks of three or more tasks predicted from the pairs, "esa" on ``early``, exactly as
    :func:`compare_on_table` does; returns the selection (its total: the validation-side total it was
    chosen on) and its total on ``test``. A budget below the cheapest set of networks serving every task
    is refused, naming that cost. The exact search is refused before it starts when it could not finish
    within ``max_seconds`` (``inf``: no limit), and stopped past it (:mod:`mtlkit.search_budget`);
    ``progress``, when given, receives a line every few seconds of a long search."""
    check_method(method)
    budget, limit = check_budget(budget), check_max_seconds(max_seconds)
    table = check_table(table, method)
    tasks = sorted(set(table.task))
    final, early = _final_and_early(table)
    name = METHODS[method]
    choose = (
        candidates(mean_scores(final), "val")
        if name == "optimal"
        else approximation_choosers(final, early, tasks, [name])[name]
    )
    bound = check_search([c.cost for c in choose], len(tasks), budget, limit)
    clock = SearchClock(limit, progress)
    cover = cheapest_cover(choose, tasks, clock.phase("the cheapest cover"))
    if cover is None:
        served = {t for c in choose for t in c.tasks}
        raise TableError(f"method {method}: no network serves task(s) {sorted(set(tasks) - served)}")
    if budget < cover.cost - 1e-9:
        raise TableError(
            f"budget = {budget:g} is below the cheapest selection that serves every task: "
            f"{cover.cost:g} ({', '.join(cover.networks)})"
        )
    chosen = branch_and_bound(choose, tasks, budget, clock.phase("the best selection", bound))
    return chosen, evaluate_selection(chosen.networks, candidates(final, "test"), tasks)


def pairwise_gains(final: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """Seed-averaged test-loss gain of training task ``t`` with partner ``u`` (single-task loss minus the
    pair network's loss on ``t``; positive = ``u`` helps ``t``). Rows: task, partner, gain."""
    t = mean_scores(final)
    full = t[t["size"] == "full"].set_index(["network", "task"]).test
    rows = [
        {
            "task": a,
            "partner": b,
            "gain": full[(network_name(frozenset([a]), "full"), a)]
            - full[(network_name(frozenset([a, b]), "full"), a)],
        }
        for a in tasks
        for b in tasks
        if a != b
    ]
    return pd.DataFrame(rows)


def choice_regret(final: pd.DataFrame, tasks: Sequence[str], budgets: Sequence[float]) -> pd.DataFrame:
    """How far a choice on validation losses lands from one on test losses, per seed ``s`` on its test losses,
    in % of the reference's total, mean over budgets. ``held-out``: both leave ``s`` out (the choice on the
    other seeds' validation losses against theirs on test; NaN with one seed); ``per-seed oracle`` (earlier):
    the choice on every seed's validation losses against ``s``'s own test optimum, which fits its noise;
    ``noise floor``: the choice on every seed's test losses against that same oracle."""

    def pick(table: pd.DataFrame, split: str) -> dict[float, Selection | None]:
        return {b: branch_and_bound(candidates(mean_scores(table), split), tasks, b) for b in budgets}

    seeds, none = sorted(final.seed.unique()), dict.fromkeys(budgets)
    chosen, perfect = pick(final, "val"), pick(final, "test")
    out = {}
    for s in seeds:
        test, others = candidates(final[final.seed == s], "test"), final[final.seed != s]
        held_val, held_test = (pick(others, "val"), pick(others, "test")) if len(seeds) > 1 else (none, none)
        rows = []
        for b in budgets:
            oracle = branch_and_bound(test, tasks, b)
            if oracle is None or chosen[b] is None:
                continue
            loo, ref, mine, best = (
                math.nan if x is None else evaluate_selection(x.networks, test, tasks)
                for x in (held_val[b], held_test[b], chosen[b], perfect[b])
            )
            rows.append(
                [100 * (loo / ref - 1), 100 * (mine / oracle.total - 1), 100 * (best / oracle.total - 1)]
            )
        out[s] = np.mean(rows, axis=0)
    return pd.DataFrame.from_dict(out, orient="index", columns=["held-out", "per-seed oracle", "noise floor"])


def network_epochs(n_tasks: int, epochs: int, method: str, esa_epoch: int) -> int:
    """Networks trained x epochs that a method needs before it can choose (the paper's compute axis)."""
    everything = 2**n_tasks - 1 + n_tasks
    if method == "optimal":
        return everything * epochs
    if method == "ESA":
        return everything * esa_epoch
    if method == "HOA":
        return (n_tasks + n_tasks * (n_tasks - 1) // 2 + n_tasks) * epochs
    raise ValueError(f"no compute for {method!r}")
