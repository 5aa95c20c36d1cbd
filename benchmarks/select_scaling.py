"""How long ``mtlkit select``'s exact search takes as tasks, candidate networks and the budget grow
(docs/select.md, "How long the exact search takes").

Each case is a synthetic loss table in the format ``mtlkit select`` reads (:func:`loss_table`), timed
through :func:`mtlkit.selection.select` (what the command runs after reading the file: the cheapest cover,
then :func:`mtlkit.grouping.branch_and_bound`). Every case runs in a forked child process that is stopped
at ``CAP_S``, so a slow case is written as "> cap" instead of running on. A case whose first run takes
under a second is run twice more and the median of the three is kept.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import statistics
import time

import numpy as np
import pandas as pd

from benchmarks.common import write
from mtlkit.selection import select

CAP_S = 10.0
"""A case still searching after this many seconds is stopped and written as ``> CAP_S``."""


def loss_table(
    n_tasks: int,
    max_size: int | None = None,
    n_groups: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A synthetic loss table (``network, task, val, test, cost, early``: docs/select.md's format).

    Candidates: a full-size network (cost 1) for every group of tasks up to ``max_size`` tasks (default:
    every group), or with ``n_groups``, every single task plus ``n_groups`` distinct groups of two or more
    tasks drawn at random; and a half-width network (cost 0.5) per task. Losses have the structure of
    real tables rather than being independent draws: each task has a base loss (uniform 0.2 to 1), a
    full-size network's validation loss on it is the base times uniform 0.8 to 1.2 (sharing helps or
    hurts by up to 20%), a half-width one's the base times 1.0 to 1.3; ``test`` is ``val`` times 0.95
    to 1.05, ``early`` is ``val`` times 1.1 to 1.5."""
    rng = np.random.default_rng(seed)
    tasks = [f"t{i}" for i in range(n_tasks)]
    base = rng.uniform(0.2, 1.0, n_tasks)
    if n_groups is None:
        top = n_tasks if max_size is None else max_size
        groups = [g for r in range(1, top + 1) for g in itertools.combinations(range(n_tasks), r)]
    else:
        larger = [g for r in range(2, n_tasks + 1) for g in itertools.combinations(range(n_tasks), r)]
        if n_groups > len(larger):
            raise ValueError(f"n_groups = {n_groups}: {n_tasks} tasks have only {len(larger)} groups of 2+")
        picked = rng.choice(len(larger), size=n_groups, replace=False)
        groups = [(i,) for i in range(n_tasks)] + [larger[int(j)] for j in sorted(picked)]
    rows = []

    def add(name: str, members: tuple[int, ...], cost: float, low: float, high: float) -> None:
        for i in members:
            val = float(base[i] * rng.uniform(low, high))
            rows.append(
                {
                    "network": name,
                    "task": tasks[i],
                    "val": val,
                    "test": val * float(rng.uniform(0.95, 1.05)),
                    "cost": cost,
                    "early": val * float(rng.uniform(1.1, 1.5)),
                }
            )

    for g in groups:
        add("+".join(tasks[i] for i in g), g, 1.0, 0.8, 1.2)
    for i in range(n_tasks):
        add(f"{tasks[i]}-half", (i,), 0.5, 1.0, 1.3)
    return pd.DataFrame(rows)


def _run(table: pd.DataFrame, budget: float, method: str, pipe) -> None:
    """In the child: up to three timed selections (one when the first takes a second or more)."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        chosen, _test = select(table, budget, method)
        times.append(time.perf_counter() - t0)
        if times[0] >= 1.0:
            break
    pipe.send((times, chosen.cost, len(chosen.networks)))


def time_case(table: pd.DataFrame, budget: float, method: str = "optimal", cap_s: float = CAP_S) -> dict:
    """The median wall time of :func:`select` on ``table`` (``None`` past ``cap_s``), its repeats, and
    the chosen selection's cost and size."""
    ctx = mp.get_context("fork")  # the child inherits the imported modules: no start-up in the timing
    here, there = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_run, args=(table, budget, method, there))
    child.start()
    if here.poll(cap_s):
        times, cost, size = here.recv()
        child.join()
        return {
            "select_s": statistics.median(times),
            "repeats": len(times),
            "chosen_cost": cost,
            "chosen": size,
        }
    child.kill()
    child.join()
    return {"select_s": None, "repeats": 0, "chosen_cost": None, "chosen": None}


def cases() -> list[dict]:
    """The measured grid: (a) every group of n = 4..9 tasks at budget n/2; (b) 8 tasks, groups of up
    to k = 1..4 tasks and every group; (c) 8 tasks, random groups; (d) 7 tasks, every group, budgets
    1 to 7; (e) HOA and ESA on (d)'s middle case."""
    out = []
    for n in range(4, 10):
        out.append({"series": "every group", "n_tasks": n, "max_size": n, "budget": n / 2})
    for k in (1, 2, 3, 4):
        out.append({"series": "groups up to k tasks", "n_tasks": 8, "max_size": k, "budget": 4.0})
    for g in (25, 50, 100, 200):
        out.append({"series": "random groups", "n_tasks": 8, "n_groups": g, "budget": 4.0})
    for b in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0):
        out.append({"series": "budget", "n_tasks": 7, "max_size": 7, "budget": b})
    for m in ("hoa", "esa"):
        out.append({"series": "method", "n_tasks": 7, "max_size": 7, "budget": 3.5, "method": m})
    return out


def measure(cap_s: float = CAP_S) -> list[dict]:
    rows = []
    for case in cases():
        table = loss_table(case["n_tasks"], case.get("max_size"), case.get("n_groups"))
        method = case.get("method", "optimal")
        result = time_case(table, case["budget"], method, cap_s)
        rows.append(
            {
                "benchmark": "select exact search",
                "series": case["series"],
                "method": method,
                "n_tasks": case["n_tasks"],
                "max_size": case.get("max_size"),
                "networks": table.network.nunique(),
                "budget": case["budget"],
                **result,
                "cap_s": cap_s,
                "timing": "median of repeats"
                if result["select_s"] is not None
                else f"> {cap_s:g} s (stopped)",
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    print(write("select_scaling", measure()).to_string(index=False))


if __name__ == "__main__":
    main()
