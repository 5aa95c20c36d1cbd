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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """A trained network: its name, the tasks it serves, its inference cost and its loss per task.

    Checked when made, so that every search reads the same thing: ``tasks`` are exactly the keys of
    ``loss`` (at least one), the cost is a positive finite number and every loss is finite."""

    name: str
    tasks: frozenset[str]
    cost: float
    loss: dict[str, float]

    def __post_init__(self) -> None:
        if not self.tasks or set(self.tasks) != set(self.loss):
            raise ValueError(
                f"candidate {self.name!r}: tasks {sorted(self.tasks)} differ from the tasks of its losses "
                f"{sorted(self.loss)}; they must be the same, non-empty"
            )
        if not (math.isfinite(self.cost) and self.cost > 0):
            raise ValueError(
                f"candidate {self.name!r}: cost = {self.cost!r}; expected a positive finite number"
            )
        bad = {t: v for t, v in self.loss.items() if not math.isfinite(v)}
        if bad:
            raise ValueError(f"candidate {self.name!r}: losses {bad} are not finite numbers")


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


def by_name(table: Sequence[Candidate]) -> dict[str, Candidate]:
    """The candidates of ``table`` by name; a name used twice is refused (a selection names its
    networks, so two candidates of one name would make it ambiguous)."""
    out: dict[str, Candidate] = {}
    for c in table:
        if c.name in out:
            raise ValueError(f"two candidates are named {c.name!r}; network names must be unique")
        out[c.name] = c
    return out


def evaluate_selection(names: Sequence[str], table: Sequence[Candidate], tasks: Sequence[str]) -> float:
    """The total of the networks ``names`` under the losses of ``table`` (e.g. test losses of a
    selection made on validation losses)."""
    named = by_name(table)
    missing = [n for n in names if n not in named]
    if missing:
        raise ValueError(f"networks {missing} are not in the table")
    return _total([named[n] for n in names], tasks)


def _better(total: float, cost: float, best: Selection | None) -> bool:
    """Lower total first; on a tie (within float noise), lower cost: a network that serves no task is
    then never bought, since the same set without it is cheaper."""
    if best is None:
        return total < math.inf
    return total < best.total - TIE or (total <= best.total + TIE and cost < best.cost - 1e-9)


TIE = 1e-12
"""Totals closer than this are a tie (then the cheaper selection wins)."""

PROGRESS_EVERY = 1 << 16
"""How many candidates :func:`branch_and_bound` looks at (at most) between two calls of its ``progress``."""


def brute_force(table: Sequence[Candidate], tasks: Sequence[str], budget: float) -> Selection | None:
    """The best selection by enumerating every set of candidates within ``budget`` (small tables only):
    the lowest total, and on a tie the lowest cost."""
    by_name(table)  # a selection is a set of names: they must be unique
    best: Selection | None = None
    most = min(len(table), int(budget / min((c.cost for c in table), default=1.0) + 1e-9))
    for r in range(1, most + 1):
        for combo in itertools.combinations(table, r):
            cost = sum(c.cost for c in combo)
            if cost > budget + 1e-9:
                continue
            total = _total(combo, tasks)
            if _better(total, cost, best):
                best = Selection(tuple(sorted(c.name for c in combo)), cost, total)
    return best


def branch_and_bound(
    table: Sequence[Candidate],
    tasks: Sequence[str],
    budget: float,
    progress: Callable[[int], object] | None = None,
) -> Selection | None:
    """The best selection (lowest total, then lowest cost, as :func:`brute_force`) by depth-first search
    over include/exclude decisions, pruned by cost and by an optimistic bound: every task served by the
    best remaining candidate that the remaining budget could still buy. A candidate is only included
    when it improves some task; a branch that can at best tie the best total is pruned unless it could
    still be cheaper. So no selection contains a network that serves no task. Plain Python floats: with
    <= 10 tasks they beat numpy per search node.

    Quiet by default; ``progress``, when given, is called with the number of sets of networks tried so
    far about every :data:`PROGRESS_EVERY` candidates looked at (it may raise to stop the search)."""
    by_name(table)  # a selection is a set of names: they must be unique
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
    cheapest = [inf] * (len(order) + 1)  # cheapest[i]: lowest cost among candidates i..
    for i in range(len(order) - 1, -1, -1):
        cheapest[i] = min(costs[i], cheapest[i + 1])
    best: Selection | None = None
    best_set: list[int] = []
    tried, looked, report = 0, 0, PROGRESS_EVERY  # sets tried; candidates the loops may look at

    def search(start: int, cost: float, current: list[float], chosen: list[int]) -> None:
        # include candidate i (and recurse) for each i >= start; skipping i is the loop's next turn, so the
        # recursion is only as deep as the number of networks bought, never the number of candidates
        nonlocal best, best_set, tried, looked, report
        tried, looked = tried + 1, looked + len(order) - start
        if progress is not None and looked >= report:
            report = looked + PROGRESS_EVERY
            progress(tried)
        total = sum(current)
        if _better(total, cost, best):
            best, best_set = Selection((), cost, total), list(chosen)
        left = budget - cost + 1e-9
        affordable = [k for k, level in enumerate(levels) if level <= left]
        if not affordable:
            return
        for i in range(start, len(order)):
            reach = suffix[i][affordable[-1]]
            bound = sum(min(a, b) for a, b in zip(current, reach))
            if best is not None and (
                bound > best.total + TIE
                or (bound >= best.total - TIE and cost + cheapest[i] >= best.cost - 1e-9)
            ):
                return  # nothing from i on can beat the best, nor tie it more cheaply (later ones reach less)
            if costs[i] <= left:
                new = [min(a, b) for a, b in zip(current, losses[i])]
                if new != current:
                    search(i + 1, cost + costs[i], new, [*chosen, i])

    search(0, 0.0, [inf] * len(tasks), [])
    if best is None:
        return None
    chosen = [order[i] for i in best_set]
    return Selection(tuple(sorted(c.name for c in chosen)), sum(c.cost for c in chosen), best.total)


def random_selection(
    table: Sequence[Candidate],
    tasks: Sequence[str],
    budget: float,
    rng: np.random.Generator,
    tries: int = 10_000,
) -> Selection | None:
    """A random selection that spends the budget, as the paper's random baseline does: candidates are
    drawn in random order, each kept if it still fits, until what is left cannot buy the cheapest
    network; a draw that leaves a task unserved is discarded and drawn again (``None`` after ``tries``).
    Unlike the searches, a random set may hold networks that serve no task: it is what random spending buys."""
    cheapest = min(c.cost for c in table)
    for _ in range(tries):
        chosen, left = [], budget
        for i in rng.permutation(len(table)):
            c = table[int(i)]
            if c.cost <= left + 1e-9:
                chosen.append(c)
                left -= c.cost
            if left < cheapest - 1e-9:
                break
        total = _total(chosen, tasks)
        if total < math.inf:
            return Selection(tuple(sorted(x.name for x in chosen)), sum(c.cost for c in chosen), total)
    return None


def higher_order_approximation(
    pairs: dict[frozenset[str], dict[str, float]],
    tasks: Sequence[str],
    groups: Sequence[frozenset[str]] | None = None,
) -> dict[frozenset[str], dict[str, float]]:
    """HOA: the loss of task ``t`` in a group ``S`` of three or more tasks predicted as the mean of its
    loss in the pair networks ``{t, u}``, ``u`` in ``S``; singles and pairs keep their trained losses.
    ``groups``: the groups to predict (default: every group of three or more of ``tasks``)."""
    out = dict(pairs)
    wanted = [g for g in subsets(tasks) if len(g) >= 3] if groups is None else groups
    for g in wanted:
        members = [u for u in tasks if u in g]
        out[g] = {
            t: float(np.mean([pairs[frozenset((t, u))][t] for u in members if u != t])) for t in members
        }
    return out


def cheapest_cover(
    table: Sequence[Candidate], tasks: Sequence[str], progress: Callable[[int], object] | None = None
) -> Selection | None:
    """The cheapest set of candidates that serves every task (``None`` if none does): the search of
    :func:`branch_and_bound` (``progress`` as there) with every loss set to 0, so that every cover ties
    and the cheaper wins."""
    free = [Candidate(c.name, c.tasks, c.cost, dict.fromkeys(c.tasks, 0.0)) for c in table]
    return branch_and_bound(free, tasks, sum(c.cost for c in table), progress)


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
