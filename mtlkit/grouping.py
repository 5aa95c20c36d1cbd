"""Which tasks to train together (Standley et al., ICML 2020, arXiv 1905.07553): network selection under
an inference budget, exhaustive and by branch and bound, and the two cheap approximations.

A *candidate* is a trained network: the tasks it serves, its inference cost (full size = 1, half
width = 0.5) and its loss on each of its tasks. A *selection* is a set of candidates within the budget
that covers every task; each task is served by its best network in the set (groups may overlap), and
the selection's total is the sum over tasks of those losses. Choosing the best selection is NP-hard;
the paper solves it with a branch-and-bound-like search, as :func:`branch_and_bound` does here, checked
against :func:`brute_force` on random tables.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Candidate:
    """A trained network: its name, the tasks it serves, its inference cost and its loss per task."""

    name: str
    tasks: frozenset[str]
    cost: float
    loss: dict[str, float]


@dataclass(frozen=True)
class Selection:
    """Chosen networks, their total cost, and the summed per-task loss (each task's best network)."""

    networks: tuple[str, ...]
    cost: float
    total: float


def _total(chosen: Sequence[Candidate], tasks: Sequence[str]) -> float:
    best = {t: math.inf for t in tasks}
    for c in chosen:
        for t in c.tasks:
            best[t] = min(best[t], c.loss[t])
    return sum(best.values())


def evaluate_selection(names: Sequence[str], table: Sequence[Candidate], tasks: Sequence[str]) -> float:
    """The total of the networks ``names`` under the losses of ``table`` (e.g. test losses of a
    selection made on validation losses)."""
    by_name = {c.name: c for c in table}
    return _total([by_name[n] for n in names], tasks)


def brute_force(table: Sequence[Candidate], tasks: Sequence[str], budget: float) -> Selection | None:
    """The best selection by enumerating every set of candidates within ``budget`` (small tables only)."""
    best: Selection | None = None
    most = min(len(table), int(budget / min((c.cost for c in table), default=1.0) + 1e-9))
    for r in range(1, most + 1):
        for combo in itertools.combinations(table, r):
            cost = sum(c.cost for c in combo)
            if cost > budget + 1e-9:
                continue
            total = _total(combo, tasks)
            if total < math.inf and (best is None or total < best.total - 1e-12):
                best = Selection(tuple(sorted(c.name for c in combo)), cost, total)
    return best


def branch_and_bound(table: Sequence[Candidate], tasks: Sequence[str], budget: float) -> Selection | None:
    """The best selection by depth-first search over include/exclude decisions, pruned by cost and by an
    optimistic bound: every task served by the best remaining candidate that the remaining budget could
    still buy. A candidate is only included when it improves some task, since a network that improves
    nothing only spends budget. Plain Python floats: with <= 10 tasks they beat numpy per search node."""
    tasks = list(tasks)
    inf = math.inf
    order = sorted(table, key=lambda c: (sum(c.loss.values()) / max(len(c.tasks), 1), c.cost, c.name))
    losses = [[c.loss.get(t, inf) for t in tasks] for c in order]
    costs = [c.cost for c in order]
    # suffix[i][k]: best loss per task among candidates i.. costing at most the k-th distinct cost
    levels = sorted(set(costs))
    suffix = [[[inf] * len(tasks) for _ in levels] for _ in range(len(order) + 1)]
    for i in range(len(order) - 1, -1, -1):
        for k, level in enumerate(levels):
            nxt = suffix[i + 1][k]
            suffix[i][k] = [min(a, b) for a, b in zip(nxt, losses[i])] if costs[i] <= level else list(nxt)
    best_total, best_set = inf, None

    def search(start: int, cost: float, current: list[float], chosen: list[int]) -> None:
        # include candidate i (and recurse) for each i >= start; skipping i is the loop's next turn, so the
        # recursion is only as deep as the number of networks bought, never the number of candidates
        nonlocal best_total, best_set
        total = sum(current)
        if total < best_total - 1e-12:
            best_total, best_set = total, list(chosen)
        left = budget - cost + 1e-9
        affordable = [k for k, level in enumerate(levels) if level <= left]
        if not affordable:
            return
        for i in range(start, len(order)):
            reach = suffix[i][affordable[-1]]
            if sum(min(a, b) for a, b in zip(current, reach)) >= best_total - 1e-12:
                return  # nothing from i on can beat the best: candidates after i reach even less
            if costs[i] <= left:
                new = [min(a, b) for a, b in zip(current, losses[i])]
                if new != current:
                    search(i + 1, cost + costs[i], new, [*chosen, i])

    search(0, 0.0, [inf] * len(tasks), [])
    if best_set is None:
        return None
    chosen = [order[i] for i in best_set]
    return Selection(tuple(sorted(c.name for c in chosen)), sum(c.cost for c in chosen), best_total)


def random_selection(
    table: Sequence[Candidate], tasks: Sequence[str], budget: float, rng: np.random.Generator
) -> Selection | None:
    """A random selection within ``budget``: candidates in random order, each kept if it fits and serves
    a task not yet covered, until every task is covered (the paper's random-grouping baseline)."""
    chosen, covered, cost = [], set(), 0.0
    for i in rng.permutation(len(table)):
        c = table[int(i)]
        if cost + c.cost <= budget + 1e-9 and not c.tasks <= covered:
            chosen.append(c)
            covered |= c.tasks
            cost += c.cost
        if covered >= set(tasks):
            return Selection(tuple(sorted(x.name for x in chosen)), cost, _total(chosen, tasks))
    return None


def higher_order_approximation(
    pairs: dict[frozenset[str], dict[str, float]], tasks: Sequence[str]
) -> dict[frozenset[str], dict[str, float]]:
    """HOA: the loss of task ``t`` in a group ``S`` of three or more tasks predicted as the mean of its
    loss in the pair networks ``{t, u}``, ``u`` in ``S``; singles and pairs keep their trained losses."""
    out = dict(pairs)
    for r in range(3, len(tasks) + 1):
        for group in itertools.combinations(tasks, r):
            g = frozenset(group)
            out[g] = {
                t: float(np.mean([pairs[frozenset((t, u))][t] for u in group if u != t])) for t in group
            }
    return out


def subsets(tasks: Sequence[str], max_size: int | None = None) -> list[frozenset[str]]:
    """All non-empty task subsets (up to ``max_size``), smallest first."""
    top = len(tasks) if max_size is None else max_size
    return [frozenset(c) for r in range(1, top + 1) for c in itertools.combinations(tasks, r)]


# --- the ground truth: every subset network --------------------------------------------------------


def candidate_networks(tasks: Sequence[str]) -> list[tuple[frozenset[str], str]]:
    """The paper's candidates: every task subset as a full-size network, and every single task as a
    half-width network (``2^n - 1 + n`` networks; 36 for five tasks)."""
    return [(s, "full") for s in subsets(tasks)] + [(frozenset([t]), "half") for t in tasks]


def network_name(group: frozenset[str], size: str) -> str:
    """A stable name such as ``full:left+right``."""
    return f"{size}:{'+'.join(sorted(group))}"


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
    return scores.groupby(["network", "size", "cost", "task"], as_index=False)[["val", "test"]].mean()


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
    final: pd.DataFrame, early: pd.DataFrame, tasks: Sequence[str]
) -> dict[str, list[Candidate]]:
    """The candidate tables ESA and HOA choose from (seed-averaged validation losses)."""
    return {
        "ESA": candidates(mean_scores(early), "val"),
        "HOA": candidates(hoa_table(mean_scores(final), tasks), "val"),
    }


def hoa_table(mean_table: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """The candidates' validation losses as HOA predicts them: only single-task and pair networks (and
    half-width singles) are trained; larger groups are predicted from the pairs."""
    full = mean_table[mean_table["size"] == "full"]
    trained = {
        frozenset(n.split(":")[1].split("+")): dict(zip(g.task, g.val))
        for n, g in full.groupby("network")
        if n.count("+") <= 1
    }
    predicted = higher_order_approximation(trained, tasks)
    rows = [
        {"network": network_name(g, "full"), "size": "full", "cost": 1.0, "task": t, "val": v}
        for g, losses in predicted.items()
        for t, v in losses.items()
    ]
    half = mean_table[mean_table["size"] == "half"][["network", "size", "cost", "task", "val"]]
    return pd.concat([pd.DataFrame(rows), half], ignore_index=True)


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
    affinity), random groupings - and their *true* test totals per seed, next to one all-task network
    and one network per task. Columns: method, budget, seed, draw, networks, cost, test_total."""
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
    add("one all-task network", 1.0, [network_name(frozenset(tasks), "full")], 1.0)
    add(
        "one network per task",
        float(len(tasks)),
        [network_name(frozenset([t]), "full") for t in tasks],
        float(len(tasks)),
    )
    return pd.DataFrame(rows)


def regret(results: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Each method's test total minus the optimum's at the same budget and seed, averaged over budgets
    (and random draws). Rows: method, seed, regret."""
    opt = results[results.method == "optimal"].set_index(["budget", "seed"]).test_total
    others = results[results.method.isin(list(methods))]
    gap = others.test_total.to_numpy() - opt.loc[list(zip(others.budget, others.seed))].to_numpy()
    return others.assign(regret=gap).groupby(["method", "seed"], as_index=False).regret.mean()


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


def kept_on_test(final: pd.DataFrame, tasks: Sequence[str], budgets: Sequence[float]) -> pd.Series:
    """Per seed, the share of budgets at which the selection made on (seed-averaged) validation losses is
    also the best selection on that seed's test losses."""
    chosen = {b: branch_and_bound(candidates(mean_scores(final), "val"), tasks, b) for b in budgets}
    out = {}
    for s, g in final.groupby("seed"):
        test = candidates(g, "test")
        hits = [
            chosen[b] is not None
            and (best := branch_and_bound(test, tasks, b)) is not None
            and abs(evaluate_selection(chosen[b].networks, test, tasks) - best.total) < 1e-12
            for b in budgets
        ]
        out[s] = float(np.mean(hits))
    return pd.Series(out, name="kept")


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
