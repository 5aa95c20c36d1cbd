"""Study 03's speed: branch and bound vs brute-force network selection (n = 5..12 tasks), and training
every subset network as one stacked model vs a Python loop over separate models (31 and 255 networks)."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import torch

from benchmarks.common import best_of, write
from mtlkit.data.multidigits import make_multidigits
from mtlkit.grouping import Candidate, branch_and_bound, brute_force, candidate_networks, network_name
from mtlkit.models.batched import StackedNetworks
from mtlkit.models.blocks import MLPTrunk
from mtlkit.models.sharing import HardSharing
from mtlkit.train import fit, fit_many

BRUTE_CAP_S = 20.0


def random_table(n: int, rng: np.random.Generator) -> tuple[list[str], list[Candidate]]:
    tasks = [f"t{i}" for i in range(n)]
    table = [
        Candidate(
            network_name(g, size),
            g,
            1.0 if size == "full" else 0.5,
            {t: float(rng.uniform(0.1, 1.0)) for t in g},
        )
        for g, size in candidate_networks(tasks)
    ]
    return tasks, table


def selection(budget: float = 2.0) -> list[dict]:
    """Time both exact searches on random tables; brute force past ``BRUTE_CAP_S`` is extrapolated from
    its measured rate per combination (marked as such)."""
    rows, rng = [], np.random.default_rng(0)
    for n in range(5, 13):
        tasks, table = random_table(n, rng)
        t0 = time.perf_counter()
        bnb = branch_and_bound(table, tasks, budget)
        t_bnb = time.perf_counter() - t0
        most = int(budget / 0.5)
        combos = sum(math.comb(len(table), r) for r in range(1, most + 1))
        if combos < 2e6:
            t0 = time.perf_counter()
            brute = brute_force(table, tasks, budget)
            t_brute, how = time.perf_counter() - t0, "measured"
            assert brute is not None and abs(brute.total - bnb.total) < 1e-9
        else:  # measure the rate on the first 200k combinations and extrapolate
            t0, k = time.perf_counter(), 0
            for combo in itertools.islice(
                itertools.chain.from_iterable(itertools.combinations(table, r) for r in range(1, most + 1)),
                200_000,
            ):
                sum(c.cost for c in combo)
                k += 1
            t_brute, how = (time.perf_counter() - t0) / k * combos, "extrapolated"
        rows.append(
            {
                "benchmark": "network selection",
                "n_tasks": n,
                "candidates": len(table),
                "budget": budget,
                "baseline": "brute force",
                "baseline_s": t_brute,
                "baseline_timing": how,
                "mtlkit_s": t_bnb,
                "speedup": t_brute / t_bnb,
            }
        )
    return rows


def _time_subsets(tasks: list[str], epochs: int, width: int) -> dict:
    data = make_multidigits(tasks, n_train=2000, seed=0)
    groups = [g for g, size in candidate_networks(tasks) if size == "full"]
    masks = torch.tensor([[t in g for t in tasks] for g in groups])

    def stacked() -> None:
        model = StackedNetworks(len(groups), 128, data.tasks, width=width, depth=2)
        fit_many(model, data, masks, epochs=epochs, seeds=list(range(len(groups))), splits=("val",))

    def loop() -> None:
        for k, g in enumerate(groups):
            own = [t for t in tasks if t in g]
            model = HardSharing(MLPTrunk((128,), width, 2), [data.task(t) for t in own])
            fit(model, data.select(own), epochs=epochs, seed=k, restore_best=False)

    t_stacked, t_loop = best_of(stacked, repeats=2), best_of(loop, repeats=1)
    return {
        "benchmark": "train every subset network",
        "networks": len(groups),
        "epochs": epochs,
        "baseline": "Python loop of fit()",
        "baseline_s": t_loop,
        "mtlkit_s": t_stacked,
        "speedup": t_loop / t_stacked,
    }


def stacked_training(epochs: int = 1, width: int = 64, threads: tuple[int, ...] = (1, 2)) -> list[dict]:
    """One epoch for every subset network of 5 tasks (31) and of 8 tasks (255): stacked vs a loop, on one
    torch thread and on two (the loop's tiny models gain nothing from a second core; the stacked
    matmuls do)."""
    five = ["left", "right", "sum_parity", "left_gt_right", "sum_mod3"]
    rows = []
    for n in threads:
        torch.set_num_threads(n)
        for tasks in (five, [*five, "sum", "product_parity", "left_ge5"]):
            rows.append({**_time_subsets(tasks, epochs, width), "torch_threads": n})
    torch.set_num_threads(1)
    return rows


def main() -> None:
    torch.set_num_threads(1)
    print(write("selection", selection()).to_string(index=False))
    print(write("stacked_training", stacked_training()).to_string(index=False))
