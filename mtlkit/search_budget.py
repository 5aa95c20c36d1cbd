"""How big an exact network selection is before it starts, and its time limit while it runs.

:func:`mtlkit.grouping.branch_and_bound` tries sets of candidate networks, each set at most once, and only
sets whose cost fits the budget; so the number of such sets (:func:`sets_within`, counted in
milliseconds) bounds the sets it may try. Pruning leaves it far fewer, but the bound tells a search that
cannot finish from one that may: :func:`check_search` refuses, before it starts, a search whose bound is
past what ``max_seconds`` allows at :data:`SETS_PER_SECOND`, and :class:`SearchClock` (the search's
``progress`` callback) reports progress on a long search and stops one that runs past ``max_seconds``.
Every refusal says what bounds a search: fewer candidates or a smaller budget (docs/select.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from mtlkit.checks import number_in
from mtlkit.data.standley import TableError

MAX_SECONDS = 60.0
"""The default time limit of one selection (``mtlkit select --max-seconds``; ``inf``: none)."""

SETS_PER_SECOND = 1e10
"""The bound (:func:`sets_within`) a second of ``max_seconds`` allows before a search is refused unstarted.
Generous, since pruning leaves a search far fewer sets than the bound (``benchmarks/select_scaling.py``
shows both): a search refused unstarted could not finish in time, and one let through that does not
finish is stopped by :class:`SearchClock`."""

GRID = 4096
"""The budget is cut into this many steps to count the sets within it (each cost rounded down)."""

QUIET_S, EVERY_S = 2.0, 5.0
"""A search reports progress once it has run ``QUIET_S`` seconds, then every ``EVERY_S`` seconds."""

HOW_TO_BOUND = (
    "offer fewer candidate networks (for example groups of up to 2 or 3 tasks) or select at a smaller "
    "budget (--method hoa and esa search the same candidates: no faster)"
)
"""What shrinks an exact search (and what does not), as every refusal says it."""


class SearchTooLong(TableError):
    """An exact selection refused before it starts, or stopped at its time limit."""


def check_max_seconds(max_seconds: object, name: str = "max_seconds") -> float:
    """A time limit as a float: a positive number of seconds, ``inf`` for none."""
    return number_in(
        max_seconds,
        name,
        0.0,
        math.inf,
        open_low=True,
        expected="a positive number of seconds (inf: no limit)",
        error=TableError,
    )


def sets_within(costs: Sequence[float], budget: float) -> float:
    """An upper bound on the number of sets of networks of these ``costs`` whose total cost is at most
    ``budget``, the empty set included: each cost is rounded down to a step of ``budget / GRID`` (a cost
    below one step counts as free), so every set within the budget is counted. ``inf`` past the largest
    float."""
    step = budget / GRID
    units = np.floor(np.asarray(costs, dtype=float) / step + 1e-9).astype(np.int64)
    counts = np.zeros(GRID + 1)  # counts[u]: the sets costing u steps
    counts[0] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for u, n in zip(*np.unique(units[units <= GRID], return_counts=True)):
            for _ in range(int(n)):
                if u == 0:
                    counts *= 2.0
                else:
                    counts[u:] = counts[u:] + counts[:-u]
        total = float(counts.sum())
    return total if math.isfinite(total) else math.inf


def check_search(costs: Sequence[float], n_tasks: int, budget: float, max_seconds: float) -> float:
    """The bound of an exact search among networks of these ``costs`` (:func:`sets_within`); refused
    (:class:`SearchTooLong`) before it starts when past ``max_seconds`` times :data:`SETS_PER_SECOND`."""
    bound = sets_within(costs, budget)
    allowed = max_seconds * SETS_PER_SECOND
    if bound > allowed:
        raise SearchTooLong(
            f"the exact search may try up to {bound:.2g} sets of networks ({len(costs):,} candidates, "
            f"{n_tasks} tasks, budget {budget:g}), past the {allowed:.2g} allowed in {max_seconds:g} s "
            f"(--max-seconds): it would not finish; {HOW_TO_BOUND}"
        )
    return bound


class SearchClock:
    """The ``progress`` callback of :func:`~mtlkit.grouping.branch_and_bound` for one selection (its
    searches share the time limit): stops a search past ``max_seconds`` (:class:`SearchTooLong`), and
    after :data:`QUIET_S` seconds passes a progress line to ``say`` (when given) every :data:`EVERY_S`
    seconds. :meth:`phase` names the search under way and its bound."""

    def __init__(self, max_seconds: float, say: Callable[[str], object] | None = None) -> None:
        self.max_seconds, self.say = max_seconds, say
        self.start = time.monotonic()
        self.next_say = self.start + QUIET_S
        self.what, self.bound = "searching", math.inf

    def phase(self, what: str, bound: float = math.inf) -> SearchClock:
        """This clock, now timing the search for ``what`` (at most ``bound`` sets)."""
        self.what, self.bound = what, bound
        return self

    def __call__(self, tried: int) -> None:
        now = time.monotonic()
        spent = now - self.start
        of = f" of at most {self.bound:.2g}" if math.isfinite(self.bound) else ""
        if spent > self.max_seconds:
            raise SearchTooLong(
                f"the search for {self.what} stopped at its limit of {self.max_seconds:g} s (--max-seconds) "
                f"after {tried:,}{of} sets of networks: {HOW_TO_BOUND}, or raise the limit"
            )
        if self.say is not None and now >= self.next_say:
            self.next_say = now + EVERY_S
            self.say(f"searching for {self.what}: {tried:,}{of} sets of networks tried in {spent:.0f} s")
