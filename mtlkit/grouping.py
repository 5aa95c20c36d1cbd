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
    for r in range(1, len(table) + 1):
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
    optimistic bound (every task served by the best remaining candidate). A candidate is only included
    when it improves some task, since a network that improves nothing only spends budget."""
    tasks = list(tasks)
    order = sorted(table, key=lambda c: (sum(c.loss.values()) / max(len(c.tasks), 1), c.cost, c.name))
    k = {t: i for i, t in enumerate(tasks)}
    loss = np.full((len(order) + 1, len(tasks)), np.inf)
    for i, c in enumerate(order):
        for t in c.tasks:
            loss[i, k[t]] = c.loss[t]
    suffix = np.minimum.accumulate(loss[::-1], axis=0)[::-1]  # best loss per task from candidate i on
    best_total, best_set = math.inf, None

    def search(i: int, cost: float, current: np.ndarray, chosen: list[int]) -> None:
        nonlocal best_total, best_set
        if np.all(np.isfinite(current)):
            total = float(current.sum())
            if total < best_total - 1e-12:
                best_total, best_set = total, list(chosen)
        if i == len(order):
            return
        bound = float(np.minimum(current, suffix[i]).sum())
        if bound >= best_total - 1e-12:
            return
        c = order[i]
        improved = np.minimum(current, loss[i])
        if cost + c.cost <= budget + 1e-9 and np.any(improved < current):
            search(i + 1, cost + c.cost, improved, [*chosen, i])
        search(i + 1, cost, current, chosen)

    search(0, 0.0, np.full(len(tasks), np.inf), [])
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
